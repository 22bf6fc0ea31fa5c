// The Logs page's live tail: server-sent events from /admin/logs/stream, newest on top.
// The page works without it; the stream ends when the session or the server does.
"use strict";

(() => {
  const section = document.getElementById("tail");
  const list = document.getElementById("tail-events");
  const state = document.getElementById("tail-state");
  if (!section || !list || !window.EventSource) return;
  const params = new URLSearchParams();
  if (section.dataset.query) params.set("q", section.dataset.query);
  if (section.dataset.user) params.set("user", section.dataset.user);
  const search = params.toString();
  const source = new EventSource("/admin/logs/stream" + (search ? "?" + search : ""));
  state.hidden = false;
  source.addEventListener("open", () => { state.textContent = "Live: waiting for new events."; section.dataset.live = "true"; });
  source.addEventListener("log", (message) => {
    const event = JSON.parse(message.data);
    const item = document.createElement("li");
    item.dataset.type = event.type;
    item.dataset.log = event.log_id;
    const when = document.createElement("time");
    when.dateTime = event.date;
    when.textContent = event.date.replace("T", " ").slice(0, 19) + " ";
    const code = document.createElement("code");
    code.textContent = event.type;
    item.append(when, code, " " + event.description + (event.user_name ? " · " + event.user_name : ""));
    list.prepend(item);
    while (list.children.length > 200) list.lastElementChild.remove();
  });
  source.addEventListener("end", (message) => {
    source.close();
    section.dataset.live = "false";
    state.textContent = message.data === "session"
      ? "The live tail stopped: your session ended. Sign in again."
      : "The live tail stopped: the server is restarting. Reload the page.";
  });
  source.addEventListener("error", () => { if (source.readyState !== EventSource.CLOSED) state.textContent = "Reconnecting…"; });
})();
