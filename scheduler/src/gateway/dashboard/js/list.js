// The list page (#/): the experiment panel, the job table and the queue panels, kept live by the
// one scheduler-wide stream of every job's changes (/api/training/events). A reset re-reads the
// experiments, the list's first page and the queue; only while the stream is down is the list
// polled. Older jobs come a page at a
// time when the user asks (#jobs-more follows the list's `next` link). The queue panels are
// re-read when a job changes state, and every TRAINERS_REFRESH_MS for the trainers' last contact.

import { ApiError, aborted, apiJson, readEvents, sleep } from './api.js';
import { $, setConn, showBanner } from './dom.js';
import { experimentPanel } from './experiments.js';
import { feedKind } from './format.js';
import { renderQueue } from './queue.js';
import { LIST_LIMIT, jobTable } from './table.js';

// Only while the stream is down is the list polled, this often, until it reconnects.
const FALLBACK_POLL_MS = 2000;
// The queue panel is re-read this long after a job changes state (changes coalesce), and the
// trainers' "last seen" at least this often (a trainer that connects idle changes no job).
const QUEUE_DEBOUNCE_MS = 250;
const TRAINERS_REFRESH_MS = 15000;
// A stream that ends cleanly after living this long is resumed at once (the scheduler ends
// streams after a lifetime); a shorter one counts as a failure.
const STREAM_MIN_LIFE_MS = 1000;

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
  const more = $('jobs-more');
  let nextPage = null;
  function setNext(next) {
    nextPage = next || null;
    more.hidden = !nextPage;
  }
  more.onclick = async () => {
    if (!nextPage) return;
    more.disabled = true;
    try {
      const page = await apiJson(nextPage, { signal });
      if (signal.aborted) return;
      table.appendJobs(page.jobs);
      experiments.noteJobs(page.jobs);
      setNext(page.next);
    } catch (e) {
      if (!aborted(e, signal)) showBanner('Could not load older jobs: ' + e.message);
    } finally {
      more.disabled = false;
    }
  };
  signal.addEventListener('abort', () => {
    more.onclick = null;
    more.hidden = true;
  });

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

  // The stream: a reset (on connecting, or after a gap) re-reads the list and the queue, and
  // the changes that arrive meanwhile are applied after it, in order (a change the list
  // already includes is skipped by its sequence). The stream resumes from its last position.
  (async () => {
    let position = ''; // `<epoch>:<sequence>` of the last message
    let failures = 0;
    while (!signal.aborted) {
      const stream = new AbortController();
      const stop = () => stream.abort();
      signal.addEventListener('abort', stop);
      let held = null; // changes that arrived while the list was being read
      let loading = Promise.resolve();
      let loadFailed = null;
      const live = () => {
        failures = 0;
        setConn('ok', 'live');
        showBanner('');
      };
      const onMessage = (message, type, id) => {
        if (id) position = id;
        if (type === 'reset' || feedKind(message.kind) === 'RESET') {
          held = held || [];
          loading = loading
            .then(async () => {
              await loadAll();
              const changes = held || [];
              held = null;
              for (const change of changes) applyChange(change);
              live();
            })
            .catch((e) => {
              loadFailed = e;
              stream.abort();
            });
          return;
        }
        if (!message.event) return;
        if (held) held.push(message.event);
        else applyChange(message.event);
      };
      // A resumed stream (no reset) is live as soon as it opens.
      const onOpen = () => {
        if (position) live();
      };
      const opened = Date.now();
      try {
        await readEvents('/api/training/events', position, stream.signal, onMessage, onOpen);
        await loading;
        if (loadFailed) throw loadFailed;
        // The scheduler ends a stream after its lifetime: resume at once where it was.
        if (position && Date.now() - opened >= STREAM_MIN_LIFE_MS) continue;
        throw new Error('the event stream ended');
      } catch (thrown) {
        if (signal.aborted) return;
        const e = loadFailed || thrown;
        failures += 1;
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
          showBanner('');
          return; // the secret form is up; submitting it restarts the view
        }
        setConn(failures > 2 ? 'error' : 'retrying', 'reconnecting…');
        // While the stream is down, the list is polled.
        try {
          await loadAll();
          showBanner('Live updates interrupted (' + e.message + '); reconnecting…');
        } catch (polled) {
          if (aborted(polled, signal)) return;
          showBanner('Could not load the jobs: ' + polled.message);
        }
      } finally {
        signal.removeEventListener('abort', stop);
      }
      await sleep(FALLBACK_POLL_MS, signal);
    }
  })();
}
