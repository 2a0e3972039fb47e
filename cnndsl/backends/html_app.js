// cnndsl's interactive diagram (cnndsl/backends/html.py writes the page around it).
// The model (JSON) has boxes (a layer and the BN/activation layers fused into it), the block tree
// (groups, each with its items in graph order) and edges between boxes. `open` holds the groups
// drawn as clusters; every other group is one folded box. Each change writes DOT for the open
// groups and lays it out with Graphviz (viz.js, WebAssembly); nothing is fetched.
(function () {
  "use strict";
  const M = JSON.parse(document.getElementById("cnndsl-model").textContent);
  const view = document.getElementById("cnndsl-view");
  const canvas = document.getElementById("cnndsl-canvas");
  const tip = document.getElementById("cnndsl-tip");
  const found = document.getElementById("cnndsl-found");
  document.getElementById("cnndsl-title").textContent = M.title;

  const open = new Set();
  for (const [id, g] of Object.entries(M.groups)) {
    if (M.open ? M.open.includes(id) : M.depth === null || g.level <= M.depth) open.add(id);
  }
  // every box's enclosing groups, outermost first
  const chain = {};
  const ancestors = (gid) => {
    const out = [];
    for (let g = gid; g !== null && g !== undefined; g = M.groups[g].parent) out.unshift(g);
    return out;
  };
  for (const [id, b] of Object.entries(M.boxes)) chain[id] = ancestors(b.group);

  const q = (s) => '"' + String(s).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
  const human = (n) => {
    if (n === null || n === undefined) return "?";
    for (const [u, s] of [["G", 1e9], ["M", 1e6], ["K", 1e3]]) if (n >= s) return (n / s).toPrecision(3).replace(/\.?0+$/, "") + u;
    return String(n);
  };
  let hits = new Set();

  function rep(box) {
    for (const g of chain[box]) if (!open.has(g)) return "f:" + g;
    return "b:" + box;
  }

  function dot() {
    const out = ["digraph G {", 'graph [rankdir=TB fontname=Helvetica nodesep=0.3 ranksep=0.14 newrank=true outputorder=edgesfirst];',
      "node [fontname=Helvetica shape=box style=\"rounded,filled\"];",
      "edge [fontname=Helvetica fontsize=8 fontcolor=\"#555555\" color=\"#6b6b6b\" arrowsize=0.6];"];
    const emit = (items, indent) => {
      for (const it of items) {
        if (it.b !== undefined) {
          const b = M.boxes[it.b];
          out.push(indent + q("b:" + it.b) + " [id=" + q("b:" + it.b) + " label=" + q(b.lines.join("\n")) +
            " fillcolor=" + q(b.fill) + " color=" + q(b.border) + " fontsize=" + (b.small ? 9 : 11) +
            " height=" + (b.small && b.lines.length === 1 ? 0.22 : 0.36) + " penwidth=" + (b.output ? 2 : 1) + "];");
        } else {
          const g = M.groups[it.g];
          if (open.has(it.g)) {
            out.push(indent + "subgraph " + q("cluster/" + it.g) + " {");
            out.push(indent + "  id=" + q("c:" + it.g) + " label=" + q(g.label + (g.repeat ? "" : "  ·  " + human(g.params) + " params")) +
              " labeljust=l fontsize=10 style=" + q(g.repeat ? "dashed,rounded" : "rounded,filled") +
              " color=" + q(g.repeat ? "#8c8c8c" : "#b9b9b9") + " fillcolor=\"#fafafa\";");
            emit(g.items, indent + "  ");
            out.push(indent + "}");
          } else {
            out.push(indent + q("f:" + it.g) + " [id=" + q("f:" + it.g) + " label=" + q(g.title + "\n" + g.flow + "  ·  " +
              human(g.params) + " params  ·  " + human(g.macs) + " MACs") + " fillcolor=" + q(M.folded[0]) +
              " color=" + q(M.folded[1]) + " penwidth=1.5 fontsize=11];");
          }
        }
      }
    };
    emit(M.items, "  ");
    const seen = new Set();
    for (const [a, b, label] of M.edges) {
      const ra = rep(a), rb = rep(b);
      const key = ra + "|" + rb + "|" + label;
      if (ra === rb || seen.has(key)) continue;
      seen.add(key);
      const shown = !ra.startsWith("f:") && !rb.startsWith("f:");
      out.push("  " + q(ra) + " -> " + q(rb) + (shown ? " [label=" + q(label) + "]" : "") + ";");
    }
    out.push("}");
    return out.join("\n");
  }

  // --- pan and zoom -------------------------------------------------------------------------------
  let scale = 1, tx = 0, ty = 0;
  const apply = () => { canvas.style.transform = "translate(" + tx + "px," + ty + "px) scale(" + scale + ")"; };
  function fit() {
    const svg = canvas.querySelector("svg");
    if (!svg) return;
    const w = svg.width.baseVal.value || 1, h = svg.height.baseVal.value || 1;
    scale = Math.min(1.5, view.clientWidth / w, view.clientHeight / h) || 1;
    tx = (view.clientWidth - w * scale) / 2; ty = 8;
    apply();
  }
  view.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = view.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    const k = Math.exp(-e.deltaY * 0.0015);
    tx = x - (x - tx) * k; ty = y - (y - ty) * k; scale *= k;
    apply();
  }, { passive: false });
  let drag = null;
  view.addEventListener("mousedown", (e) => { drag = [e.clientX - tx, e.clientY - ty, false]; });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    tx = e.clientX - drag[0]; ty = e.clientY - drag[1]; drag[2] = true;
    apply();
  });
  window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
  const dragged = () => drag && drag[2];

  // --- hover ----------------------------------------------------------------------------------------
  const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
  function describe(id) {
    if (id.startsWith("b:")) {
      return M.boxes[id.slice(2)].layers.map((l) =>
        "<b>" + esc(l.name) + "</b>  " + esc(l.op) + (l.args ? "(" + esc(l.args) + ")" : "") + "\n" +
        esc(l.in.join(", ") || "—") + " → " + esc(l.out) + "\nparams " + l.params.toLocaleString("en") +
        " · MACs " + (l.macs === null ? "?" : l.macs.toLocaleString("en")) +
        (l.at ? "\n" + esc(l.at) + "\n<code>" + esc(l.line.trim()) + "</code>" : "")).join("\n\n");
    }
    const g = M.groups[id.slice(2)];
    return "<b>" + esc(g.label) + "</b>  (" + g.layers + " layers; click to " + (id.startsWith("f:") ? "open" : "close") + ")\n" +
      esc(g.flow) + "\nparams " + g.params.toLocaleString("en") + " · MACs " + (g.macs === null ? "?" : g.macs.toLocaleString("en")) +
      (g.at ? "\n" + esc(g.at) + "\n<code>" + esc(g.line.trim()) + "</code>" : "");
  }
  function hover(el, id) {
    el.addEventListener("mousemove", (e) => {
      if (drag) return;
      tip.innerHTML = describe(id);
      tip.style.display = "block";
      tip.style.left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 4) + "px";
      tip.style.top = Math.min(e.clientY + 14, window.innerHeight - tip.offsetHeight - 4) + "px";
    });
    el.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  }

  // --- drawing ----------------------------------------------------------------------------------------
  let viz = null, first = true;
  function draw() {
    const svg = viz.renderSVGElement(dot());
    svg.querySelectorAll("title").forEach((t) => t.remove());   // the tooltip is ours
    canvas.replaceChildren(svg);
    svg.querySelectorAll("g.node, g.cluster").forEach((el) => {
      const id = el.id;
      if (!id) return;
      hover(el, id);
      if (hits.has(id)) el.classList.add("hit");
      if (id.startsWith("f:") || id.startsWith("c:")) {
        el.addEventListener("click", (e) => {
          if (dragged()) return;
          e.stopPropagation();
          tip.style.display = "none";
          const gid = id.slice(2);
          if (open.has(gid)) open.delete(gid); else open.add(gid);
          draw();
        });
      }
    });
    if (first) { fit(); first = false; }
    window.cnndslState = { open: [...open].sort(), boxes: svg.querySelectorAll("g.node").length };
  }

  function search(text) {
    hits = new Set();
    const t = text.trim().toLowerCase();
    if (t) {
      for (const [id, b] of Object.entries(M.boxes)) {
        if (b.layers.some((l) => l.name.toLowerCase().includes(t))) {
          chain[id].forEach((g) => open.add(g));
          hits.add("b:" + id);
        }
      }
    }
    found.textContent = t ? hits.size + (hits.size === 1 ? " match" : " matches") : "";
    draw();
    const el = canvas.querySelector("g.node.hit");
    if (el) {
      const r = el.getBoundingClientRect(), v = view.getBoundingClientRect();
      tx += v.left + v.width / 2 - (r.left + r.width / 2); ty += v.top + v.height / 2 - (r.top + r.height / 2);
      apply();
    }
  }
  let timer = null;
  document.getElementById("cnndsl-search").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => search(e.target.value), 200);
  });
  document.getElementById("cnndsl-fit").addEventListener("click", fit);
  document.getElementById("cnndsl-expand").addEventListener("click", () => { Object.keys(M.groups).forEach((g) => open.add(g)); draw(); });
  document.getElementById("cnndsl-collapse").addEventListener("click", () => { open.clear(); draw(); fit(); });

  const started = performance.now();
  Viz.instance().then((v) => {
    viz = v;
    draw();
    window.cnndslReady = performance.now() - started;
  }).catch((err) => { console.error("cnndsl: the layout engine failed:", err); });
})();
