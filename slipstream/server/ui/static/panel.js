// The node panel's live log: follows the attempt's log over SSE while it runs; loaded with the panel.
"use strict";
(function () {
  const log = document.getElementById("node-log");
  if (!log || log.dataset.follow !== "true" || !window.EventSource) return;
  if (window.SlipLogSource) window.SlipLogSource.close();
  let first = true;
  const source = new EventSource(log.dataset.url);
  window.SlipLogSource = source;
  source.addEventListener("log", (event) => {
    const text = JSON.parse(event.data).text;
    // the stream starts from the beginning of the log: replace what the page was sent
    if (first) log.textContent = text;
    else log.textContent += text;
    first = false;
    log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("end", () => source.close());
  source.onerror = () => source.close();
})();
