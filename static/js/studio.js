// Small behaviours of the studio that htmx does not cover. No inline handlers (the CSP forbids them).
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
  if (target && !window.confirm(target.getAttribute("data-confirm") || "Are you sure?")) {
    event.preventDefault();
    event.stopPropagation();
  }
}, true);
