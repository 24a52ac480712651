// A job's page (#/jobs/<id>): its header (state, progress, facts, cancel, and for a run of an
// experiment its cell with a link back to the experiment), phase history and event list, followed live over the job's own event stream (/api/training/jobs/<id>/events)
// until it ends, with a live learning curve from progress events; then its results (results.js).
// The view records the events it received (data-events) and when its results are in
// (data-results="loaded").

import { ApiError, aborted, api, apiJson, jobPath, sleep, streamEvents } from './api.js';
import { $, badge, el, experimentLink, placeholder, setConn, showBanner } from './dom.js';
import { clock, dateTime, day, duration, eventKind, finite, integer, isTerminal, jobState } from './format.js';
import { applyEvent, elapsed, speed } from './model.js';
import { renderArtifacts } from './artifacts.js';
import { drawEquity, drawLearning, parseCsv, renderHeadline, renderMetrics } from './results.js';

// Events replayed when a running job's page opens (its recent learning curve).
const JOB_REPLAY_EVENTS = 2000;
const MAX_EVENT_LINES = 200;

/** Shows job `id`'s page until `signal` aborts. */
export function jobView(id, signal) {
  let job = null;
  let metricsFile = null; // metrics.json, once the results are in
  let resultsLoaded = false;
  let eventCount = 0;
  const live = []; // learning-curve points from progress events: { steps, reward, best }
  const eventLines = $('events');
  const view = $('view-job');
  view.dataset.events = '0';
  view.dataset.results = 'pending';

  // A clean page for this job.
  $('job-id').textContent = id;
  $('job-state').replaceChildren();
  $('job-state').className = '';
  $('job-live').hidden = true;
  $('job-cancel').hidden = true;
  $('job-facts').replaceChildren();
  $('job-experiment').hidden = true;
  $('job-experiment').replaceChildren();
  delete $('job-experiment').dataset.experimentId;
  $('history-body').replaceChildren();
  $('headline').replaceChildren(el('p', 'empty', 'The result appears when the job is done.'));
  $('metrics').replaceChildren();
  $('metrics-empty').hidden = false;
  $('metrics-caption').textContent = '';
  $('artifacts').replaceChildren();
  $('artifacts-empty').hidden = false;
  $('learning-caption').textContent = '';
  eventLines.replaceChildren();
  $('events-caption').textContent = '';
  placeholder($('equity-chart'), 'The equity curve appears when the job is done.');
  placeholder($('learning-chart'), 'Waiting for training progress…');
  $('validation-chart').replaceChildren();

  $('job-cancel').onclick = async () => {
    if (!confirm(`Cancel job ${id}?`)) return;
    try {
      render(await apiJson(jobPath(id), { method: 'DELETE', signal }));
    } catch (e) {
      if (!aborted(e, signal)) showBanner('Could not cancel: ' + e.message);
    }
  };

  function render(next) {
    job = next;
    const state = jobState(job.state);
    view.dataset.state = state;
    const badgeNode = $('job-state');
    badgeNode.className = 'badge state';
    badgeNode.dataset.state = state;
    badgeNode.textContent = state;
    const pct = Math.max(0, Math.min(100, job.percent || 0));
    $('job-bar').style.width = pct + '%';
    $('job-bar').parentElement.dataset.state = state;
    $('job-percent').textContent = pct.toFixed(0) + '%';
    $('job-message').textContent = state === 'QUEUED' && job.queuePosition ? `#${job.queuePosition} in the queue` : job.message || '';
    $('job-error').hidden = !job.error;
    $('job-error').textContent = job.error || '';
    $('job-cancel').hidden = isTerminal(state);
    const spec = job.spec || {};
    const facts = [
      ['Symbols', (spec.symbols || []).join(', ') || '–'],
      ['Features', (spec.features || []).join(', ') || '–'],
      ['Steps', `${integer(job.stepsDone)} / ${integer(job.totalSteps)}`],
      ['Speed', speed(job)],
      ['Submitted', dateTime(job.createdMs)],
      ['Running time', job.startedMs ? duration(elapsed(job)) : '–'],
      ['Seed', spec.seed !== undefined ? String(spec.seed) : '–'],
      ['Priority', String(spec.priority || 0)],
      ['Attempt', job.attempt ? String(job.attempt) : '–'],
    ];
    if (job.trainerId) {
      facts.push(['Trainer', job.trainerId.length > 16 ? job.trainerId.slice(0, 15) + '…' : job.trainerId]);
    }
    $('job-facts').replaceChildren(
      ...facts.map(([k, v]) => {
        const div = el('div');
        const dd = el('dd', '', v);
        if (k === 'Trainer') dd.title = job.trainerId || '';
        div.append(el('dt', '', k), dd);
        return div;
      }),
    );
    renderHistory(job);
    renderHeadline(job, metricsFile);
    renderCell(job.experiment);
  }

  /** For a run of an experiment: its cell, and the way back to the experiment. */
  function renderCell(cell) {
    const line = $('job-experiment');
    if (!cell || !cell.experimentId || line.dataset.experimentId === cell.experimentId) {
      line.hidden = !cell || !cell.experimentId;
      return;
    }
    line.dataset.experimentId = cell.experimentId;
    line.replaceChildren(
      'Run of experiment ',
      experimentLink(cell.experimentId),
      `: configuration ${cell.config}, seed ${cell.seedIndex}, fold ${cell.fold}`,
    );
    line.hidden = false;
  }

  function renderHistory(job) {
    const history = job.history || [];
    $('history-body').replaceChildren(
      ...history.map((h, i) => {
        const tr = el('tr');
        const next = history[i + 1];
        const state = jobState(h.state);
        const took = next ? next.atMs - h.atMs : isTerminal(state) ? null : Date.now() - h.atMs;
        const cell = el('td');
        cell.append(badge(state));
        // The date once, then times of day (unless the day changed).
        const sameDay = i > 0 && day(history[i - 1].atMs) === day(h.atMs);
        const at = el('td', 'muted nowrap', sameDay ? clock(h.atMs) : dateTime(h.atMs));
        at.title = dateTime(h.atMs);
        tr.append(cell, at, el('td', 'num nowrap', took === null ? '' : duration(took)), el('td', 'muted note', h.reason || ''));
        return tr;
      }),
    );
  }

  function addEventLine(event) {
    const kind = eventKind(event.kind).toLowerCase();
    // Progress moves the bar and the curve instead; a snapshot repeats the job.
    if (kind === 'progress' || kind === 'snapshot') return;
    const li = el('li');
    const text = event.message || jobState(event.state);
    li.append(el('span', 't', clock(event.atMs)), el('span', 'k', kind), el('span', 'm', text));
    eventLines.prepend(li);
    while (eventLines.children.length > MAX_EVENT_LINES) eventLines.lastChild.remove();
  }

  function onEvent(event) {
    eventCount += 1;
    view.dataset.events = String(eventCount);
    $('events-caption').textContent = `${eventCount} received live`;
    render(applyEvent(job, event));
    addEventLine(event);
    if (event.stats && event.stepsDone) {
      live.push({ steps: event.stepsDone, reward: event.stats.episodeReward, best: event.stats.bestValidationSharpe });
      scheduleLiveCurve();
    }
  }

  let curveTimer = null;
  function scheduleLiveCurve() {
    if (curveTimer || resultsLoaded) return;
    curveTimer = setTimeout(() => {
      curveTimer = null;
      if (resultsLoaded || signal.aborted) return;
      $('learning-caption').textContent = 'live, from progress events';
      drawLearning(
        live.map((p) => p.steps),
        live.map((p) => p.reward),
        live.map((p) => (finite(p.best) ? p.best : NaN)),
        'best validation Sharpe so far',
      );
    }, 300);
  }

  async function fetchText(name) {
    const res = await api(jobPath(id, '/artifacts/' + encodeURIComponent(name)), { signal, headers: { Accept: '*/*' } });
    return res.text();
  }

  async function loadResults() {
    const results = await apiJson(jobPath(id, '/results'), { signal });
    metricsFile = results.metrics && typeof results.metrics === 'object' ? results.metrics : null;
    if (results.job) render(results.job);
    renderMetrics(results.metrics);
    const artifactPath = (name) => jobPath(id, '/artifacts/' + encodeURIComponent(name));
    renderArtifacts($('artifacts'), $('artifacts-empty'), results.artifacts || [], artifactPath);
    const names = new Set((results.artifacts || []).map((a) => a.name));
    const tasks = [];
    if (names.has('equity.csv')) {
      tasks.push(fetchText('equity.csv').then((text) => drawEquity(parseCsv(text))));
    } else {
      placeholder($('equity-chart'), isTerminal(job.state) ? 'This job has no equity curve.' : 'The equity curve appears when the job is done.');
    }
    if (names.has('learning_curve.csv')) {
      tasks.push(
        fetchText('learning_curve.csv').then((text) => {
          const rows = parseCsv(text);
          resultsLoaded = true;
          $('learning-caption').textContent = `${rows.length} PPO updates`;
          drawLearning(
            rows.map((r) => r.steps),
            rows.map((r) => r.episode_reward),
            rows.map((r) => r.validation_sharpe),
            'validation Sharpe',
          );
        }),
      );
    }
    await Promise.all(tasks);
    view.dataset.results = 'loaded';
  }

  /** The latest events of a finished job, for the event list. */
  async function replayRecent() {
    try {
      await streamEvents(id, Math.max(0, (job.lastSequence || 0) - 200), signal, addEventLine);
      $('events-caption').textContent = 'latest';
    } catch (e) {
      if (!aborted(e, signal)) $('events-caption').textContent = 'could not load the events: ' + e.message;
    }
  }

  (async () => {
    try {
      render(await apiJson(jobPath(id, '/status'), { signal }));
    } catch (e) {
      if (aborted(e, signal)) return;
      showBanner(e.status === 404 ? `No job ${id}.` : 'Could not load the job: ' + e.message);
      return;
    }
    setConn('ok', 'live');
    const done = () => isTerminal(job.state);
    if (!done()) {
      const start = job.lastSequence || 0;
      let after = Math.max(0, start - JOB_REPLAY_EVENTS);
      let failures = 0;
      $('job-live').hidden = false;
      while (!signal.aborted && !done()) {
        try {
          await streamEvents(id, after, signal, (event) => {
            failures = 0;
            after = Math.max(after, event.sequence || 0);
            onEvent(event);
          });
        } catch (e) {
          if (aborted(e, signal)) return;
          failures += 1;
          if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)) return;
          setConn('retrying', 'reconnecting…');
        }
        if (!done()) await sleep(Math.min(5000, 500 * 2 ** Math.min(failures, 4)), signal);
      }
      $('job-live').hidden = true;
      if (signal.aborted) return;
      setConn('ok', 'live');
    } else {
      replayRecent();
    }
    try {
      await loadResults();
    } catch (e) {
      if (!aborted(e, signal)) showBanner('Could not load the results: ' + e.message);
    }
  })();

  // Durations of a running job tick on.
  (async () => {
    while (!signal.aborted) {
      await sleep(1000, signal);
      if (job && !isTerminal(job.state) && !signal.aborted) render(job);
    }
  })();
}
