// warroom console: the live parts (Server-Sent Events). Pages work without it.
"use strict";

// The incidents list: its rows, re-rendered by the server when they change.
for (const rows of document.querySelectorAll("[data-live]")) {
  const source = new EventSource(rows.dataset.live);
  source.addEventListener("rows", (e) => { rows.innerHTML = e.data; });
}

// An incident: new timeline entries, and its state after each batch of them. A part
// someone is typing in is left alone until they leave it.
const timeline = document.querySelector("[data-live-timeline]");
const state = document.querySelector("[data-live-state]");
if (timeline) {
  let waiting = null;
  const typing = () => state && state.contains(document.activeElement)
    && ["TEXTAREA", "INPUT", "SELECT"].includes(document.activeElement.tagName);
  const replace = (html) => {
    if (typing()) { waiting = html; return; }
    state.innerHTML = html;
    waiting = null;
  };
  if (state) {
    state.addEventListener("focusout", () => {
      setTimeout(() => { if (waiting !== null) replace(waiting); }, 0);
    });
  }
  const source = new EventSource(timeline.dataset.liveTimeline);
  source.addEventListener("entry", (e) => { timeline.insertAdjacentHTML("beforeend", e.data); });
  source.addEventListener("state", (e) => { if (state) replace(e.data); });
  source.addEventListener("end", () => { source.close(); });
}
