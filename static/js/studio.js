// Small behaviours of the studio that htmx does not cover. No inline handlers (the CSP forbids them).
document.documentElement.classList.add("js");
document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
  if (target && !window.confirm(target.getAttribute("data-confirm") || "Are you sure?")) {
    event.preventDefault();
    event.stopPropagation();
  }
}, true);

// Copy the text of the element named by data-copy (a CSS selector) to the clipboard.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
  if (!button) return;
  const source = document.querySelector(button.getAttribute("data-copy") || "");
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// A select marked data-autosubmit submits its form on change (its Save button stays for no-JS use).
document.addEventListener("change", (event) => {
  const select = event.target instanceof HTMLSelectElement ? event.target : null;
  if (select && select.hasAttribute("data-autosubmit") && select.form) {
    select.form.requestSubmit();
  }
});

// Mark live regions as connected or reconnecting, so people know whether what they see is live.
document.addEventListener("htmx:wsOpen", (event) => {
  event.target.classList.remove("live-lost");
  event.target.classList.add("live-on");
});
document.addEventListener("htmx:wsClose", (event) => {
  event.target.classList.remove("live-on");
  event.target.classList.add("live-lost");
});

// A lost live connection is retried soon and never more than about five seconds apart; each
// reconnect receives the page's current state from the server.
if (window.htmx) {
  window.htmx.config.wsReconnectDelay = (retry) =>
    Math.min(5000, 250 * 2 ** retry) * (0.75 + Math.random() / 4);
}

// Times the server writes in UTC, shown in the viewer's own time zone.
const localTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const localDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
function localiseTimes(root) {
  root.querySelectorAll("time[data-local]").forEach((element) => {
    const moment = new Date(element.getAttribute("datetime") || "");
    if (Number.isNaN(moment.getTime())) return;
    const format = element.getAttribute("data-local") === "time" ? localTime : localDate;
    element.textContent = format.format(moment);
    element.title = moment.toISOString();
  });
}
document.addEventListener("DOMContentLoaded", () => localiseTimes(document));
document.addEventListener("htmx:afterSettle", (event) => localiseTimes(event.target));
document.addEventListener("htmx:oobAfterSwap", (event) => localiseTimes(event.target));

// A textarea someone resized keeps its size when htmx swaps its form (an error shown, say).
// htmx is told not to settle the style attribute (base.html's htmx-config): copying it would be
// an inline style, which the CSP refuses. The size is put back through the CSSOM instead.
const resizedTextareas = new Map();
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail && event.detail.target;
  if (!(target instanceof Element)) return;
  resizedTextareas.clear();
  const areas = target.matches("textarea[id]") ? [target] : target.querySelectorAll("textarea[id]");
  areas.forEach((area) => {
    if (area.style.height) resizedTextareas.set(area.id, area.style.height);
  });
});
document.addEventListener("htmx:afterSettle", () => {
  resizedTextareas.forEach((height, id) => {
    const area = document.getElementById(id);
    if (area instanceof HTMLTextAreaElement) area.style.height = height;
  });
  resizedTextareas.clear();
});
