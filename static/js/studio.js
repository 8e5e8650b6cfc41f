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

// Times the server writes in UTC (the `when` template tag), shown in the viewer's own time zone:
// "time" 20:39, "seconds" 20:39:05, "datetime" 3 Dec 2026, 20:39, "date" 3 Dec 2026; "ago" keeps its words and
// gives the local date and time on hover.
const localFormats = {
  time: new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }),
  seconds: new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
  datetime: new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }),
  date: new Intl.DateTimeFormat(undefined, { dateStyle: "medium" }),
};
function localiseTimes(root) {
  root.querySelectorAll("time[data-local]").forEach((element) => {
    const moment = new Date(element.getAttribute("datetime") || "");
    if (Number.isNaN(moment.getTime())) return;
    const style = element.getAttribute("data-local");
    element.title = localFormats.datetime.format(moment);
    if (style in localFormats) element.textContent = localFormats[style].format(moment);
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

// A disclosure someone opened (a part's Re-run control, say) stays open, with what they typed in
// it, when a refresh redraws the section around it.
const openDisclosures = new Map();
document.addEventListener("htmx:beforeSwap", (event) => {
  openDisclosures.clear();
  if (event.detail && event.detail.shouldSwap === false) return;
  document.querySelectorAll("details[open][data-testid]").forEach((details) => {
    const fields = new Map();
    details.querySelectorAll("input[data-testid], textarea[data-testid], select[data-testid]")
      .forEach((field) => fields.set(field.dataset.testid, field.value));
    openDisclosures.set(details.dataset.testid, fields);
  });
});
document.addEventListener("htmx:afterSettle", () => {
  openDisclosures.forEach((fields, testid) => {
    const details = document.querySelector(`details[data-testid="${CSS.escape(testid)}"]`);
    if (!(details instanceof HTMLDetailsElement) || details.open) return;
    details.open = true;
    fields.forEach((value, fieldId) => {
      const field = details.querySelector(`[data-testid="${CSS.escape(fieldId)}"]`);
      if (field && "value" in field && !field.value) field.value = value;
    });
  });
  openDisclosures.clear();
});

// Character counters on the limited fields of a form marked data-counters: "12 / 500" under the
// field (a one-line field shows it from 80 % of its limit), and a note when a paste was cut to fit.
const COUNTED = "textarea[maxlength], input[maxlength]:is([type=text], [type=search], :not([type]))";
function counterOf(field) {
  const id = `${field.id || field.name}-meta`;
  let meta = document.getElementById(id);
  if (!meta) {
    meta = document.createElement("div");
    meta.className = "char-meta";
    meta.id = id;
    meta.innerHTML = '<span class="char-note" role="status"></span><span class="char-count" aria-hidden="true"></span>';
    field.insertAdjacentElement("afterend", meta);
  }
  return meta;
}
function countChars(field) {
  const max = field.maxLength;
  if (!(max > 0)) return;
  const count = counterOf(field).querySelector(".char-count");
  const used = field.value.length;
  count.textContent = `${used} / ${max}`;
  count.classList.toggle("at-limit", used >= max);
  count.classList.toggle("is-quiet", field.tagName !== "TEXTAREA" && used < max * 0.8);
}
function countAll(root) {
  root.querySelectorAll("form[data-counters]").forEach((form) => {
    form.querySelectorAll(COUNTED).forEach(countChars);
  });
}
function countedField(target) {
  return target instanceof HTMLElement && target.matches(COUNTED) && target.closest("form[data-counters]") ? target : null;
}
document.addEventListener("input", (event) => {
  const field = countedField(event.target);
  if (!field) return;
  if (!event.detail || event.detail !== "paste-cut") {
    const note = counterOf(field).querySelector(".char-note");
    if (note.textContent && field.value.length < field.maxLength) note.textContent = "";
  }
  countChars(field);
});
document.addEventListener("paste", (event) => {
  const field = countedField(event.target);
  if (!field || !event.clipboardData) return;
  const pasted = event.clipboardData.getData("text");
  const start = field.selectionStart ?? field.value.length;
  const end = field.selectionEnd ?? start;
  const room = field.maxLength - (field.value.length - (end - start));
  if (pasted.length <= room) return;
  event.preventDefault();
  field.setRangeText(pasted.slice(0, Math.max(0, room)), start, end, "end");
  field.dispatchEvent(new CustomEvent("input", { bubbles: true, detail: "paste-cut" }));
  const cut = pasted.length - Math.max(0, room);
  counterOf(field).querySelector(".char-note").textContent =
    `The paste was cut to fit ${field.maxLength} characters: the last ${cut} were left out.`;
});
document.addEventListener("focusin", (event) => {
  const field = countedField(event.target);
  if (field) countChars(field);
});

// After a refused Start: the first invalid field is scrolled to and focused (the error summary
// beside Start names every problem, each linked to its field).
function controlOf(selector) {
  let target = null;
  try {
    target = document.querySelector(selector);
  } catch {
    return null;
  }
  if (!target) return null;
  if (target.matches("input, select, textarea, button")) return target;
  return target.querySelector("input:not([type=hidden]):not(:disabled), select, textarea");
}
function focusControl(control) {
  control.focus({ preventScroll: true });
  control.scrollIntoView({ block: "center" });
}
function focusFirstProblem() {
  const summary = document.querySelector("[data-error-summary]:not([data-seen])");
  if (!summary) return;
  summary.setAttribute("data-seen", "");
  const scope = summary.closest("form") || document;
  const link = summary.querySelector("a[href^='#']");
  const control = scope.querySelector('[aria-invalid="true"]') || (link && controlOf(link.getAttribute("href")));
  if (control) focusControl(control);
}
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("[data-focus-field]") : null;
  const control = link && controlOf(link.getAttribute("href") || "");
  if (!control) return;
  event.preventDefault();
  focusControl(control);
});
document.addEventListener("DOMContentLoaded", () => {
  countAll(document);
  focusFirstProblem();
});
document.addEventListener("htmx:afterSettle", () => {
  countAll(document);
  focusFirstProblem();
});

// A run being written (the script run panel): its text follows its tail unless the reader
// scrolls up, and then "Jump to latest" shows until they are back at the bottom. Esc stops the
// run (not while typing in a field); its end is said once in the panel's live region. The state
// lives on the live wrapper ([data-run-live]), which the WebSocket's swaps never replace.
(() => {
  const SLACK = 24;
  const ENDED = new Set(["succeeded", "failed", "cancelled", "interrupted"]);
  const ACTIVE_BOX = ".run-panel:is([data-status=queued], [data-status=running]) .stream-text";

  const atBottom = (box) => box.scrollHeight - box.scrollTop - box.clientHeight <= SLACK;

  function showJump(live, following) {
    live.querySelectorAll("[data-jump-latest]").forEach((button) => { button.hidden = following; });
  }

  function follow(live) {
    const box = live.querySelector(ACTIVE_BOX);
    if (!box) return;
    const following = live.dataset.following !== "false";
    if (following) box.scrollTop = box.scrollHeight;
    showJump(live, following);
  }

  function announce(live) {
    const panel = live.querySelector("[data-run-id][data-status]");
    const region = live.querySelector("[data-run-announce]");
    if (!panel || !region) return;
    const status = panel.getAttribute("data-status");
    if (!ENDED.has(status)) {
      live.dataset.seenActive = "true";
    } else if (live.dataset.seenActive && !live.dataset.announced) {
      live.dataset.announced = "true";
      region.textContent = panel.getAttribute("data-announce") || `The run has ${status}.`;
    }
  }

  const watched = new WeakSet();
  function watch(root) {
    const lives = root instanceof Element && root.matches("[data-run-live]") ? [root] : [];
    if (root.querySelectorAll) lives.push(...root.querySelectorAll("[data-run-live]"));
    lives.forEach((live) => {
      if (watched.has(live)) return;
      watched.add(live);
      let queued = false;
      const update = () => {
        queued = false;
        follow(live);
        announce(live);
      };
      new MutationObserver(() => {
        if (!queued) {
          queued = true;
          requestAnimationFrame(update);
        }
      }).observe(live, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["data-status"] });
      update();
    });
  }

  document.addEventListener("scroll", (event) => {
    const box = event.target instanceof Element && event.target.matches(ACTIVE_BOX) ? event.target : null;
    const live = box && box.closest("[data-run-live]");
    if (!live) return;
    const following = atBottom(box);
    live.dataset.following = following ? "true" : "false";
    showJump(live, following);
  }, true);

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-jump-latest]") : null;
    const live = button && button.closest("[data-run-live]");
    if (!live) return;
    live.dataset.following = "true";
    follow(live);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || event.isComposing) return;
    const target = event.target;
    if (target instanceof Element && target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])")) return;
    if (document.querySelector("dialog[open]")) return;
    const cancel = Array.from(document.querySelectorAll("[data-run-bar] [data-run-cancel]"))
      .find((button) => button instanceof HTMLButtonElement && !button.disabled && button.offsetParent !== null);
    if (!cancel) return;
    event.preventDefault();
    cancel.click();
  });

  // Streaming off: the time since the run started, counted on the page between the server's
  // refreshes.
  function tick() {
    document.querySelectorAll("time[data-elapsed-since]").forEach((element) => {
      const since = Date.parse(element.getAttribute("data-elapsed-since") || "");
      if (Number.isNaN(since)) return;
      const seconds = Math.max(0, Math.round((Date.now() - since) / 1000));
      element.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    });
  }
  setInterval(tick, 1000);

  document.addEventListener("DOMContentLoaded", () => watch(document));
  document.addEventListener("htmx:load", (event) => { if (event.target) watch(event.target); });
})();
