// An experiment's page (#/experiments/<id>): its state, progress over every run's steps, run
// counts, facts and configurations, and its runs (runs.js), followed live over the one stream of
// job changes (/api/training/events?jobIds=<its runs>) until every run has ended; a run that
// ends re-reads the experiment (for its Sharpe figures), a reset re-reads it whole. The report
// follows the last run within moments but has no event of its own, so only then is the
// experiment re-read, a few times and backing off, until it is reported. Then the report
// (report.js), its two charts and its artifacts. A Cancel button while it runs.
// The view records the run changes it received (data-changes) and when its report is in
// (data-report: "loaded", or "none" for an experiment that ended without one).

import { aborted, apiJson, experimentPath, sleep } from './api.js';
import { renderArtifacts } from './artifacts.js';
import { $, el, jobLink, placeholder, setConn, showBanner } from './dom.js';
import { followFeed } from './feed.js';
import { compact, dateTime, duration, experimentState, integer } from './format.js';
import { renderReport, showSvg } from './report.js';
import { runTable } from './runs.js';

// Runs followed by id (the stream's ?jobIds=, which takes at most 1000); an experiment with more
// follows every job's changes and keeps its own.
const RUN_FILTER_MAX = 300;
// A run's end re-reads the experiment this long after (ends close together share one read).
const REREAD_DEBOUNCE_MS = 300;
// Once every run has ended, the experiment is re-read after each of these pauses until it is
// reported (the report is made within moments; the last pauses cover a slow one).
const REPORT_WAITS_MS = [250, 500, 1000, 2000, 3000, 5000, 5000, 10000, 10000, 30000, 30000, 30000];
// While the stream is down, the experiment is re-read this often until it reconnects.
const RETRY_MS = 2000;

const RUNNING_STATES = new Set(['PREFLIGHT', 'TRAINING', 'EVALUATING']);

/** Shows experiment `id`'s page until `signal` aborts. */
export function experimentView(id, signal) {
  let experiment = null;
  let changes = 0;
  const view = $('view-experiment');
  view.dataset.changes = '0';
  view.dataset.report = 'pending';
  const artifactPath = (name) => experimentPath(id, '/artifacts/' + encodeURIComponent(name));

  // A clean page for this experiment.
  $('exp-id').textContent = id;
  $('exp-state').replaceChildren();
  $('exp-state').className = '';
  $('exp-live').hidden = true;
  $('exp-cancel').hidden = true;
  $('exp-verdict').hidden = true;
  $('exp-facts').replaceChildren();
  $('exp-configs-card').hidden = true;
  $('exp-report').replaceChildren(el('p', 'empty', 'The report appears once every run has ended.'));
  placeholder($('exp-walk-chart'), 'The stitched walk-forward equity appears with the report.');
  placeholder($('exp-seeds-chart'), 'The test Sharpe per seed and fold appears with the report.');
  $('exp-artifacts').replaceChildren();
  $('exp-artifacts-empty').hidden = false;
  const runs = runTable($('runs-body'));

  $('exp-cancel').onclick = async () => {
    if (!confirm(`Cancel experiment ${id} and every run of it not yet finished?`)) return;
    try {
      render(await apiJson(experimentPath(id), { method: 'DELETE', signal }));
    } catch (e) {
      if (!aborted(e, signal)) showBanner('Could not cancel: ' + e.message);
    }
  };

  function render(next) {
    experiment = next;
    runs.setRuns(next.runs || []);
    paint();
  }

  function paint() {
    const e = experiment;
    const state = experimentState(e.state);
    view.dataset.state = state;
    const badgeNode = $('exp-state');
    badgeNode.className = 'badge state';
    badgeNode.dataset.state = state;
    badgeNode.textContent = state;
    $('exp-cancel').hidden = state !== 'RUNNING';

    const t = runs.totals();
    // The work behind (a run that ended counts whole); for a cancelled experiment, the steps run.
    const steps = t.runs ? t.done / Math.max(1, t.total) : e.totalSteps ? (e.stepsDone || 0) / e.totalSteps : 0;
    const share = state === 'CANCELLED' || !t.runs ? steps : t.share;
    const pct = Math.max(0, Math.min(100, share * 100));
    $('exp-bar').style.width = pct + '%';
    $('exp-bar').parentElement.dataset.state = state === 'RUNNING' ? 'TRAINING' : state;
    $('exp-percent').textContent = pct.toFixed(0) + '%';
    const s = t.states;
    const running = [...RUNNING_STATES].reduce((n, k) => n + (s[k] || 0), 0);
    const counts = [`${integer(t.ended)} of ${integer(t.runs)} runs ended`];
    if (running) counts.push(`${integer(running)} running`);
    if (s.QUEUED) counts.push(`${integer(s.QUEUED)} queued`);
    if (s.DONE) counts.push(`${integer(s.DONE)} done`);
    if (s.FAILED) counts.push(`${integer(s.FAILED)} failed`);
    if (s.CANCELLED) counts.push(`${integer(s.CANCELLED)} cancelled`);
    counts.push(`${compact(t.done)} / ${compact(t.total)} steps`);
    $('exp-counts').textContent = counts.join(' · ');

    const verdict = $('exp-verdict');
    verdict.hidden = !e.verdict;
    verdict.textContent = e.verdict || '';
    // The champion candidate (asked for with `promote`): what was queued, or why nothing was.
    const candidate = $('exp-candidate');
    const c = e.candidate;
    candidate.hidden = !c;
    if (c) {
      const parts = [el('span', '', c.note)];
      (c.jobIds || []).forEach((id, i) => parts.push(el('span', '', i ? ', ' : ': '), jobLink(id)));
      candidate.replaceChildren(...parts);
    }

    const spec = e.spec || {};
    const base = spec.base || {};
    const cells = e.runs || [];
    const most = (key) => (cells.length ? Math.max(...cells.map((r) => (r.cell ? r.cell[key] : 0))) + 1 : undefined);
    const seeds = spec.seeds || most('seedIndex');
    const folds = spec.folds || most('fold');
    const facts = [
      ['Symbols', (base.symbols || []).join(', ') || '–'],
      ['Features', (base.features || []).join(', ') || '–'],
      ['Steps per run', integer(base.totalSteps)],
      ['Configurations', integer((e.configs || []).length)],
      ['Seeds', integer(seeds)],
      ['Folds', integer(folds)],
      ['Runs', integer(e.runsTotal || t.runs)],
      ['Created', dateTime(e.createdMs)],
      [e.finishedMs ? 'Took' : 'Running for', e.createdMs ? duration((e.finishedMs || Date.now()) - e.createdMs) : '–'],
    ];
    $('exp-facts').replaceChildren(
      ...facts.map(([k, v]) => {
        const div = el('div');
        div.append(el('dt', '', k), el('dd', '', v));
        return div;
      }),
    );
    renderConfigs(e.configs || []);
  }

  function renderConfigs(configs) {
    const shown = configs.length > 1 || configs.some((c) => Object.keys(c.settings || {}).length);
    $('exp-configs-card').hidden = !shown;
    if (!shown) return;
    $('exp-configs-body').replaceChildren(
      ...configs.map((c) => {
        const tr = el('tr');
        const settings = Object.entries(c.settings || {}).map(([k, v]) => `${k} = ${v}`);
        tr.append(el('td', 'num', String(c.index)), el('td', 'mono', settings.join(', ') || '(the base spec)'));
        return tr;
      }),
    );
  }

  async function reread() {
    const next = await apiJson(experimentPath(id), { signal });
    if (!signal.aborted) render(next);
  }

  let rereadTimer = null;
  function rereadSoon() {
    if (rereadTimer) return;
    rereadTimer = setTimeout(async () => {
      rereadTimer = null;
      try {
        await reread();
      } catch (e) {
        if (!aborted(e, signal)) console.warn('re-reading the experiment', e);
      }
    }, REREAD_DEBOUNCE_MS);
  }
  signal.addEventListener('abort', () => clearTimeout(rereadTimer));

  function apply(event) {
    const change = runs.applyChange(event);
    if (!change) return;
    changes += 1;
    view.dataset.changes = String(changes);
    if (change === 'ended') rereadSoon();
    paint();
  }

  const following = () => {
    const t = runs.totals();
    return t.runs > 0 && !t.allEnded;
  };

  /** Follows the runs' changes until every run has ended (or the view is left). */
  async function follow() {
    const ids = runs.ids();
    const filter = ids.length <= RUN_FILTER_MAX ? '?jobIds=' + ids.map(encodeURIComponent).join(',') : '';
    $('exp-live').hidden = false;
    const ended = await followFeed({
      path: '/api/training/events' + filter,
      signal,
      reload: reread,
      apply,
      what: 'the experiment',
      retryMs: RETRY_MS,
      active: following,
      stopStatuses: [401, 403, 404],
    });
    if (!ended) return;
    $('exp-live').hidden = true;
    showBanner('');
  }

  /** Re-reads the experiment, backing off, until it is no longer RUNNING; false if it stays so. */
  async function awaitReport() {
    for (const pause of REPORT_WAITS_MS) {
      if (signal.aborted || experimentState(experiment.state) !== 'RUNNING') break;
      $('exp-report').replaceChildren(el('p', 'empty', 'Every run has ended: the report is being made…'));
      await sleep(pause, signal);
      if (signal.aborted) return false;
      try {
        await reread();
      } catch (e) {
        if (aborted(e, signal)) return false;
        console.warn('re-reading the experiment', e);
      }
    }
    if (experimentState(experiment.state) !== 'RUNNING') return true;
    const text = 'Every run has ended, but the scheduler has not reported the experiment yet; reload the page to look again.';
    $('exp-report').replaceChildren(el('p', 'empty', text));
    return false;
  }

  async function loadResults() {
    const results = await apiJson(experimentPath(id, '/results'), { signal });
    if (signal.aborted) return;
    if (results.experiment) render(results.experiment);
    const artifacts = results.artifacts || [];
    renderArtifacts($('exp-artifacts'), $('exp-artifacts-empty'), artifacts, artifactPath);
    const report = results.report && typeof results.report === 'object' ? results.report : null;
    if (!report) {
      const state = experimentState(experiment.state);
      const text =
        state === 'CANCELLED'
          ? 'The experiment was cancelled: no report is made of it.'
          : `The experiment ended ${state} without a report` + (experiment.verdict ? `: ${experiment.verdict}` : '.');
      $('exp-report').replaceChildren(el('p', 'empty', text));
      placeholder($('exp-walk-chart'), 'No report, no chart.');
      placeholder($('exp-seeds-chart'), 'No report, no chart.');
      view.dataset.report = 'none';
      return;
    }
    renderReport(report);
    runs.markChosen(new Set((report.runs || []).filter((r) => r.chosen).map((r) => r.job_id)));
    const verdict = $('exp-verdict');
    verdict.hidden = !report.verdict && !experiment.verdict;
    verdict.textContent = report.verdict || experiment.verdict || '';
    verdict.className = 'verdict-line ' + (report.edge_survives ? 'good' : 'bad');
    const names = new Set(artifacts.map((a) => a.name));
    const chart = (node, name, alt) =>
      names.has(name)
        ? showSvg(node, artifactPath(name), alt, signal).catch((e) => {
            if (!aborted(e, signal)) placeholder(node, `Could not load ${name}: ${e.message}`);
          })
        : placeholder(node, `The report has no ${name}.`);
    await Promise.all([
      chart($('exp-walk-chart'), 'walk_forward.svg', 'Stitched walk-forward equity per seed, their mean and buy-and-hold'),
      chart($('exp-seeds-chart'), 'seeds.svg', 'Test Sharpe per seed and fold'),
    ]);
    if (!signal.aborted) view.dataset.report = 'loaded';
  }

  (async () => {
    try {
      render(await apiJson(experimentPath(id), { signal }));
    } catch (e) {
      if (aborted(e, signal)) return;
      showBanner(e.status === 404 ? `No experiment ${id}.` : 'Could not load the experiment: ' + e.message);
      return;
    }
    setConn('ok', 'live');
    if (following()) await follow();
    if (signal.aborted) return;
    if (experimentState(experiment.state) === 'RUNNING' && !(await awaitReport())) return;
    try {
      await loadResults();
    } catch (e) {
      if (!aborted(e, signal)) showBanner('Could not load the report: ' + e.message);
    }
  })();

  // The running time ticks on.
  (async () => {
    while (!signal.aborted) {
      await sleep(1000, signal);
      if (experiment && experimentState(experiment.state) === 'RUNNING' && !signal.aborted) paint();
    }
  })();
}
