// The roundtable page: each card follows its own text as it grows (unless its reader scrolled
// up in it), the brief form asks for the session's quote as it changes, and a finished session
// can be replayed from its stored events at 1x, 4x or at once, without calling any provider:
// the agents' words, the chair's questions, answers, notes, pins and vetoes in their order, then
// each re-run of a part.
(() => {
  const NEAR_BOTTOM = 24;

  function followed(box) {
    return box.dataset.following !== "false";
  }

  document.addEventListener("scroll", (event) => {
    const box = event.target instanceof Element ? event.target.closest("[data-follow]") : null;
    if (!box) return;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM;
    box.dataset.following = atBottom ? "true" : "false";
  }, true);

  function keepTails(root) {
    root.querySelectorAll("[data-follow]").forEach((box) => {
      if (followed(box)) box.scrollTop = box.scrollHeight;
    });
  }

  const observer = new MutationObserver((records) => {
    const boxes = new Set();
    for (const record of records) {
      const node = record.target instanceof Element ? record.target : record.target.parentElement;
      const box = node ? node.closest("[data-follow]") : null;
      if (box) boxes.add(box);
      else if (node) node.querySelectorAll?.("[data-follow]").forEach((b) => boxes.add(b));
    }
    boxes.forEach((box) => { if (followed(box)) box.scrollTop = box.scrollHeight; });
  });

  function watch() {
    const panel = document.querySelector(".roundtable-panel")?.parentElement;
    if (!panel) return;
    observer.observe(panel, { childList: true, subtree: true, characterData: true });
    keepTails(panel);
  }

  // The quote: the form's fields, posted to its quote URL a moment after the last change.
  let quoteTimer = null;
  function askQuote(form) {
    const url = form.dataset.quoteUrl;
    const target = document.getElementById("session-quote");
    if (!url || !target || !window.htmx) return;
    clearTimeout(quoteTimer);
    quoteTimer = setTimeout(() => {
      window.htmx.ajax("POST", url, { source: form, target: "#session-quote", swap: "outerHTML",
        values: Object.fromEntries(new FormData(form)) });
    }, 400);
  }
  document.addEventListener("input", (event) => {
    const form = event.target instanceof Element ? event.target.closest("#session-form") : null;
    if (form) askQuote(form);
  });
  document.addEventListener("change", (event) => {
    const form = event.target instanceof Element ? event.target.closest("#session-form") : null;
    if (form) askQuote(form);
  });

  // The replay.
  let replaying = null;
  async function replay(button) {
    const controls = button.closest("[data-replay]");
    const speed = Number(button.dataset.replaySpeed || "1");
    if (replaying) replaying.cancelled = true;
    const state = { cancelled: false };
    replaying = state;
    const response = await fetch(controls.dataset.replay, { credentials: "same-origin" });
    if (!response.ok) return;
    const { events, dom_id: dom } = await response.json();
    const panel = document.getElementById(dom);
    if (!panel) return;
    panel.classList.add("replaying");
    // Only the panel's own texts (ids from its run) are replayed: a part's other versions and a
    // re-run's own panel keep theirs.
    panel.querySelectorAll(`[id^="${dom}-"][id$="-text"]`).forEach((box) => { box.textContent = ""; });
    panel.querySelectorAll(`.agent-head[id^="${dom}-"]`).forEach((head) => { head.dataset.status = "waiting"; });
    const log = document.getElementById(`${dom}-chair-log`);
    if (log) log.replaceChildren();
    const started = performance.now();
    for (const item of events) {
      if (state.cancelled) return;
      if (speed > 0) {
        const due = item.at_ms / speed - (performance.now() - started);
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(due, 5000)));
      }
      const data = item.data || {};
      // A chair event (and a re-run) adds its line, drawn by the studio, to the chair's log.
      if (item.html && log) log.insertAdjacentHTML("beforeend", item.html);
      if (item.event === "rerun") {
        // A re-run writes its parts again: their texts start over.
        for (const part of data.parts || []) {
          const selector = part === "debate" ? `[id^="${dom}-debate-"][id$="-text"]` : `[id="${dom}-${part}-text"]`;
          panel.querySelectorAll(selector).forEach((box) => { box.textContent = ""; });
        }
        continue;
      }
      let target = null;
      if (item.event === "agent_chunk") target = document.getElementById(`${dom}-${data.agent}-text`);
      else if (item.event === "debate_chunk") target = document.getElementById(`${dom}-debate-${data.from}-text`);
      else if (item.event === "synthesis_chunk") target = document.getElementById(`${dom}-synthesis-text`);
      else if (item.event === "shots_chunk") target = document.getElementById(`${dom}-shots-text`);
      else if (item.event === "agent_start" || item.event === "agent_complete" || item.event === "agent_error") {
        const head = document.getElementById(`${dom}-${data.agent}-head`);
        if (head) head.dataset.status = item.event === "agent_start" ? "running" : (item.event === "agent_complete" ? "succeeded" : "failed");
      }
      // As the page's own text, drawn by the HTML parser, which drops NUL characters.
      if (target) target.append(document.createTextNode((data.content || "").replaceAll("\u0000", "")));
    }
    panel.classList.remove("replaying");
  }
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-replay-speed]") : null;
    if (button) replay(button);
  });

  // The chair's note form empties once its note is taken.
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.target instanceof Element ? event.target.closest("form[data-reset-after]") : null;
    const reply = event.detail && event.detail.xhr ? String(event.detail.xhr.response || "") : "";
    if (form && event.detail.successful && !reply.includes("message-error")) form.reset();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
  document.addEventListener("htmx:afterSettle", watch);
})();
