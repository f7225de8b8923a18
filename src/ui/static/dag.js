// A definition's DAG drawn as SVG. Layout: a step's column is the length of the longest
// depends_on chain leading to it (roots in column 0), so every edge points right; within a
// column steps (and the placeholders of edges that skip columns) are ordered by the mean row of
// their predecessors (two sweeps), which keeps most edges short and straight.

import {s} from './dom.js';

const W = 160;
const H = 46;
const GAP_X = 64;
const GAP_Y = 18;
const PAD = 12;

export function layout(definition) {
  const steps = (definition && Array.isArray(definition.steps)) ? definition.steps : [];
  const byId = new Map();
  steps.forEach((st, i) => byId.set(String(st.id), {id: String(st.id), type: String(st.type || ''), index: i,
    deps: (Array.isArray(st.depends_on) ? st.depends_on : []).map(String)}));
  const layer = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0;  // a cycle: the API refuses them, but never loop
    visiting.add(id);
    let d = 0;
    for (const dep of byId.get(id).deps) if (byId.has(dep)) d = Math.max(d, depth(dep) + 1);
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  const columns = [];
  const place = (n) => (columns[n.layer] = columns[n.layer] || []).push(n);
  for (const n of byId.values()) {
    n.layer = depth(n.id);
    n.preds = [];
    place(n);
  }
  // An edge that skips columns passes through a placeholder in each column it crosses, so the
  // ordering keeps room for it and it is drawn between the steps there, not through them.
  const edges = [];
  for (const n of byId.values()) {
    for (const d of n.deps) {
      if (!byId.has(d)) continue;
      const from = byId.get(d);
      const via = [];
      let prev = from;
      for (let l = from.layer + 1; l < n.layer; ++l) {
        const p = {id: '', dummy: true, layer: l, preds: [prev], index: from.index};
        place(p);
        via.push(p);
        prev = p;
      }
      n.preds.push(prev);
      edges.push({from, to: n, via});
    }
  }
  columns.forEach((col) => col.forEach((n, i) => { n.row = i; }));
  for (let sweep = 0; sweep < 2; ++sweep) {
    for (let c = 1; c < columns.length; ++c) {
      const key = new Map(columns[c].map((n) => [n, n.preds.length
        ? n.preds.reduce((a, p) => a + p.row, 0) / n.preds.length : n.row]));
      columns[c].sort((a, b) => key.get(a) - key.get(b) || a.index - b.index);
      columns[c].forEach((n, i) => { n.row = i; });
    }
  }
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const height = PAD * 2 + rows * H + (rows - 1) * GAP_Y;
  for (const col of columns) {
    const offset = (height - (col.length * H + (col.length - 1) * GAP_Y)) / 2;
    for (const n of col) {
      n.x = PAD + n.layer * (W + GAP_X);
      n.y = offset + n.row * (H + GAP_Y);
    }
  }
  const width = PAD * 2 + Math.max(1, columns.length) * W + Math.max(0, columns.length - 1) * GAP_X;
  return {nodes: [...byId.values()], edges, width, height};
}

// The SVG path of an edge: curves between columns, straight through each placeholder.
function edgePath(e) {
  const pts = [[e.from.x + W, e.from.y + H / 2]];
  for (const v of e.via) pts.push([v.x, v.y + H / 2], [v.x + W, v.y + H / 2]);
  pts.push([e.to.x, e.to.y + H / 2]);
  let d = `M ${pts[0][0]} ${pts[0][1]}`;
  for (let i = 1; i < pts.length; i += 2) {
    const [x1, y1] = pts[i - 1];
    const [x2, y2] = pts[i];
    const mx = (x1 + x2) / 2;
    d += ` C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`;
    if (i + 1 < pts.length) d += ` L ${pts[i + 1][0]} ${pts[i + 1][1]}`;
  }
  return d;
}

function shorten(text, max) {
  return text.length > max ? text.slice(0, max - 1) + '\u2026' : text;
}

// -> {svg, update(statuses)}: statuses maps a step id to its status (a class on its node).
export function drawDag(definition, label) {
  const g = layout(definition);
  const svg = s('svg', {class: 'dag', width: g.width, height: g.height, viewBox: `0 0 ${g.width} ${g.height}`,
    role: 'img', 'aria-label': label || 'Steps and their dependencies'},
  s('defs', {}, s('marker', {id: 'dag-arrow', viewBox: '0 0 10 10', refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
  s('path', {d: 'M 0 0 L 10 5 L 0 10 z', class: 'dag-arrow'}))));
  for (const e of g.edges) {
    svg.append(s('path', {class: 'dag-edge', d: edgePath(e), 'marker-end': 'url(#dag-arrow)',
      dataset: {from: e.from.id, to: e.to.id}}));
  }
  const nodes = new Map();
  for (const n of g.nodes) {
    const node = s('g', {class: 'dag-node', transform: `translate(${n.x} ${n.y})`,
      dataset: {step: n.id, layer: String(n.layer)}},
    s('title', {}, `${n.id} (${n.type})`),
    s('rect', {width: W, height: H, rx: 6}),
    s('text', {x: 10, y: 19, class: 'dag-id'}, shorten(n.id, 20)),
    s('text', {x: 10, y: 36, class: 'dag-type'}, n.type));
    nodes.set(n.id, node);
    svg.append(node);
  }
  const update = (statuses) => {
    for (const [id, node] of nodes) {
      const st = statuses[id];
      node.setAttribute('class', 'dag-node' + (st ? ' status-' + st : ''));
      if (st) node.dataset.status = st;
      else delete node.dataset.status;
    }
  };
  return {svg, update};
}
