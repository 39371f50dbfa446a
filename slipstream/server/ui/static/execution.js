// The execution page: draws graph, timeline and node list from one state document, follows the
// execution over Server-Sent Events, and loads a node's panel when it is chosen.
// The page embeds the graph model and the first state; text is set with textContent only.
"use strict";
(function () {
  const page = document.getElementById("execution");
  const config = JSON.parse(document.getElementById("execution-config").textContent);
  const model = JSON.parse(document.getElementById("graph-model").textContent);
  let state = JSON.parse(document.getElementById("execution-state").textContent);
  const ICONS = SlipGraph.ICONS;
  const WORDS = SlipGraph.WORDS;
  let selected = new URLSearchParams(location.search).get("node") || "";
  let following = null;

  function loadPanel(node) {
    selected = node;
    const url = config.panelUrl.replace("__NODE__", encodeURIComponent(node));
    const params = new URLSearchParams(location.search);
    params.set("node", node);
    history.replaceState(null, "", `${location.pathname}?${params}`);
    htmx.ajax("GET", url, { target: "#panel", swap: "innerHTML" });
  }

  const graph = SlipGraph.mount(document.getElementById("graph"), model, { threshold: config.threshold, onSelect: loadPanel, listed: true });

  const badge = page.querySelector(".execution-phase");
  const counts = page.querySelector(".node-counts");
  const listBody = page.querySelector("#node-list tbody");
  const listRows = new Map();

  function setBadge(element, phase) {
    element.className = `badge execution-phase phase-${phase || "NONE"}`;
    element.textContent = `${ICONS[phase] || "·"} ${(phase || "not started").toLowerCase()}`;
  }

  const LIST_FIRST = 300; // rows made at first; the rest on request (big graphs)
  let listLimit = LIST_FIRST;
  const listMore = page.querySelector(".node-list-more");
  listMore.addEventListener("click", () => {
    listLimit = Infinity;
    listMore.hidden = true;
    renderList();
  });

  function makeRow(id, node) {
    const row = document.createElement("tr");
    const name = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = id;
    button.addEventListener("click", () => { graph.select(id); });
    name.append(button);
    const kind = document.createElement("td");
    kind.textContent = node.kind;
    const phase = document.createElement("td");
    phase.append(document.createElement("span"));
    row.append(name, kind, phase, document.createElement("td"));
    listBody.append(row);
    const entry = { row, signature: "" };
    listRows.set(id, entry);
    return entry;
  }

  function renderList() {
    // one row per node the graph knows; a row is made once and rewritten only when it changed
    let index = 0;
    for (const [id, node] of graph.nodes) {
      if (index++ >= listLimit) break;
      const entry = listRows.get(id) || makeRow(id, node);
      const s = state.nodes[id] || {};
      const signature = `${s.phase}|${s.cached}|${s.attempts}|${s.map ? JSON.stringify(s.map) : ""}`;
      if (signature === entry.signature) continue;
      entry.signature = signature;
      const span = entry.row.children[2].firstChild;
      span.className = `badge phase-${s.phase || "NONE"}`;
      span.textContent = `${ICONS[s.phase || ""]} ${WORDS[s.phase || ""]}`;
      let detail = s.cached ? "cached" : "";
      if (s.map) detail = `${s.map.items} items: ${s.map.succeeded} ✓ ${s.map.failed} ✗ ${s.map.running} ▶`;
      else if (s.attempts > 1) detail = `${s.attempts} attempts`;
      entry.row.children[3].textContent = detail;
    }
    const hidden = graph.nodes.size - Math.min(graph.nodes.size, listLimit);
    listMore.hidden = hidden <= 0;
    listMore.textContent = `Show the other ${hidden.toLocaleString("en")} nodes`;
  }

  function renderCounts() {
    counts.replaceChildren();
    for (const [phase, n] of Object.entries(state.counts || {})) {
      const span = document.createElement("span");
      span.className = `badge phase-${phase}`;
      span.textContent = `${ICONS[phase] || "·"} ${n} ${phase.toLowerCase()}`;
      counts.append(span);
    }
  }

  function redraw() {
    graph.update(state.nodes, state.extra);
    setBadge(badge, state.execution.phase);
    renderCounts();
    renderList();
    drawTimeline();
  }

  // A big timeline is redrawn at most every 2 s while live (its bars grow with the clock).
  let timelineAt = 0;
  let timelineTimer = null;
  function drawTimeline() {
    const wait = state.timeline.length > 100 ? 2000 - (performance.now() - timelineAt) : 0;
    if (wait > 0) {
      if (timelineTimer === null) timelineTimer = setTimeout(() => { timelineTimer = null; drawTimeline(); }, wait);
      return;
    }
    timelineAt = performance.now();
    const now = state.execution.ended_at || state.now;
    SlipTimeline.render(document.getElementById("timeline"), state.timeline, now, (id) => graph.select(id));
  }

  function finished() {
    // the summary (outputs, error, buttons) and an open panel change once it ends
    htmx.ajax("GET", config.summaryUrl, { target: "#summary", swap: "innerHTML" });
    if (selected) loadPanel(selected);
  }

  function follow() {
    if (!window.EventSource) return;
    const source = new EventSource(config.liveUrl);
    following = source;
    let pending = null;
    source.addEventListener("state", (event) => {
      const wasTerminal = ["SUCCEEDED", "FAILED", "ABORTED"].includes(state.execution.phase);
      state = JSON.parse(event.data);
      if (pending === null) {
        pending = requestAnimationFrame(() => {
          pending = null;
          redraw();
        });
      }
      if (!wasTerminal && ["SUCCEEDED", "FAILED", "ABORTED"].includes(state.execution.phase)) finished();
    });
    source.addEventListener("end", () => {
      source.close();
      following = null;
    });
  }

  redraw();
  if (selected) loadPanel(selected);
  if (!["SUCCEEDED", "FAILED", "ABORTED"].includes(state.execution.phase)) follow();
  if (graph.visibleCount() > config.threshold) document.getElementById("node-list-details").open = true;
  page.dataset.ready = "true";
  window.SlipReadyAt = performance.now();
  window.SlipExecution = { graph, get state() { return state; }, get following() { return following; } };
})();
