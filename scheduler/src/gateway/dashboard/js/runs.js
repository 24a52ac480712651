// The experiment page's runs (#runs-body): one row per run, in the experiment's order
// (configuration, seed, fold), with its state, steps, validation, test and buy-and-hold Sharpe
// and a link to its job's page; kept as the experiment is re-read and as its runs' changes
// arrive on the event stream. A run that has ended stays ended (a re-read that raced an event
// cannot take it back), and steps only grow. Also the totals over every run (steps, states).

import { badge, el, jobLink } from './dom.js';
import { compact, fixed, isTerminal, jobState } from './format.js';

/** The runs table in `body`, emptied. */
export function runTable(body) {
  const rows = new Map(); // jobId → { run, seq, tr, cells, bar, progress }
  body.replaceChildren();

  function rowFor(run) {
    let row = rows.get(run.jobId);
    if (row) return row;
    const tr = el('tr');
    tr.dataset.jobId = run.jobId;
    const bar = el('div', 'bar');
    const progress = el('div', 'progress');
    progress.append(bar);
    const cells = {
      job: el('td'),
      config: el('td', 'num'),
      seed: el('td', 'num'),
      fold: el('td', 'num'),
      state: el('td'),
      steps: el('td', 'progress-cell'),
      validation: el('td', 'num'),
      test: el('td', 'num'),
      bh: el('td', 'num'),
    };
    cells.job.append(jobLink(run.jobId));
    const stepsText = el('div', 'line muted');
    cells.steps.append(progress, stepsText);
    tr.append(...Object.values(cells));
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      location.hash = '#/jobs/' + encodeURIComponent(run.jobId);
    });
    row = { run, seq: 0, tr, cells, bar, progress, stepsText, chosen: false };
    rows.set(run.jobId, row);
    return row;
  }

  function paint(row) {
    const r = row.run;
    const state = jobState(r.state);
    const cell = r.cell || {};
    row.tr.dataset.state = state;
    row.tr.classList.toggle('chosen', row.chosen);
    row.cells.config.textContent = String(cell.config ?? '–');
    row.cells.seed.textContent = String(cell.seedIndex ?? '–');
    row.cells.seed.title = r.seed !== undefined ? 'seed ' + r.seed : '';
    row.cells.fold.textContent = String(cell.fold ?? '–');
    row.cells.state.replaceChildren(badge(state));
    if (row.chosen) {
      const star = el('span', 'chosen-mark', '★');
      star.title = "this fold's configuration, chosen on validation";
      row.cells.state.append(star);
    }
    const total = r.totalSteps || 0;
    const pct = total ? Math.max(0, Math.min(100, (100 * (r.stepsDone || 0)) / total)) : 0;
    row.bar.style.width = pct + '%';
    row.progress.dataset.state = state;
    row.stepsText.textContent = `${compact(r.stepsDone || 0)} / ${compact(total)}`;
    const test = r.testSharpe;
    row.cells.validation.textContent = fixed(r.validationSharpe);
    row.cells.test.textContent = fixed(test);
    row.cells.test.className = 'num' + (Number.isFinite(test) && Number.isFinite(r.buyAndHoldSharpe) ? (test > r.buyAndHoldSharpe ? ' good' : ' bad') : '');
    row.cells.bh.textContent = fixed(r.buyAndHoldSharpe);
  }

  /** The runs as the experiment was read: rows added, updated and kept in its order. */
  function setRuns(runs) {
    const order = [];
    for (const run of runs) {
      const row = rowFor(run);
      const old = row.run;
      const next = { ...run };
      if (old !== run && isTerminal(old.state) && !isTerminal(run.state)) next.state = old.state;
      next.stepsDone = Math.max(old.stepsDone || 0, run.stepsDone || 0);
      row.run = next;
      paint(row);
      order.push(row.tr);
    }
    body.replaceChildren(...order);
  }

  /**
   * One change from the stream (a job's event). Returns 'ended' when it ended a run, 'changed'
   * when it changed one, '' when it is not one of these runs or changes nothing.
   */
  function applyChange(event) {
    const row = rows.get(event.jobId);
    if (!row || (event.sequence || 0) <= row.seq) return '';
    row.seq = event.sequence || 0;
    const run = row.run;
    if (isTerminal(run.state)) return '';
    const next = { ...run, stepsDone: Math.max(run.stepsDone || 0, event.stepsDone || 0) };
    if (event.state) next.state = jobState(event.state);
    if (event.job && event.job.stepsDone) next.stepsDone = Math.max(next.stepsDone, event.job.stepsDone);
    row.run = next;
    paint(row);
    return isTerminal(next.state) ? 'ended' : 'changed';
  }

  /** Marks the runs of `jobIds` as their fold's chosen configuration (from the report). */
  function markChosen(jobIds) {
    for (const row of rows.values()) {
      row.chosen = jobIds.has(row.run.jobId);
      paint(row);
    }
  }

  /**
   * Over every run: steps done and asked for, the share of the work behind (a run that ended
   * counts whole: nothing more runs of it), how many runs are in each state, and whether all ended.
   */
  function totals() {
    let done = 0;
    let behind = 0;
    let total = 0;
    const states = {};
    for (const { run } of rows.values()) {
      const steps = Math.min(run.stepsDone || 0, run.totalSteps || 0);
      done += steps;
      behind += isTerminal(run.state) ? run.totalSteps || 0 : steps;
      total += run.totalSteps || 0;
      const s = jobState(run.state);
      states[s] = (states[s] || 0) + 1;
    }
    const ended = (states.DONE || 0) + (states.FAILED || 0) + (states.CANCELLED || 0);
    const share = total ? behind / total : 0;
    return { done, total, share, states, runs: rows.size, ended, allEnded: rows.size > 0 && ended === rows.size };
  }

  return { setRuns, applyChange, markChosen, totals, ids: () => [...rows.keys()] };
}
