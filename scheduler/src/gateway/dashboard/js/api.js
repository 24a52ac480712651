// The gateway's REST API (/api/training/…): fetch with the admin secret (a refused secret brings
// up the secret form), failures as ApiError, and server-sent event streams read with fetch and a
// stream reader (EventSource cannot send the Authorization header). Also job and
// experiment URLs and the abortable sleep the retry loops use.

import { askForSecret, authHeaders } from './auth.js';

/** A failed request: its HTTP status (0 for an error event in a stream), error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function toError(res) {
  let code = 'http_' + res.status;
  let message = res.statusText || 'HTTP ' + res.status;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not JSON: keep the status text.
  }
  if (res.status === 401 || res.status === 403) askForSecret(message);
  return new ApiError(res.status, code, message);
}

/** `fetch(path)` with the secret, never cached; rejects with an ApiError unless it succeeds. */
export async function api(path, options = {}) {
  const headers = { Accept: 'application/json', ...authHeaders(), ...(options.headers || {}) };
  const res = await fetch(path, { ...options, headers, cache: 'no-store' });
  if (!res.ok) throw await toError(res);
  return res;
}

/** `api(path)`'s JSON. */
export const apiJson = async (path, options) => (await api(path, options)).json();

/** `/api/training/jobs/<id><rest>`. */
export const jobPath = (id, rest = '') => '/api/training/jobs/' + encodeURIComponent(id) + rest;

/** `/api/training/experiments/<id><rest>`. */
export const experimentPath = (id, rest = '') => '/api/training/experiments/' + encodeURIComponent(id) + rest;

/**
 * Reads server-sent events from `path` with fetch (so the authorization header goes along),
 * resuming after `lastEventId`, calling `onOpen()` once it is open and `onMessage(payload,
 * type, id)` for each event. Resolves when the stream ends; rejects on an error event or a
 * failed request.
 */
export async function readEvents(path, lastEventId, signal, onMessage, onOpen) {
  const headers = { Accept: 'text/event-stream' };
  if (lastEventId) headers['Last-Event-ID'] = String(lastEventId);
  const res = await api(path, { signal, headers });
  if (onOpen) onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      let id = '';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // keep-alive comment
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = text;
        else if (field === 'id') id = text;
        else if (field === 'data') data.push(text);
      }
      if (!data.length) continue;
      const payload = JSON.parse(data.join('\n'));
      if (type === 'error') {
        const err = payload.error || {};
        throw new ApiError(0, err.code || 'stream_error', err.message || 'the event stream failed');
      }
      onMessage(payload, type, id);
    }
  }
}

/** A job's events after `after`, each passed to `onEvent`, until the job ends. */
export const streamEvents = (id, after, signal, onEvent) =>
  readEvents(jobPath(id, '/events'), String(after), signal, (event) => onEvent(event));

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Whether `e` is only the view being left (its `signal` aborted). */
export const aborted = (e, signal) => signal.aborted || (e && e.name === 'AbortError');
