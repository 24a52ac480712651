// The page's elements: lookup by id, new elements whose text is set with textContent (never
// parsed as HTML), links to a job's and an experiment's page, a state badge, the connection
// indicator, the error banner and the placeholder shown in place of a chart.

import { jobState } from './format.js';

export const $ = (id) => document.getElementById(id);

/** An element with a class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/** A link (its text set as text) to `href`. */
export const link = (text, href, className) => Object.assign(el('a', className, text), { href });

/** A link to job `id`'s page. */
export const jobLink = (id) => link(id, '#/jobs/' + encodeURIComponent(id), 'mono');

/** A link to experiment `id`'s page. */
export const experimentLink = (id) => link(id, '#/experiments/' + encodeURIComponent(id), 'mono');

/** A job's or an experiment's state as a badge (styled by its data-state). */
export function badge(state) {
  const s = jobState(state) || 'UNKNOWN';
  const node = el('span', 'badge state', s);
  node.dataset.state = s;
  return node;
}

/** The connection indicator in the top bar: `state` is ok, retrying, error or idle. */
export function setConn(state, text) {
  const conn = $('conn');
  conn.dataset.state = state;
  conn.textContent = text;
}

/** The error banner; hidden when `text` is empty. */
export function showBanner(text) {
  const banner = $('banner');
  banner.hidden = !text;
  banner.textContent = text || '';
}

/** A line of text in place of a chart's contents. */
export function placeholder(node, text) {
  node.replaceChildren(el('div', 'placeholder', text));
}
