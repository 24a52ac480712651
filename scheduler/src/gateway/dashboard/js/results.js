// A job's results on its page: the headline (Sharpe next to buy-and-hold, the verdict, the
// improvement), the out-of-sample metrics table (per symbol, cost sensitivity, fixed
// policies), and the equity and learning curves drawn from the job's CSV artifacts.

import { lineChart } from './charts.js';
import { $, el, placeholder } from './dom.js';
import { compact, day, finite, fixed, improvement, integer, jobState, percent, signed, signedPercent } from './format.js';

/** Rows of a numeric CSV with a header, as objects (empty cells are NaN). */
export function parseCsv(text) {
  const lines = text.trim().split(/\r?\n/);
  if (lines.length < 2) return [];
  const header = lines[0].split(',');
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    const row = {};
    header.forEach((h, i) => {
      row[h] = cells[i] === undefined || cells[i] === '' ? NaN : Number(cells[i]);
    });
    return row;
  });
}

/** The result card (#headline) of `job`; `metricsFile` is its metrics.json once loaded. */
export function renderHeadline(job, metricsFile) {
  const r = job.result;
  const box = $('headline');
  if (!r) {
    const s = jobState(job.state);
    const text = s === 'FAILED' ? 'The job failed: no result.' : s === 'CANCELLED' ? 'The job was cancelled: no result.' : 'The result appears when the job is done.';
    box.replaceChildren(el('p', 'empty', text));
    return;
  }
  const figures = el('div', 'figures');
  const figure = (label, value, cls) => {
    const f = el('div', 'figure');
    f.append(el('div', 'label', label), el('div', 'value' + (cls ? ' ' + cls : ''), value));
    return f;
  };
  const beat = r.sharpe > r.buyAndHoldSharpe;
  figures.append(
    figure('Sharpe (PPO)', fixed(r.sharpe), beat ? 'good' : 'bad'),
    figure('Buy-and-hold', fixed(r.buyAndHoldSharpe)),
    figure('Difference', signed(r.sharpe - r.buyAndHoldSharpe)),
  );
  const verdict = el(
    'div',
    'verdict' + (r.edgeSignificant ? ' good' : ''),
    r.edgeSignificant
      ? 'A significant edge: the Sharpe’s confidence interval excludes 0.'
      : 'Not a significant edge: the Sharpe’s confidence interval includes 0.',
  );
  const notes = el('ul');
  notes.append(
    el('li', '', `Generation ${r.generation}` + (r.champion ? ' (new champion)' : '')),
    el('li', '', `Improvement: ${improvement(r.improvement)}`),
    el('li', '', `Training stopped: ${(r.stopReason || 'completed').replace(/_/g, ' ')}`),
  );
  if (metricsFile && finite(metricsFile.kept_model_steps)) {
    notes.append(
      el(
        'li',
        '',
        `Kept model: validated at ${integer(metricsFile.kept_model_steps)} of ${integer(metricsFile.steps_done)} steps` +
          (finite(metricsFile.kept_model_validation_sharpe) ? ` (validation Sharpe ${fixed(metricsFile.kept_model_validation_sharpe)})` : ''),
      ),
    );
  }
  box.replaceChildren(figures, verdict, notes);
}

/** The out-of-sample evaluation table (#metrics) from metrics.json (null before there is one). */
export function renderMetrics(metrics) {
  const table = $('metrics');
  const evaluation = metrics && metrics.evaluation;
  if (!evaluation) {
    table.replaceChildren();
    $('metrics-empty').hidden = false;
    $('metrics-empty').textContent = metrics ? 'This run stopped before it was evaluated.' : 'Metrics appear when the job is done.';
    return;
  }
  $('metrics-empty').hidden = true;
  const p = evaluation.portfolio || {};
  const level = p.strategy && p.strategy.sharpe_ci && p.strategy.sharpe_ci.level;
  const caption = [];
  if (p.from_ms && p.to_ms) caption.push(`test bars ${day(p.from_ms)} → ${day(p.to_ms)}`);
  if (finite(evaluation.cost)) caption.push(`cost ${(evaluation.cost * 1e4).toFixed(1)} bp per unit traded`);
  if (finite(evaluation.slippage_bps) && evaluation.slippage_bps > 0) caption.push(`+ ${evaluation.slippage_bps.toFixed(1)} bp slippage`);
  if (level) caption.push(`[${Math.round(level * 100)}% intervals: ${evaluation.bootstrap || 'bootstrap'}]`);
  $('metrics-caption').textContent = caption.join(' · ');

  const head = el('thead');
  const hr = el('tr');
  for (const [label, cls] of [
    ['', ''],
    ['Sharpe', 'num'],
    ['Sortino', 'num'],
    ['Max drawdown', 'num'],
    ['Total return', 'num'],
    ['Annual return', 'num'],
    ['Volatility', 'num'],
    ['Trades', 'num'],
    ['Hit rate', 'num'],
    ['In market', 'num'],
  ]) {
    hr.append(el('th', cls, label));
  }
  head.append(hr);
  const tbody = el('tbody');
  const symbols = Object.keys(evaluation.symbols || {});
  const groups = [];
  if (symbols.length === 1) {
    groups.push([symbols[0], evaluation.symbols[symbols[0]]]);
  } else {
    groups.push(['Portfolio (equal weight)', p]);
    for (const s of symbols) groups.push([s, evaluation.symbols[s]]);
  }
  for (const [name, seg] of groups) {
    const g = el('tr', 'group');
    g.append(Object.assign(el('td', '', name), { colSpan: 10 }));
    tbody.append(g, metricRow('PPO', 'ppo', seg.strategy || {}), metricRow('Buy-and-hold', 'bh', seg.buy_and_hold || {}));
    const cmp = seg.vs_buy_and_hold;
    if (cmp) {
      const d = el('tr', 'diff');
      const iv = cmp.interval || {};
      const informed = finite(seg.informed_sharpe) ? ` · best achievable (informed policy) ${fixed(seg.informed_sharpe)}` : '';
      const text = `Sharpe difference ${signed(cmp.difference)} [${signed(iv.lo)}, ${signed(iv.hi)}], ${cmp.significant ? 'significant' : 'not significant'}${informed}`;
      d.append(el('td'), Object.assign(el('td', '', text), { colSpan: 9 }));
      tbody.append(d);
    }
  }
  // The same policy re-run over the test bars at other costs, and fixed policies beside it.
  const extraRow = (label, sharpe, ret, rest) => {
    const tr = el('tr', 'extra');
    tr.append(el('td', '', label), el('td', 'num', fixed(sharpe)), el('td'), el('td'), el('td', 'num', signedPercent(ret)));
    tr.append(Object.assign(el('td', '', rest || ''), { colSpan: 5 }));
    return tr;
  };
  const costs = evaluation.cost_sensitivity || [];
  if (costs.length) {
    const g = el('tr', 'group');
    g.append(Object.assign(el('td', '', 'Cost sensitivity (the portfolio re-run at each cost)'), { colSpan: 10 }));
    g.dataset.section = 'cost-sensitivity';
    tbody.append(g);
    for (const c of costs) {
      const bh = `buy-and-hold ${fixed(c.buy_and_hold_sharpe)}, ${signedPercent(c.buy_and_hold_total_return)}`;
      tbody.append(extraRow(`${fixed(c.cost_bps, 0)} bp per unit traded`, c.sharpe, c.total_return, bh));
    }
  }
  const baselines = evaluation.baselines || [];
  if (baselines.length) {
    const g = el('tr', 'group');
    g.append(Object.assign(el('td', '', 'Fixed policies (same bars and costs)'), { colSpan: 10 }));
    tbody.append(g);
    for (const b of baselines) {
      tbody.append(extraRow(`${b.name} ${b.policy === 'short' ? 'always short' : b.policy}`, b.sharpe, b.total_return));
    }
  }
  table.replaceChildren(head, tbody);
}

function metricRow(label, cls, m) {
  const tr = el('tr', cls);
  tr.append(el('td', '', label));
  const sharpe = el('td', 'num', fixed(m.sharpe));
  if (m.sharpe_ci) sharpe.append(el('span', 'ci', `[${fixed(m.sharpe_ci.lo)}, ${fixed(m.sharpe_ci.hi)}]`));
  tr.append(
    sharpe,
    el('td', 'num', fixed(m.sortino)),
    el('td', 'num', percent(m.max_drawdown)),
    el('td', 'num', signedPercent(m.total_return)),
    el('td', 'num', signedPercent(m.annual_return)),
    el('td', 'num', percent(m.annual_volatility)),
    el('td', 'num', integer(m.trades)),
    el('td', 'num', percent(m.hit_rate)),
    el('td', 'num', percent(m.exposure)),
  );
  return tr;
}

/** The equity chart from equity.csv's rows: PPO and buy-and-hold, and each symbol's PPO when several. */
export function drawEquity(rows) {
  if (!rows.length) {
    placeholder($('equity-chart'), 'The equity curve is empty.');
    return;
  }
  const columns = Object.keys(rows[0]).filter((c) => c !== 'bar' && c !== 'time_ms');
  const x = rows.map((r) => r.time_ms);
  const series = [
    { name: 'PPO portfolio', y: rows.map((r) => r.portfolio), cls: 's0' },
    { name: 'Buy-and-hold portfolio', y: rows.map((r) => r.portfolio_buy_and_hold), cls: 's1 dash' },
  ];
  const symbols = columns.filter((c) => c !== 'portfolio' && c !== 'portfolio_buy_and_hold' && !c.endsWith('_buy_and_hold'));
  if (symbols.length > 1) {
    symbols.forEach((s, i) => series.push({ name: 'PPO ' + s, y: rows.map((r) => r[s]), cls: `s${2 + (i % 4)} thin` }));
  }
  $('equity-caption').textContent = `test segment, ${integer(rows.length - 1)} bars, start = 1`;
  lineChart($('equity-chart'), { series, x, time: true, baseline: 1 });
}

/** The learning charts: episode reward and (where there is any) validation Sharpe over steps. */
export function drawLearning(steps, reward, validation, validationName) {
  lineChart($('learning-chart'), {
    title: 'Mean episode reward (% log return)',
    series: [{ name: 'episode reward', y: reward, cls: 's0' }],
    x: steps,
    xFormat: compact,
    baseline: 0,
    height: 220,
  });
  const hasValidation = validation.some(finite);
  if (!hasValidation) {
    placeholder($('validation-chart'), 'No validation yet.');
    return;
  }
  lineChart($('validation-chart'), {
    title: 'Validation Sharpe (model selection)',
    series: [{ name: validationName, y: validation, cls: 's2', dots: true }],
    x: steps,
    xFormat: compact,
    baseline: 0,
    height: 220,
  });
}
