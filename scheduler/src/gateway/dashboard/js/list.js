// The list page (#/): the experiment panel, the job table and the queue panels, kept live by the
// one scheduler-wide stream of every job's changes (/api/training/events). A reset re-reads the
// experiments, the list's first page and the queue; only while the stream is down is the list
// polled (feed.js). Older jobs come a page at a time when the user asks (#jobs-more follows the
// list's `next` link). The queue panels are re-read when a job changes state, and every
// TRAINERS_REFRESH_MS for the trainers' last contact.

import { aborted, apiJson } from './api.js';
import { $, showBanner } from './dom.js';
import { experimentPanel } from './experiments.js';
import { followFeed } from './feed.js';
import { olderPages } from './paging.js';
import { renderQueue } from './queue.js';
import { LIST_LIMIT, jobTable } from './table.js';

// Only while the stream is down is the list polled, this often, until it reconnects.
const FALLBACK_POLL_MS = 2000;
// The queue panel is re-read this long after a job changes state (changes coalesce), and the
// trainers' "last seen" at least this often (a trainer that connects idle changes no job).
const QUEUE_DEBOUNCE_MS = 250;
const TRAINERS_REFRESH_MS = 15000;

/** Shows the list page until `signal` aborts. */
export function listView(signal) {
  const table = jobTable(refreshQueueSoon);
  const experiments = experimentPanel(signal);
  const applyChange = (event) => {
    table.applyChange(event);
    experiments.applyChange(event);
  };

  function showQueue(queue) {
    table.setQueuePositions(queue.queued);
    renderQueue(queue);
  }

  let queueTimer = null;
  function refreshQueueSoon() {
    if (queueTimer) return;
    queueTimer = setTimeout(async () => {
      queueTimer = null;
      try {
        const queue = await apiJson('/api/training/queue', { signal });
        if (!signal.aborted) showQueue(queue);
      } catch (e) {
        if (!aborted(e, signal)) console.warn('reading the queue', e);
      }
    }, QUEUE_DEBOUNCE_MS);
  }
  const trainersTimer = setInterval(refreshQueueSoon, TRAINERS_REFRESH_MS);
  signal.addEventListener('abort', () => {
    clearInterval(trainersTimer);
    clearTimeout(queueTimer);
  });

  // The next (older) page of the list, if any.
  const setNext = olderPages(
    $('jobs-more'),
    signal,
    (page) => {
      table.appendJobs(page.jobs);
      experiments.noteJobs(page.jobs);
    },
    'older jobs',
  );

  async function loadAll() {
    const [list, queue] = await Promise.all([
      apiJson('/api/training/jobs?limit=' + LIST_LIMIT, { signal }),
      apiJson('/api/training/queue', { signal }),
      experiments.load(),
    ]);
    if (signal.aborted) return;
    table.renderJobs(list.jobs);
    experiments.noteJobs(list.jobs);
    setNext(list.next);
    showQueue(queue);
  }

  // The stream (feed.js): a reset re-reads the list and the queue; while the stream is down
  // they are polled. A refused secret stops it: the secret form is up, and submitting it
  // restarts the view.
  followFeed({
    path: '/api/training/events',
    signal,
    reload: loadAll,
    apply: applyChange,
    what: 'the jobs',
    retryMs: FALLBACK_POLL_MS,
    onStop: () => showBanner(''),
  });
}
