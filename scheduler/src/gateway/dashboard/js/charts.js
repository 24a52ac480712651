// SVG line charts (no library): axes with round ticks, grid, legend, a baseline, dots for
// sparse series and a hover read-out; charts are redrawn when the window is resized.

import { el } from './dom.js';
import { compact, dateTime, day, finite, integer } from './format.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, className) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (className) node.setAttribute('class', className);
  return node;
}

/** About `n` round tick values covering [lo, hi]. */
function niceTicks(lo, hi, n) {
  const span = hi - lo;
  const raw = span / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

/** Keeps at most `max` points, evenly spaced, always the last. */
function thin(indices, max) {
  if (indices.length <= max) return indices;
  const stride = indices.length / max;
  const out = [];
  for (let i = 0; i < max; i++) out.push(indices[Math.floor(i * stride)]);
  out.push(indices[indices.length - 1]);
  return out;
}

const charts = new Map(); // node → options, redrawn on resize

/**
 * An SVG line chart into `node`: `series` [{ name, y, cls, dots }] over the shared `x`
 * (unix ms when `time`), with axes, grid, a legend and a hover read-out.
 */
export function lineChart(node, options) {
  charts.set(node, options);
  const { series, x, time = false, title, xFormat, baseline, height = 280 } = options;
  const width = Math.max(280, node.clientWidth || 600);
  const m = { left: 52, right: 14, top: 10, bottom: 26 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;

  const idx = [];
  for (let i = 0; i < x.length; i++) if (finite(x[i])) idx.push(i);
  let ylo = Infinity;
  let yhi = -Infinity;
  for (const s of series) {
    for (const i of idx) {
      const v = s.y[i];
      if (finite(v)) {
        if (v < ylo) ylo = v;
        if (v > yhi) yhi = v;
      }
    }
  }
  node.replaceChildren();
  if (title) node.append(el('div', 'chart-title', title));
  const legend = el('div', 'legend');
  for (const s of series) {
    const key = el('span');
    const k = s.cls.match(/s(\d)/);
    const mark = el('i', (s.dots ? 'dotted ' : '') + (s.cls.includes('dash') ? 'dash ' : '') + 'k' + (k ? k[1] : '0'));
    key.append(mark, s.name);
    legend.append(key);
  }
  node.append(legend);
  if (!idx.length || !finite(ylo)) {
    node.append(el('div', 'placeholder', 'No data yet.'));
    return;
  }
  const xlo = x[idx[0]];
  let xhi = x[idx[idx.length - 1]];
  if (xhi === xlo) xhi = xlo + 1;
  if (finite(baseline) && baseline >= ylo - (yhi - ylo) * 0.25 && baseline <= yhi + (yhi - ylo) * 0.25) {
    ylo = Math.min(ylo, baseline);
    yhi = Math.max(yhi, baseline);
  }
  if (yhi === ylo) {
    const pad = Math.abs(ylo) * 0.05 || 1;
    ylo -= pad;
    yhi += pad;
  }
  const ypad = (yhi - ylo) * 0.06;
  ylo -= ypad;
  yhi += ypad;
  const sx = (v) => m.left + ((v - xlo) / (xhi - xlo)) * w;
  const sy = (v) => m.top + (1 - (v - ylo) / (yhi - ylo)) * h;

  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  root.setAttribute('aria-label', (title || 'chart') + ': ' + series.map((s) => s.name).join(', '));
  const axis = svg('g', {}, 'axis');
  const yticks = niceTicks(ylo, yhi, Math.max(3, Math.round(h / 45)));
  const ystep = yticks.length > 1 ? yticks[1] - yticks[0] : 1;
  const decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10(ystep) - 1e-9)));
  const yFormat = (v) => (Math.abs(v) >= 1e4 ? compact(v) : v.toFixed(decimals));
  for (const t of yticks) {
    const y = sy(t);
    root.append(svg('line', { x1: m.left, x2: m.left + w, y1: y, y2: y }, 'gridline'));
    const label = svg('text', { x: m.left - 8, y: y + 3.5, 'text-anchor': 'end' });
    label.textContent = yFormat(t);
    axis.append(label);
  }
  const timeTicks = Math.max(2, Math.min(7, Math.floor(w / 120)));
  const xticks = time
    ? Array.from({ length: timeTicks }, (_, i) => xlo + ((xhi - xlo) * i) / (timeTicks - 1))
    : niceTicks(xlo, xhi, Math.max(2, Math.floor(w / 90)));
  xticks.forEach((t, i) => {
    const label = svg('text', {
      x: sx(t),
      y: m.top + h + 17,
      'text-anchor': time && i === 0 ? 'start' : time && i === xticks.length - 1 ? 'end' : 'middle',
    });
    label.textContent = time ? day(t) : (xFormat || String)(t);
    axis.append(label);
  });
  root.append(axis);
  if (finite(baseline) && baseline > ylo && baseline < yhi) {
    root.append(svg('line', { x1: m.left, x2: m.left + w, y1: sy(baseline), y2: sy(baseline) }, 'zero'));
  }
  root.append(svg('rect', { x: m.left, y: m.top, width: w, height: h }, 'frame'));

  const kept = thin(idx, Math.max(200, Math.floor(w * 1.5)));
  series.forEach((s, n) => {
    let d = '';
    let pen = false;
    for (const i of kept) {
      const v = s.y[i];
      if (!finite(v)) {
        pen = false;
        continue;
      }
      d += (pen ? 'L' : 'M') + sx(x[i]).toFixed(1) + ',' + sy(v).toFixed(1);
      pen = true;
    }
    if (s.dots) {
      const g = svg('g', {}, s.cls);
      for (const i of idx) {
        if (finite(s.y[i])) g.append(svg('circle', { cx: sx(x[i]).toFixed(1), cy: sy(s.y[i]).toFixed(1), r: 3 }, 'dot'));
      }
      root.append(svg('path', { d }, 'line thin ' + s.cls), g);
    } else {
      const path = svg('path', { d }, 'line ' + s.cls);
      path.dataset.series = String(n);
      root.append(path);
    }
  });

  // Hover read-out.
  const cursor = svg('line', { y1: m.top, y2: m.top + h, x1: m.left, x2: m.left, visibility: 'hidden' }, 'cursor');
  root.append(cursor);
  const tip = el('div', 'tip');
  tip.hidden = true;
  const hide = () => {
    tip.hidden = true;
    cursor.setAttribute('visibility', 'hidden');
  };
  root.addEventListener('mousemove', (e) => {
    const box = root.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * width;
    if (px < m.left || px > m.left + w) {
      hide();
      return;
    }
    const target = xlo + ((px - m.left) / w) * (xhi - xlo);
    let best = idx[0];
    for (const i of kept) if (Math.abs(x[i] - target) < Math.abs(x[best] - target)) best = i;
    const cx = sx(x[best]);
    cursor.setAttribute('x1', cx);
    cursor.setAttribute('x2', cx);
    cursor.setAttribute('visibility', 'visible');
    tip.replaceChildren(el('div', 'muted', time ? dateTime(x[best]) : `${integer(x[best])} steps`));
    for (const s of series) {
      if (finite(s.y[best])) tip.append(el('div', '', `${s.name}: ${s.y[best].toFixed(3)}`));
    }
    tip.hidden = false;
    const left = (cx / width) * box.width;
    tip.style.left = Math.min(left + 12, box.width - tip.offsetWidth - 4) + 'px';
    tip.style.top = '36px';
  });
  root.addEventListener('mouseleave', hide);
  node.append(root, tip);
}

/** Redraws the charts on the page to the window's new size (once resizing pauses). */
export function redrawChartsOnResize() {
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [node, options] of charts) {
        if (node.isConnected && node.querySelector('svg')) lineChart(node, options);
      }
    }, 150);
  });
}
