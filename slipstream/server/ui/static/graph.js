// The DAG view: lays a workflow's nodes out with dagre and draws them as SVG; used by the
// workflow and execution pages. One model (nodes, edges) and one state object (phase per node)
// drive it: states change classes and text only; a layout runs again only when nodes appear
// (dynamic bodies) or a group is opened or closed. Text is set with textContent only.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const ICONS = { QUEUED: "○", RUNNING: "▶", SUCCEEDED: "✓", FAILED: "✗", SKIPPED: "⤼", ABORTED: "■", "": "·" };
  const WORDS = { QUEUED: "queued", RUNNING: "running", SUCCEEDED: "succeeded", FAILED: "failed", SKIPPED: "skipped", ABORTED: "aborted", "": "not started" };
  const GROUP_KINDS = new Set(["workflow", "dynamic", "branch"]);
  const W = 200;
  const H = 48;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const fmt = (n) => Number(n || 0).toLocaleString("en");

  function statusText(node, state) {
    const phase = (state && state.phase) || "";
    let text = `${ICONS[phase]} ${WORDS[phase]}`;
    if (state && state.cached) text += " · cached";
    if (state && state.attempts > 1) text += ` · ${state.attempts} attempts`;
    return text;
  }

  function mapText(state) {
    const m = (state && state.map) || {};
    if (!m.items) return "";
    return `${fmt(m.items)} items: ${fmt(m.succeeded)} ✓ ${fmt(m.failed)} ✗ ${fmt(m.running)} ▶`;
  }

  function mount(container, model, options) {
    options = options || {};
    const threshold = options.threshold || 500;
    const onSelect = options.onSelect || (() => {});
    const nodes = new Map(); // id -> {id, label, kind, parent}
    const edges = [];
    const edgeKeys = new Set();
    let states = {};
    const children = new Map();
    const collapsed = new Set();
    let forceDraw = false;
    let selected = null;
    const drawn = new Map(); // visible id -> svg group
    const notice = container.querySelector(".graph-notice");
    const canvas = container.querySelector(".graph-canvas");

    function addNode(node) {
      if (nodes.has(node.id)) return false;
      nodes.set(node.id, node);
      const parent = node.parent || "";
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(node.id);
      return true;
    }
    function addEdge(edge) {
      const key = edge[0] + "\u0000" + edge[1];
      if (edgeKeys.has(key)) return false;
      edgeKeys.add(key);
      edges.push(edge);
      return true;
    }
    model.nodes.forEach(addNode);
    model.edges.forEach(addEdge);

    const isGroup = (id) => GROUP_KINDS.has(nodes.get(id).kind) || (children.get(id) || []).length > 0;
    // the visible node standing for id: itself, or its highest collapsed ancestor
    function visibleOf(id) {
      let shown = id;
      let node = nodes.get(id);
      while (node && node.parent) {
        if (collapsed.has(node.parent)) shown = node.parent;
        node = nodes.get(node.parent);
      }
      return shown;
    }
    function visibleIds() {
      const out = [];
      const walk = (parent) => {
        for (const id of children.get(parent) || []) {
          out.push(id);
          if (!collapsed.has(id)) walk(id);
        }
      };
      walk("");
      return out;
    }
    function descendants(id) {
      const out = [];
      const walk = (p) => (children.get(p) || []).forEach((c) => { out.push(c); walk(c); });
      walk(id);
      return out;
    }

    function initialCollapse() {
      if (nodes.size <= threshold) return;
      for (const id of nodes.keys()) if (isGroup(id) && (children.get(id) || []).length) collapsed.add(id);
    }

    function say(text, button) {
      notice.replaceChildren();
      if (!text) {
        notice.hidden = true;
        return;
      }
      notice.hidden = false;
      notice.append(document.createTextNode(text));
      if (button) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = button.label;
        b.addEventListener("click", button.action);
        notice.append(" ", b);
      }
    }

    function layout() {
      const shown = visibleIds();
      const groupsClosed = [...collapsed].filter((id) => nodes.has(id)).length;
      if (shown.length > threshold && !forceDraw) {
        canvas.replaceChildren();
        drawn.clear();
        say(`This graph has ${fmt(shown.length)} visible nodes (more than ${fmt(threshold)}), so it opens collapsed: it is not drawn.${options.listed ? " Every node is listed below." : ""}`, {
          label: `Draw all ${fmt(shown.length)} nodes`,
          action: () => { forceDraw = true; layout(); },
        });
        return;
      }
      if (groupsClosed && nodes.size > threshold) say(`This graph has ${fmt(nodes.size)} nodes (more than ${fmt(threshold)}), so it opens with its ${fmt(groupsClosed)} groups collapsed. Open a group with its ＋ button.`);
      else say("");
      const g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
      g.setGraph({ rankdir: "LR", nodesep: 16, ranksep: 40, marginx: 8, marginy: 8 });
      g.setDefaultEdgeLabel(() => ({}));
      const open = new Set();
      for (const id of shown) {
        const node = nodes.get(id);
        const parent = node.parent ? node.parent : null;
        if (isGroup(id) && !collapsed.has(id) && (children.get(id) || []).length) {
          open.add(id);
          g.setNode(id, { label: node.label, clusterLabelPos: "top" });
          g.setNode(id + "\u0000head", { width: W, height: H, head: id });
          g.setParent(id + "\u0000head", id);
        } else {
          g.setNode(id, { width: W, height: H });
        }
        if (parent) g.setParent(id, parent);
      }
      const anchor = (id) => (open.has(id) ? id + "\u0000head" : id);
      const seen = new Set();
      for (const [from, to] of edges) {
        if (!nodes.has(from) || !nodes.has(to)) continue;
        const a = anchor(visibleOf(from));
        const b = anchor(visibleOf(to));
        const key = a + "\u0000" + b;
        if (a === b || seen.has(key)) continue;
        seen.add(key);
        g.setEdge(a, b);
      }
      dagre.layout(g);
      const size = g.graph();
      const root = svg("svg", { width: Math.ceil(size.width || 0) + 16, height: Math.ceil(size.height || 0) + 16, role: "group", "aria-label": "workflow graph", class: "dag" });
      const defs = svg("defs");
      const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" });
      marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }));
      defs.append(marker);
      root.append(defs);
      const clusterLayer = svg("g", { class: "clusters" });
      const edgeLayer = svg("g", { class: "edges" });
      const nodeLayer = svg("g", { class: "nodes" });
      root.append(clusterLayer, edgeLayer, nodeLayer);
      for (const id of open) {
        const box = g.node(id);
        clusterLayer.append(svg("rect", { class: "cluster", x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width, height: box.height, rx: 8 }));
      }
      for (const e of g.edges()) {
        const points = g.edge(e).points || [];
        if (!points.length) continue;
        const d = points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
        edgeLayer.append(svg("path", { d, class: "edge", "marker-end": "url(#arrow)" }));
      }
      drawn.clear();
      for (const id of g.nodes()) {
        const box = g.node(id);
        if (open.has(id)) continue;
        const real = box.head || id;
        const node = nodes.get(real);
        const group = svg("g", { class: "node", tabindex: 0, role: "button", "data-node": real, transform: `translate(${(box.x - W / 2).toFixed(1)},${(box.y - H / 2).toFixed(1)})` });
        const title = svg("title", {}, "");
        group.append(title);
        group.append(svg("rect", { width: W, height: H, rx: 6, class: "box" }));
        group.append(svg("text", { x: 8, y: 17, class: "label" }, truncate(node.label, 26)));
        group.append(svg("text", { x: 8, y: 36, class: "status" }, ""));
        if (isGroup(real) && (children.get(real) || []).length) {
          const isOpen = !collapsed.has(real);
          const toggle = svg("g", { class: "toggle", tabindex: 0, role: "button", "aria-expanded": String(isOpen), "aria-label": `${isOpen ? "collapse" : "expand"} ${node.label}`, transform: `translate(${W - 24},4)` });
          toggle.append(svg("rect", { width: 20, height: 20, rx: 4 }), svg("text", { x: 10, y: 15, "text-anchor": "middle" }, isOpen ? "−" : "+"));
          const flip = (event) => {
            event.stopPropagation();
            if (collapsed.has(real)) collapsed.delete(real);
            else collapsed.add(real);
            layout();
            const again = canvas.querySelector(`g.node[data-node="${CSS.escape(real)}"] .toggle`);
            if (again) again.focus();
          };
          toggle.addEventListener("click", flip);
          toggle.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); flip(event); } });
          group.append(toggle);
        }
        group.addEventListener("click", () => choose(real));
        group.addEventListener("keydown", (event) => {
          if (event.target !== group) return;
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); choose(real); }
        });
        nodeLayer.append(group);
        drawn.set(real, group);
      }
      canvas.replaceChildren(root);
      paint();
    }

    function truncate(text, n) {
      text = String(text);
      return text.length > n ? text.slice(0, n - 1) + "…" : text;
    }

    function rollup(id) {
      // a collapsed group: counts of its descendants' phases
      const counts = {};
      for (const child of descendants(id)) {
        const phase = (states[child] && states[child].phase) || "";
        counts[phase] = (counts[phase] || 0) + 1;
      }
      return Object.entries(counts).map(([phase, n]) => `${n} ${ICONS[phase]}`).join(" ");
    }

    function paint() {
      for (const [id, group] of drawn) {
        const node = nodes.get(id);
        const state = states[id] || {};
        const phase = state.phase || "";
        group.setAttribute("class", `node phase-${phase || "NONE"}${state.cached ? " cached" : ""}${id === selected ? " selected" : ""}`);
        let status = statusText(node, state);
        if (node.kind === "map" && state.map) status = mapText(state);
        else if (collapsed.has(id)) status = `${ICONS[phase]} ${rollup(id)}`;
        group.querySelector("text.status").textContent = status;
        const words = `${node.label} (${node.kind}): ${WORDS[phase]}${state.cached ? ", cached" : ""}${node.kind === "map" && state.map ? ", " + mapText(state) : ""}`;
        group.querySelector("title").textContent = words;
        group.setAttribute("aria-label", words);
        group.setAttribute("aria-pressed", String(id === selected));
      }
    }

    function choose(id) {
      selected = id;
      paint();
      onSelect(id);
    }

    // extra: {nodes: [...], edges: [...]} learnt at run time (dynamic bodies)
    function update(newStates, extra) {
      states = newStates || {};
      let grew = false;
      if (extra) {
        for (const node of extra.nodes || []) grew = addNode(node) || grew;
        for (const edge of extra.edges || []) grew = addEdge(edge) || grew;
      }
      if (grew) layout();
      else paint();
    }

    initialCollapse();
    layout();
    return { update, select: choose, nodes, visibleCount: () => visibleIds().length };
  }

  window.SlipGraph = { mount, ICONS, WORDS };
})();
