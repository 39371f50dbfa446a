// The timeline: every attempt of every node on one time axis, as SVG; used by the execution page.
// rows: [{id, label, cached, start, end, attempts: [{attempt, phase, start, end, reason}]}]
// Retries are marked "↻ n", cache hits with a diamond and the word; text via textContent only.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const ROW = 22;
  const LABEL = 170;
  const MAX_ROWS = 300;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function seconds(s) {
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 120) return `${s.toFixed(1)} s`;
    return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  }

  function render(container, rows, now, onSelect) {
    const note = container.querySelector(".timeline-note");
    const canvas = container.querySelector(".timeline-canvas");
    const timed = rows.filter((r) => r.start !== null && r.start !== undefined);
    timed.sort((a, b) => a.start - b.start);
    const shown = timed.slice(0, MAX_ROWS);
    note.textContent = timed.length > MAX_ROWS ? `The first ${MAX_ROWS} of ${timed.length} started nodes, by start time.` : timed.length ? "" : "No node has started yet.";
    if (!shown.length) {
      canvas.replaceChildren();
      return;
    }
    const t0 = Math.min(...shown.map((r) => r.start));
    let t1 = Math.max(...shown.map((r) => Math.max(r.end || now, ...r.attempts.map((a) => a.end || now))));
    if (t1 - t0 < 0.001) t1 = t0 + 0.001;
    if (!canvas.dataset.width) {
      // measured once (a layout), and again only when the window is resized
      canvas.dataset.width = String(canvas.clientWidth || 600);
      window.addEventListener("resize", () => { delete canvas.dataset.width; }, { once: true });
    }
    const width = Math.max(Number(canvas.dataset.width), 300);
    const plot = width - LABEL - 12;
    const x = (t) => LABEL + ((t - t0) / (t1 - t0)) * plot;
    const height = shown.length * ROW + 28;
    const root = svg("svg", { width, height, class: "timeline", role: "img", "aria-label": `timeline of ${shown.length} nodes over ${seconds(t1 - t0)}` });
    const axis = svg("g", { class: "axis" });
    const ticks = plot < 400 ? 2 : 4;
    for (let i = 0; i <= ticks; i++) {
      const t = t0 + ((t1 - t0) * i) / ticks;
      axis.append(svg("line", { x1: x(t), x2: x(t), y1: 14, y2: height, class: "tick" }));
      axis.append(svg("text", { x: x(t), y: 11, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" }, `+${seconds(t - t0)}`));
    }
    root.append(axis);
    shown.forEach((row, index) => {
      const y = 20 + index * ROW;
      const g = svg("g", { class: "row", "data-node": row.id });
      const label = svg("text", { x: 4, y: y + 14, class: "row-label" }, row.label.length > 24 ? row.label.slice(0, 23) + "…" : row.label);
      g.append(svg("title", {}, row.label), label);
      if (row.cached) {
        const cx = x(row.start);
        g.append(svg("path", { d: `M${cx},${y + 3} l6,7 l-6,7 l-6,-7 z`, class: "cache-hit" }));
        g.append(svg("text", { x: cx + 10, y: y + 14, class: "mark" }, "◆ cache hit"));
      }
      for (const attempt of row.attempts) {
        const a = x(attempt.start);
        const b = Math.max(x(attempt.end || now), a + 2);
        const bar = svg("rect", { x: a, y: y + 3, width: b - a, height: ROW - 6, rx: 3, class: `bar phase-${attempt.phase}${attempt.attempt > 1 ? " retry" : ""}` });
        const words = `${row.label} attempt ${attempt.attempt}: ${attempt.phase.toLowerCase()}, ${seconds((attempt.end || now) - attempt.start)}${attempt.reason ? " (" + attempt.reason + ")" : ""}`;
        bar.append(svg("title", {}, words));
        g.append(bar);
        if (attempt.attempt > 1) g.append(svg("text", { x: a + 3, y: y + 15, class: "mark retry-mark" }, `↻ ${attempt.attempt}`));
        if (attempt.phase === "FAILED") g.append(svg("text", { x: b + 3, y: y + 15, class: "mark" }, "✗"));
      }
      if (onSelect) g.addEventListener("click", () => onSelect(row.id));
      root.append(g);
    });
    canvas.replaceChildren(root);
  }

  window.SlipTimeline = { render };
})();
