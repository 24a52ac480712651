// An experiment's report on its page (`report`, experiment.json, from /results; its verdict
// heads the page): the stitched out-of-sample record (the seeds' spread, the seed-averaged
// policy's Sharpe difference over buy-and-hold with its interval, the Deflated Sharpe Ratio for
// the configurations tried), each fold's configuration chosen on validation with its test Sharpe
// per seed next to buy-and-hold, the cost sensitivity, and the missing runs; and the report's
// charts (walk_forward.svg, seeds.svg), fetched with the secret and shown from object URLs.

import { api } from './api.js';
import { $, el, link, placeholder } from './dom.js';
import { day, finite, fixed, integer, interval, signed } from './format.js';

const plural = (n, one, many = one + 's') => `${integer(n)} ${n === 1 ? one : many}`;
const seedLink = (s, text) => (s.job_id ? link(text, '#/jobs/' + encodeURIComponent(s.job_id)) : el('span', 'muted', text));

function section(name, title, caption) {
  const node = el('div', 'report-section');
  node.dataset.section = name;
  const head = el('h3', '', title);
  if (caption) head.append(el('span', 'muted', caption));
  node.append(head);
  return node;
}

function table(headers, rows) {
  const t = el('table', 'table report-table');
  const head = el('tr');
  for (const [label, cls] of headers) head.append(el('th', cls || '', label));
  const thead = el('thead');
  thead.append(head);
  const tbody = el('tbody');
  tbody.append(...rows);
  t.append(thead, tbody);
  const wrap = el('div', 'table-wrap');
  wrap.append(t);
  return wrap;
}

function figure(label, value, note, cls) {
  const f = el('div', 'figure');
  f.append(el('div', 'label', label), el('div', 'value' + (cls ? ' ' + cls : ''), value));
  if (note) f.append(el('div', 'note muted', note));
  return f;
}

/** Renders `report` (experiment.json) into #exp-report. */
export function renderReport(report) {
  const box = $('exp-report');
  const level = Math.round((report.level || 0.95) * 100) + '%';
  const parts = [];
  parts.push(
    el(
      'p',
      'muted',
      `${plural(report.configurations_tried || 0, 'configuration')} × ${plural(report.seeds || 0, 'seed')} × ` +
        `${plural(report.folds || 0, 'fold')} = ${plural(report.runs_total || 0, 'run')}, ${integer(report.runs_done || 0)} finished.`,
    ),
  );
  const s = report.stitched;
  if (s) parts.push(...stitched(report, s, level));
  else parts.push(el('p', 'empty', 'No stitched out-of-sample record: see the verdict.'));
  parts.push(perFold(report));
  if (s && (s.cost_sensitivity || []).length) parts.push(costs(s, level));
  parts.push(missing(report));
  const how = el(
    'p',
    'muted how',
    "How to read: each fold's configuration is chosen on validation only (the mean over seeds of each run's kept " +
      "model's validation Sharpe, the best of that run's validation looks, so optimistic, alike for every " +
      "configuration that looks as often); the chosen runs' test slices, stitched " +
      'in time, are one out-of-sample record per seed. An edge counts only if the seed-averaged policy beats ' +
      `buy-and-hold with a ${level} interval above 0 and the deflated Sharpe ratio, which accounts for the ` +
      `${plural(Math.max(1, report.configurations_tried || 0), 'configuration')} tried, is at least 0.95.`,
  );
  parts.push(how);
  box.replaceChildren(...parts);
}

function stitched(report, s, level) {
  const out = [];
  const d = s.versus_buy_and_hold || {};
  const sp = s.spread || {};
  const dsr = s.deflated || {};
  const trials = Math.max(dsr.trials || 0, (s.trials && s.trials.configurations) || 0, 1);
  const figures = el('div', 'figures');
  figures.dataset.section = 'stitched';
  figures.append(
    figure(
      'Sharpe over buy-and-hold',
      signed(d.difference),
      `${interval(d.interval)} ${level}, ${d.significant ? 'excludes 0' : 'includes 0'}`,
      d.significant && d.difference > 0 ? 'good' : '',
    ),
    figure('Deflated Sharpe ratio', fixed(dsr.probability, 3), `for ${plural(trials, 'configuration')} tried`, dsr.probability >= 0.95 ? 'good' : ''),
    figure('Seed-averaged Sharpe', signed(s.averaged_sharpe), interval(s.averaged_sharpe_ci)),
    figure('Buy-and-hold', signed(s.buy_and_hold_sharpe), 'same bars'),
    figure('Seeds beating it', `${integer(sp.beating_buy_and_hold)} of ${integer(sp.seeds)}`),
  );
  out.push(figures);

  const spread = section('spread', 'Seeds', 'stitched test Sharpe of each seed');
  const seeds = (s.seed_indices || []).map((i, k) => `seed ${i} ${signed((s.seed_sharpes || [])[k])}`);
  const ul = el('ul', 'facts-list');
  ul.append(
    el(
      'li',
      '',
      `${plural(s.folds || 0, 'fold')}, ${integer(s.bars)} bars, ${s.from_ms ? day(s.from_ms) : '–'} → ${s.to_ms ? day(s.to_ms) : '–'}, ` +
        `${integer((s.seed_indices || []).length)} of ${integer(report.seeds || (s.seed_indices || []).length)} seeds`,
    ),
    el(
      'li',
      '',
      `Median ${signed(sp.median)}, quartiles ${signed(sp.lower_quartile)} to ${signed(sp.upper_quartile)}, ` +
        `worst ${signed(sp.worst)}, best ${signed(sp.best)}`,
    ),
    el('li', '', 'Per seed: ' + (seeds.join(', ') || '–')),
    el(
      'li',
      '',
      `Seed-averaged policy over buy-and-hold: ${signed(d.difference)} ${interval(d.interval)} (${level} paired block ` +
        `bootstrap${d.interval && finite(d.interval.block_len) && d.interval.block_len > 0 ? `, mean block ${d.interval.block_len.toFixed(1)} bars` : ''}): ` +
        (d.significant ? 'the interval excludes 0' : 'the interval includes 0'),
    ),
  );
  const luck =
    trials > 1 && finite(dsr.benchmark) && report.bars_per_year > 0
      ? `; the best of ${trials} would show ${signed(dsr.benchmark * Math.sqrt(report.bars_per_year))} by luck alone`
      : '';
  const dsrLine = el(
    'li',
    '',
    `Deflated Sharpe ratio ${fixed(dsr.probability, 3)} for ${plural(trials, 'configuration')} tried: ` +
      `a ${finite(dsr.probability) ? (dsr.probability * 100).toFixed(1) : '–'}% probability that the Sharpe ratio is not luck${luck}`,
  );
  dsrLine.dataset.section = 'dsr';
  ul.append(dsrLine);
  spread.append(ul);
  out.push(spread);
  return out;
}

function perFold(report) {
  const node = section('per-fold', 'Per fold', 'the configuration chosen on validation; its test Sharpe per seed');
  const folds = report.per_fold || [];
  if (!folds.length) {
    node.append(el('p', 'empty', 'No fold was reported.'));
    return node;
  }
  const rows = folds.map((f) => {
    const tr = el('tr');
    tr.dataset.fold = String(f.fold);
    const slice =
      f.test_from_ms && f.test_to_ms ? `${day(f.test_from_ms)} → ${day(f.test_to_ms)} (${integer(f.test_bars)} bars)` : 'no test walk';
    const chosen = f.chosen_config === null || f.chosen_config === undefined ? 'none: no run finished' : `config ${f.chosen_config}`;
    const candidates = el('td');
    for (const c of f.candidates || []) {
      const line = el('div', c.config === f.chosen_config ? 'picked' : 'muted', `config ${c.config}: ${signed(c.mean_validation_sharpe)}`);
      line.append(el('span', 'muted', ` (${integer(c.seeds_done)}/${integer(report.seeds)} seeds)`));
      candidates.append(line);
    }
    const tests = el('td', 'num');
    for (const s of f.chosen || []) {
      const sharpe = finite(s.test_sharpe) ? signed(s.test_sharpe) : (s.state || '').toLowerCase() || '–';
      const line = el('div');
      line.append(seedLink(s, `seed ${s.seed_index}: ${sharpe}`));
      tests.append(line);
    }
    const mean = el('td', 'num', signed(f.mean_test_sharpe));
    if (finite(f.mean_test_sharpe) && finite(f.buy_and_hold_sharpe)) mean.classList.add(f.mean_test_sharpe > f.buy_and_hold_sharpe ? 'good' : 'bad');
    tr.append(el('td', 'num', String(f.fold)), el('td', 'nowrap', slice), el('td', 'nowrap', chosen), candidates, tests, mean, el('td', 'num', signed(f.buy_and_hold_sharpe)));
    return tr;
  });
  node.append(
    table(
      [['Fold', 'num'], ['Test slice'], ['Chosen'], ['Validation Sharpe (mean)'], ['Test Sharpe', 'num'], ['Mean test', 'num'], ['Buy & hold', 'num']],
      rows,
    ),
  );
  return node;
}

function costs(s, level) {
  const node = section('cost-sensitivity', 'Cost sensitivity', `the seed-averaged policy re-run at each cost; buy-and-hold ${signed(s.buy_and_hold_sharpe)}`);
  const rows = s.cost_sensitivity.map((c) => {
    const d = c.versus_buy_and_hold || {};
    const tr = el('tr');
    tr.append(
      el('td', '', `${fixed(c.cost_bps, 0)} bp`),
      el('td', 'num', signed(c.sharpe)),
      el('td', 'num', signed(d.difference)),
      el('td', 'num', interval(d.interval)),
      el('td', d.significant ? '' : 'muted', d.significant ? 'excludes 0' : 'includes 0'),
    );
    return tr;
  });
  node.append(table([['Cost'], ['Sharpe', 'num'], ['Over buy-and-hold', 'num'], [level + ' interval', 'num'], ['']], rows));
  return node;
}

function missing(report) {
  const runs = report.missing || [];
  const excluded = report.excluded_seeds || [];
  const notes = report.notes || [];
  const node = section('missing', 'Missing runs', runs.length ? `${runs.length}, never averaged in` : '');
  if (!runs.length && !excluded.length) node.append(el('p', 'empty', 'None: every run finished and was read.'));
  if (runs.length) {
    const ul = el('ul', 'facts-list');
    for (const m of runs) {
      const li = el('li', '', `config ${m.config}, seed ${m.seed_index}, fold ${m.fold}: `);
      if (m.job_id) li.append(link(m.job_id, '#/jobs/' + encodeURIComponent(m.job_id), 'mono'), ' ');
      li.append(m.reason || (m.state || '').toLowerCase());
      ul.append(li);
    }
    node.append(ul);
  }
  if (excluded.length) {
    node.append(el('p', 'muted', 'Left out of the stitched figures:'));
    const ul = el('ul', 'facts-list');
    for (const e of excluded) ul.append(el('li', '', `seed ${e.seed_index}: ${e.reason}`));
    node.append(ul);
  }
  if (notes.length) {
    const ul = el('ul', 'facts-list muted');
    for (const n of notes) ul.append(el('li', '', n));
    node.append(ul);
  }
  return node;
}

/**
 * Shows the SVG at `path` (fetched with the secret) as an image in `node`: from an object URL,
 * revoked once drawn. An image runs no script, whatever the file holds.
 */
export async function showSvg(node, path, alt, signal) {
  const res = await api(path, { signal, headers: { Accept: 'image/svg+xml' } });
  const blob = new Blob([await res.arrayBuffer()], { type: 'image/svg+xml' });
  if (signal.aborted) return;
  const url = URL.createObjectURL(blob);
  const img = el('img', 'svg-chart');
  img.alt = alt;
  const drawn = new Promise((resolve) => {
    img.addEventListener('load', () => resolve(true), { once: true });
    img.addEventListener('error', () => resolve(false), { once: true });
  });
  img.src = url;
  node.replaceChildren(img);
  const ok = await drawn;
  URL.revokeObjectURL(url);
  if (!ok) placeholder(node, `${alt}: the chart could not be drawn.`);
}
