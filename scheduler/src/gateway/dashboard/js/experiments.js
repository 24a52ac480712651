// The list page's experiment panel (#experiments-body): the newest experiments, each with its
// state, progress over every run's steps, run counts and verdict, a row opening its page. It is
// re-read (changes coalesce) when one of its runs changes on the list's stream: soon after a
// run's change of state, within a couple of seconds for progress. A run is known by the
// `experiment` its job carries (in the job list, and in every change of state). The report
// follows an experiment's last run without an event of its own, so while one waits for it
// (every run ended, still RUNNING) the panel is re-read a few times, backing off. Older
// experiments come a page at a time when the user asks (#experiments-more).

import { aborted, apiJson } from './api.js';
import { $, badge, el, experimentLink } from './dom.js';
import { compact, dateTime, eventKind, experimentState, integer } from './format.js';
import { olderPages } from './paging.js';

// The experiments the panel reads per page.
const EXPERIMENT_LIMIT = 20;
// How soon a run's change re-reads the panel: a change of state, and progress.
const STATE_REREAD_MS = 250;
const PROGRESS_REREAD_MS = 2000;
// While an experiment waits for its report, the panel is re-read after each of these pauses.
const REPORT_WAITS_MS = [250, 500, 1000, 2000, 5000, 10000, 30000];

/** The panel, emptied; it reads nothing until `load()`. */
export function experimentPanel(signal) {
  const runs = new Set(); // ids of the jobs known to be runs of an experiment
  const body = $('experiments-body');
  body.replaceChildren();
  let shown = 0; // rows on the panel (a re-read reads as many)
  let timer = null;
  let due = Infinity;
  let reportWait = 0;
  signal.addEventListener('abort', () => clearTimeout(timer));

  const setNext = olderPages(
    $('experiments-more'),
    signal,
    (page) => {
      body.append(...page.experiments.map(row));
      shown += page.experiments.length;
    },
    'older experiments',
  );

  function row(e) {
    const state = experimentState(e.state);
    const tr = el('tr');
    tr.dataset.experimentId = e.id;
    tr.dataset.state = state;
    const id = el('td');
    id.append(experimentLink(e.id));
    const stateCell = el('td');
    stateCell.append(badge(state));
    const total = e.totalSteps || 0;
    const ended = (e.runsDone || 0) + (e.runsFailed || 0) + (e.runsCancelled || 0);
    // A reported experiment is whole; a running or cancelled one shows the steps its runs took.
    const pct = state === 'DONE' || state === 'FAILED' ? 100 : total ? Math.min(100, (100 * (e.stepsDone || 0)) / total) : 0;
    const progress = el('td', 'progress-cell');
    const track = el('div', 'progress');
    track.dataset.state = state === 'RUNNING' ? 'TRAINING' : state;
    const bar = el('div', 'bar');
    bar.style.width = pct + '%';
    track.append(bar);
    const line = el('div', 'line');
    line.append(el('span', 'msg', `${compact(e.stepsDone || 0)} / ${compact(total)} steps`), el('span', 'pct', pct.toFixed(0) + '%'));
    progress.append(track, line);
    const counts = [`${integer(ended)} / ${integer(e.runsTotal)} ended`];
    if (e.runsRunning) counts.push(`${integer(e.runsRunning)} running`);
    if (e.runsQueued) counts.push(`${integer(e.runsQueued)} queued`);
    if (e.runsFailed) counts.push(`${integer(e.runsFailed)} failed`);
    if (e.runsCancelled) counts.push(`${integer(e.runsCancelled)} cancelled`);
    const spec = e.spec || {};
    const grid = `${integer((e.configs || []).length)} × ${integer(spec.seeds)} × ${integer(spec.folds)}`;
    const gridCell = el('td', 'num', grid);
    gridCell.title = 'configurations × seeds × folds';
    const verdict = el('td', 'verdict-cell', e.verdict || (state === 'RUNNING' ? '' : '–'));
    verdict.title = e.verdict || '';
    tr.append(
      id,
      stateCell,
      progress,
      el('td', '', (spec.base && spec.base.symbols ? spec.base.symbols : []).join(', ') || '–'),
      gridCell,
      el('td', 'runs-cell', counts.join(' · ')),
      verdict,
      el('td', 'muted nowrap', dateTime(e.createdMs)),
    );
    tr.addEventListener('click', (event) => {
      if (event.target.closest('a')) return;
      location.hash = '#/experiments/' + encodeURIComponent(e.id);
    });
    return tr;
  }

  function render(list) {
    body.replaceChildren(...list.experiments.map(row));
    shown = list.experiments.length;
    setNext(list.next);
    $('experiments-empty').hidden = shown > 0;
    $('experiments').hidden = shown === 0;
    // One waits for its report: look again, backing off; the pauses start over once none waits.
    const waiting = list.experiments.some(
      (e) => experimentState(e.state) === 'RUNNING' && e.runsTotal > 0 && !e.runsQueued && !e.runsRunning,
    );
    if (!waiting) reportWait = 0;
    else if (reportWait < REPORT_WAITS_MS.length) rereadSoon(REPORT_WAITS_MS[reportWait++]);
  }

  /** Reads the newest experiments (as many as the panel shows). */
  async function load() {
    const limit = Math.max(EXPERIMENT_LIMIT, shown);
    const list = await apiJson('/api/training/experiments?limit=' + limit, { signal });
    if (!signal.aborted) render(list);
  }

  function rereadSoon(ms) {
    const at = Date.now() + ms;
    if (timer && due <= at) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(async () => {
      timer = null;
      due = Infinity;
      try {
        await load();
      } catch (e) {
        if (!aborted(e, signal)) console.warn('reading the experiments', e);
      }
    }, ms);
  }

  /** Notes which of `jobs` (a page of the job list) are runs of an experiment. */
  function noteJobs(jobs) {
    for (const job of jobs) if (job.experiment) runs.add(job.id);
  }

  /** One job's change from the list's stream: a run's change re-reads the panel soon. */
  function applyChange(event) {
    if (event.job && event.job.experiment) runs.add(event.jobId);
    if (!runs.has(event.jobId)) return;
    rereadSoon(eventKind(event.kind) === 'PROGRESS' ? PROGRESS_REREAD_MS : STATE_REREAD_MS);
  }

  return { load, noteJobs, applyChange };
}
