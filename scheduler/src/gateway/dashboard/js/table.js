// The list page's job table (#jobs-body): one row per job, newest first: the first page of
// LIST_LIMIT and the older pages the user asked for (appendJobs),
// with its state badge, progress, steps, times and Sharpe next to buy-and-hold; each row records
// the phases it showed (data-phases) and the changes it received live (data-events). Also the
// Done and Failed · cancelled counts and the empty-list note.

import { $, badge, el } from './dom.js';
import { compact, dateTime, duration, eventKind, fixed, jobState } from './format.js';
import { applyEvent, elapsed } from './model.js';

/** The jobs the list reads per page (and shows before the user asks for older ones). */
export const LIST_LIMIT = 100;

/**
 * The table, emptied. `onStateChange()` runs after a change of a job's state was applied (the
 * queue and trainer panels follow it).
 */
export function jobTable(onStateChange) {
  const rows = new Map(); // id → { tr, cells, bar, progress, pct, msg, job, events, phases }
  const body = $('jobs-body');
  body.replaceChildren();
  // The most rows shown: a page, plus the older pages appended.
  let limit = LIST_LIMIT;

  function rowFor(job) {
    let row = rows.get(job.id);
    if (row) return row;
    const tr = el('tr');
    tr.dataset.jobId = job.id;
    const link = el('a', 'mono', job.id);
    link.href = '#/jobs/' + encodeURIComponent(job.id);
    const bar = el('div', 'bar');
    const progress = el('div', 'progress');
    progress.append(bar);
    const pct = el('span', 'pct');
    const msg = el('span', 'msg');
    const line = el('div', 'line');
    line.append(msg, pct);
    const cells = {
      id: el('td'),
      state: el('td'),
      progress: el('td', 'progress-cell'),
      symbols: el('td'),
      steps: el('td', 'num'),
      created: el('td', 'muted'),
      time: el('td', 'num muted'),
      sharpe: el('td', 'num'),
      bh: el('td', 'num'),
    };
    cells.id.append(link);
    cells.progress.append(progress, line);
    tr.append(...Object.values(cells));
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      location.hash = '#/jobs/' + encodeURIComponent(job.id);
    });
    row = { tr, cells, bar, progress, pct, msg, job, events: 0, phases: [] };
    rows.set(job.id, row);
    return row;
  }

  function paint(row) {
    const job = row.job;
    const state = jobState(job.state);
    row.tr.dataset.state = state;
    row.cells.state.replaceChildren(badge(state));
    const pct = Math.max(0, Math.min(100, job.percent || 0));
    row.bar.style.width = pct + '%';
    row.progress.dataset.state = state;
    row.pct.textContent = pct.toFixed(0) + '%';
    row.msg.textContent = state === 'QUEUED' && job.queuePosition ? `#${job.queuePosition} in the queue` : job.message || '';
    row.msg.title = job.error || job.message || '';
    const spec = job.spec || {};
    row.cells.symbols.textContent = (spec.symbols || []).join(', ') || '–';
    row.cells.steps.textContent = `${compact(job.stepsDone)} / ${compact(job.totalSteps)}`;
    row.cells.created.textContent = dateTime(job.createdMs);
    row.cells.time.textContent = job.startedMs ? duration(elapsed(job)) : '–';
    const result = job.result;
    row.cells.sharpe.textContent = result ? fixed(result.sharpe) : '–';
    row.cells.sharpe.className = 'num' + (result ? (result.sharpe > result.buyAndHoldSharpe ? ' good' : ' bad') : '');
    row.cells.bh.textContent = result ? fixed(result.buyAndHoldSharpe) : '–';
    row.tr.dataset.events = String(row.events);
    row.tr.dataset.phases = row.phases.join(' ');
  }

  /** Notes the state a row shows, once per change: the phases it went through on this page. */
  function notePhase(row) {
    const state = jobState(row.job.state);
    if (row.phases[row.phases.length - 1] !== state) row.phases.push(state);
  }

  function renderStats() {
    let done = 0;
    let failed = 0;
    for (const row of rows.values()) {
      const s = jobState(row.job.state);
      if (s === 'DONE') done += 1;
      if (s === 'FAILED' || s === 'CANCELLED') failed += 1;
    }
    $('stat-done').textContent = String(done);
    $('stat-failed').textContent = String(failed);
    $('jobs-empty').hidden = rows.size > 0;
    $('jobs').hidden = rows.size === 0;
    $('jobs-caption').textContent = rows.size >= LIST_LIMIT ? `newest ${rows.size}` : '';
  }

  /** The list as read from the server: it replaces the rows (a row already further along stays). */
  function renderJobs(jobs) {
    limit = LIST_LIMIT;
    const seen = new Set();
    const order = [];
    for (const job of jobs) {
      seen.add(job.id);
      const row = rowFor(job);
      if ((job.lastSequence || 0) >= (row.job.lastSequence || 0)) row.job = job;
      notePhase(row);
      paint(row);
      order.push(row.tr);
    }
    for (const id of rows.keys()) if (!seen.has(id)) rows.delete(id);
    body.replaceChildren(...order);
    renderStats();
  }

  /** An older page of the list, read on request: its rows go below the others. */
  function appendJobs(jobs) {
    for (const job of jobs) {
      if (rows.has(job.id)) continue;
      const row = rowFor(job);
      notePhase(row);
      paint(row);
      body.append(row.tr);
    }
    limit = Math.max(limit, rows.size);
    renderStats();
  }

  /** One job's change from the stream. A new job's first event carries it and adds its row. */
  function applyChange(event) {
    let row = rows.get(event.jobId);
    if (!row) {
      if (!event.job) return; // progress of a job older than the list shows
      row = rowFor(event.job);
      body.prepend(row.tr);
      for (const [id, old] of rows) {
        if (rows.size <= limit) break;
        if (id !== event.jobId) {
          old.tr.remove();
          rows.delete(id);
        }
      }
    } else if ((event.sequence || 0) <= (row.job.lastSequence || 0)) {
      return; // the list already includes it
    } else {
      row.job = applyEvent(row.job, event);
    }
    row.events += 1;
    notePhase(row);
    paint(row);
    renderStats();
    if (eventKind(event.kind) === 'STATE') onStateChange();
  }

  /** Queue positions move when other jobs leave the queue, without an event of their own. */
  function setQueuePositions(queued) {
    for (const job of queued) {
      const row = rows.get(job.id);
      if (row && jobState(row.job.state) === 'QUEUED' && row.job.queuePosition !== job.queuePosition) {
        row.job = { ...row.job, queuePosition: job.queuePosition };
        paint(row);
      }
    }
  }

  return { renderJobs, appendJobs, applyChange, setQueuePositions };
}
