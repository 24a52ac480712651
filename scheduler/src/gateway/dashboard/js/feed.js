// Following the scheduler's one stream of job changes (/api/training/events), as the list page
// and an experiment's page do: a reset (on connecting, or after a gap) re-reads what the page
// shows, and the changes that arrive meanwhile are applied after it, in order (a change the page
// already includes is skipped by its sequence). The stream resumes from its last position; a
// stream that ended cleanly after living a while (the scheduler ends streams after a lifetime) is
// resumed at once, and while it is down the page is re-read instead, every `retryMs`.

import { ApiError, aborted, readEvents, sleep } from './api.js';
import { setConn, showBanner } from './dom.js';
import { feedKind } from './format.js';

// A stream that ends cleanly after living this long is resumed at once; a shorter one counts
// as a failure.
const STREAM_MIN_LIFE_MS = 1000;

/**
 * Follows `path` until `signal` aborts, `active()` turns false, or the scheduler answers one of
 * `stopStatuses` (then `onStop(error)`). Resolves true when it stopped because `active()` turned
 * false, false otherwise.
 *
 * `reload()` re-reads the page; `apply(event)` applies one change; `what` names what `reload`
 * reads in the banner shown when it fails ("the jobs").
 */
export async function followFeed({ path, signal, reload, apply, what, retryMs, active = () => true, stopStatuses = [401, 403], onStop = () => {} }) {
  let position = ''; // `<epoch>:<sequence>` of the last message
  let failures = 0;
  while (!signal.aborted && active()) {
    const stream = new AbortController();
    const stop = () => stream.abort();
    signal.addEventListener('abort', stop);
    let held = null; // changes that arrived while the page was being re-read
    let loading = Promise.resolve();
    let loadFailed = null;
    const live = () => {
      failures = 0;
      setConn('ok', 'live');
      showBanner('');
    };
    const onMessage = (message, type, at) => {
      if (at) position = at;
      if (type === 'reset' || feedKind(message.kind) === 'RESET') {
        held = held || [];
        loading = loading
          .then(async () => {
            await reload();
            const waiting = held || [];
            held = null;
            for (const event of waiting) apply(event);
            live();
            if (!active()) stream.abort();
          })
          .catch((e) => {
            loadFailed = e;
            stream.abort();
          });
        return;
      }
      if (!message.event) return;
      if (held) {
        held.push(message.event);
        return;
      }
      apply(message.event);
      if (!active()) stream.abort();
    };
    // A resumed stream (no reset) is live as soon as it opens.
    const onOpen = () => {
      if (position) live();
    };
    const opened = Date.now();
    try {
      await readEvents(path, position, stream.signal, onMessage, onOpen);
      await loading;
      if (loadFailed) throw loadFailed;
      if (position && Date.now() - opened >= STREAM_MIN_LIFE_MS) continue;
      throw new Error('the event stream ended');
    } catch (thrown) {
      if (signal.aborted) return false;
      if (!active() && !loadFailed) break;
      const e = loadFailed || thrown;
      failures += 1;
      if (e instanceof ApiError && stopStatuses.includes(e.status)) {
        onStop(e);
        return false;
      }
      setConn(failures > 2 ? 'error' : 'retrying', 'reconnecting…');
      // While the stream is down, the page is re-read.
      try {
        await reload();
        showBanner('Live updates interrupted (' + e.message + '); reconnecting…');
      } catch (polled) {
        if (aborted(polled, signal)) return false;
        showBanner(`Could not load ${what}: ${polled.message}`);
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
    if (active()) await sleep(retryMs, signal);
  }
  return !signal.aborted;
}
