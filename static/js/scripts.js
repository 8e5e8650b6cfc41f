// The script generator: key point rows (add up to the limit, remove, reorder by drag or ↑ ↓, each
// move announced), the provider picker, and refreshing the script view when its run ends.
// Delegated listeners: forms may be swapped.
(() => {
  "use strict";

  const list = (form) => form.querySelector("[data-key-points]");

  function renumber(ol) {
    ol.querySelectorAll("[data-key-point]").forEach((li, index) => {
      const n = index + 1;
      const text = li.querySelector("[data-kp-text]");
      const priority = li.querySelector("[data-kp-priority]");
      li.querySelector("[data-kp-number]").textContent = `${n}.`;
      text.id = `kp-text-${n}`;
      priority.id = `kp-priority-${n}`;
      li.querySelector("[data-kp-label]").htmlFor = text.id;
      li.querySelector("[data-kp-label]").textContent = `Key point ${n}`;
      li.querySelector("[data-kp-label-priority]").htmlFor = priority.id;
      li.querySelector("[data-kp-label-priority]").textContent = `Priority of key point ${n}`;
      li.querySelector('[data-kp="up"]').setAttribute("aria-label", `Move key point ${n} up`);
      li.querySelector('[data-kp="down"]').setAttribute("aria-label", `Move key point ${n} down`);
      li.querySelector('[data-kp="remove"]').setAttribute("aria-label", `Remove key point ${n}`);
      const meta = li.querySelector(".char-meta");
      if (meta) meta.id = `${text.id}-meta`;
    });
  }

  function limitOf(form) {
    return Number(list(form).getAttribute("data-max")) || Infinity;
  }

  function countOf(form) {
    return list(form).querySelectorAll("[data-key-point]").length;
  }

  // "Add key point" stops at the limit, and says so beside it.
  function updateLimit(form) {
    const add = form.querySelector('[data-kp="add"]');
    const note = form.querySelector("[data-kp-limit]");
    const max = limitOf(form);
    const full = countOf(form) >= max;
    if (add) add.disabled = full;
    if (note) {
      note.textContent = full ? `${max} key points is the most a brief can have.` : `Up to ${max}.`;
      note.classList.toggle("muted", !full);
    }
  }

  function announce(form, message) {
    const region = form.querySelector("[data-kp-announce]");
    if (!region) return;
    region.textContent = "";
    // A fresh text node each time, so the same message said twice is announced twice.
    setTimeout(() => { region.textContent = message; }, 30);
  }

  function announceMove(form, li) {
    const rows = Array.from(list(form).querySelectorAll("[data-key-point]"));
    announce(form, `Key point moved to position ${rows.indexOf(li) + 1} of ${rows.length}.`);
  }

  // Any change to the brief asks for fresh guidance, at most every 300 ms of typing.
  const timers = new WeakMap();
  function briefChanged(form) {
    const box = form.querySelector("[data-guidance]");
    if (!box || !window.htmx) return;
    clearTimeout(timers.get(box));
    timers.set(box, setTimeout(() => window.htmx.trigger(box, "brief-changed"), 300));
  }
  ["input", "change"].forEach((type) => {
    document.addEventListener(type, (event) => {
      const form = event.target instanceof Element ? event.target.closest("form") : null;
      if (form && form.querySelector("[data-guidance]")) briefChanged(form);
    });
  });

  function changed(form) {
    renumber(list(form));
    updateLimit(form);
    briefChanged(form);
  }

  function addRow(form) {
    if (countOf(form) >= limitOf(form)) {
      updateLimit(form);
      announce(form, `${limitOf(form)} key points is the most a brief can have.`);
      return;
    }
    const template = form.querySelector("#key-point-template");
    const row = template.content.firstElementChild.cloneNode(true);
    list(form).appendChild(row);
    changed(form);
    row.querySelector("[data-kp-text]").focus();
  }

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-kp]") : null;
    if (!button) return;
    const form = button.closest("form");
    if (!form) return;
    const action = button.getAttribute("data-kp");
    if (action === "add") {
      addRow(form);
      return;
    }
    const li = button.closest("[data-key-point]");
    if (!li) return;
    if (action === "remove") {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      if (!list(form).querySelector("[data-key-point]")) {
        addRow(form);
        return;
      }
      changed(form);
      announce(form, `Key point removed; ${countOf(form)} left.`);
      if (next) next.querySelector("[data-kp-text]").focus();
    } else if (action === "up" && li.previousElementSibling) {
      li.parentElement.insertBefore(li, li.previousElementSibling);
      changed(form);
      li.querySelector('[data-kp="up"]').focus();
      announceMove(form, li);
    } else if (action === "down" && li.nextElementSibling) {
      li.parentElement.insertBefore(li.nextElementSibling, li);
      changed(form);
      li.querySelector('[data-kp="down"]').focus();
      announceMove(form, li);
    }
  });

  // Enter in a key point adds the next one instead of submitting the form.
  document.addEventListener("keydown", (event) => {
    const input = event.target instanceof Element ? event.target.closest("[data-kp-text]") : null;
    if (!input || event.key !== "Enter") return;
    event.preventDefault();
    const form = input.closest("form");
    const li = input.closest("[data-key-point]");
    if (form && li && !li.nextElementSibling) addRow(form);
    else if (li && li.nextElementSibling) li.nextElementSibling.querySelector("[data-kp-text]").focus();
  });

  // Drag and drop reordering.
  let dragged = null;
  document.addEventListener("dragstart", (event) => {
    const li = event.target instanceof Element ? event.target.closest("[data-key-point]") : null;
    if (!li) return;
    dragged = li;
    li.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", "key-point");
  });
  document.addEventListener("dragover", (event) => {
    if (!dragged) return;
    const over = event.target instanceof Element ? event.target.closest("[data-key-point]") : null;
    if (!over || over === dragged || over.parentElement !== dragged.parentElement) return;
    event.preventDefault();
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    over.parentElement.insertBefore(dragged, after ? over.nextElementSibling : over);
  });
  document.addEventListener("drop", (event) => {
    if (dragged) event.preventDefault();
  });
  document.addEventListener("dragend", () => {
    if (!dragged) return;
    const li = dragged;
    li.classList.remove("dragging");
    const form = li.closest("form");
    dragged = null;
    if (form) {
      changed(form);
      announceMove(form, li);
    }
  });

  // The provider picker: mark the chosen row.
  document.addEventListener("change", (event) => {
    const radio = event.target instanceof HTMLInputElement && event.target.name === "provider" ? event.target : null;
    if (!radio || radio.type !== "radio") return;
    const fieldset = radio.closest(".provider-choice");
    if (!fieldset) return;
    fieldset.querySelectorAll(".provider-row").forEach((row) => {
      row.classList.toggle("selected", row.contains(radio));
    });
  });

  // When the script's run ends, the script view reloads itself (it listens for this event).
  const ENDED = new Set(["succeeded", "failed", "cancelled", "interrupted"]);
  function watchRun(holder) {
    let fired = false;
    const check = () => {
      const panel = holder.querySelector("[data-run-id][data-status]");
      if (!fired && panel && ENDED.has(panel.getAttribute("data-status"))) {
        fired = true;
        document.body.dispatchEvent(new CustomEvent("script-run-finished", { bubbles: true }));
      }
    };
    new MutationObserver(check).observe(holder, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
    check();
  }
  function init() {
    document.querySelectorAll("[data-script-run]").forEach(watchRun);
  }
  // After htmx has processed the page (its DOMContentLoaded listener was added first), so a run
  // that ended before the page loaded still refreshes the view.
  if (document.readyState === "complete") init();
  else document.addEventListener("DOMContentLoaded", () => setTimeout(init, 0));
})();
