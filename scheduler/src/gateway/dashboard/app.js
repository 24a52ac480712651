// skippy-train dashboard: the job list with live progress, and a page per job with its phase
// history, its out-of-sample metrics next to buy-and-hold, and its equity and learning curves.
//
// It calls the gateway's /api/training routes like any client, with `Authorization: Bearer
// <ADMIN_SECRET>`. The secret comes from the URL fragment (`/#token=…`, never sent to a server)
// or from a form, is kept in this tab's sessionStorage, and never goes into a URL. Server-sent
// events are read with fetch() and a stream reader, since EventSource cannot send the header.
// All text from the server is set with textContent.
'use strict';

(() => {
  const TOKEN_KEY = 'skippy-train.admin-secret';
  const TERMINAL = new Set(['DONE', 'FAILED', 'CANCELLED']);
  const RUNNING = new Set(['PREFLIGHT', 'TRAINING', 'EVALUATING']);
  // The list page follows every job through one stream (/api/training/events). Only while that
  // stream is down is the list polled, this often, until it reconnects.
  const FALLBACK_POLL_MS = 2000;
  const LIST_LIMIT = 100;
  // The queue panel is re-read this long after a job changes state (changes coalesce), and the
  // trainers' "last seen" at least this often (a trainer that connects idle changes no job).
  const QUEUE_DEBOUNCE_MS = 250;
  const TRAINERS_REFRESH_MS = 15000;
  // A stream that ends cleanly after living this long is resumed at once (the scheduler ends
  // streams after a lifetime); a shorter one counts as a failure.
  const STREAM_MIN_LIFE_MS = 1000;
  // Events replayed when a running job's page opens (its recent learning curve).
  const JOB_REPLAY_EVENTS = 2000;
  const MAX_EVENT_LINES = 200;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------------------
  // The secret
  // ---------------------------------------------------------------------------------------------

  /** Takes `token=…` out of the fragment (keeping the rest as the route) into sessionStorage. */
  function takeTokenFromFragment() {
    const parts = location.hash.replace(/^#/, '').split('&');
    const rest = [];
    let token = null;
    for (const part of parts) {
      if (part.startsWith('token=')) {
        try {
          token = decodeURIComponent(part.slice('token='.length));
        } catch {
          token = part.slice('token='.length);
        }
      } else if (part) {
        rest.push(part);
      }
    }
    if (token === null) return;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    // Out of the address bar and the history entry.
    history.replaceState(null, '', location.pathname + location.search + '#' + (rest.join('&') || '/'));
  }

  const secret = () => sessionStorage.getItem(TOKEN_KEY) || '';
  const authHeaders = () => (secret() ? { Authorization: 'Bearer ' + secret() } : {});

  let loginShown = false;

  function askForSecret(message) {
    if (loginShown) return;
    loginShown = true;
    const error = $('login-error');
    error.hidden = !secret();
    error.textContent = secret() ? 'That secret was refused: ' + message : '';
    $('login').hidden = false;
    $('login-secret').value = '';
    $('login-secret').focus();
    setConn('error', 'needs the admin secret');
  }

  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('login-secret').value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $('login').hidden = true;
    loginShown = false;
    $('signout').hidden = false;
    route();
  });

  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('signout').hidden = true;
    route();
  });

  // ---------------------------------------------------------------------------------------------
  // The API
  // ---------------------------------------------------------------------------------------------

  class ApiError extends Error {
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

  async function api(path, options = {}) {
    const headers = { Accept: 'application/json', ...authHeaders(), ...(options.headers || {}) };
    const res = await fetch(path, { ...options, headers, cache: 'no-store' });
    if (!res.ok) throw await toError(res);
    return res;
  }

  const apiJson = async (path, options) => (await api(path, options)).json();
  const jobPath = (id, rest = '') => '/api/training/jobs/' + encodeURIComponent(id) + rest;

  /**
   * Reads server-sent events from `path` with fetch (so the authorization header goes along),
   * resuming after `lastEventId`, calling `onOpen()` once it is open and `onMessage(payload,
   * type, id)` for each event. Resolves when
   * the stream ends; rejects on an error event or a failed request.
   */
  async function readEvents(path, lastEventId, signal, onMessage, onOpen) {
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
  const streamEvents = (id, after, signal, onEvent) =>
    readEvents(jobPath(id, '/events'), String(after), signal, (event) => onEvent(event));

  // ---------------------------------------------------------------------------------------------
  // Formatting
  // ---------------------------------------------------------------------------------------------

  const short = (state) => String(state || '').replace(/^JOB_STATE_/, '').replace(/^EVENT_KIND_/, '');
  const finite = (x) => typeof x === 'number' && Number.isFinite(x);
  const fixed = (x, digits = 2) => (finite(x) ? x.toFixed(digits) : '–');
  const signed = (x, digits = 2) => (finite(x) ? (x >= 0 ? '+' : '') + x.toFixed(digits) : '–');
  const percent = (x, digits = 1) => (finite(x) ? (x * 100).toFixed(digits) + '%' : '–');
  const signedPercent = (x, digits = 1) => (finite(x) ? (x >= 0 ? '+' : '') + (x * 100).toFixed(digits) + '%' : '–');
  // "+0.44 Sharpe over buy-and-hold [-5.10, +5.66], not significant", as the CLI says it.
  const improvement = (i) => {
    if (!i) return 'not recorded (a job finished before it was)';
    const over = i.overGeneration ? `generation ${i.overGeneration}` : 'buy-and-hold';
    return `${signed(i.sharpeDifference)} Sharpe over ${over} [${signed(i.lo)}, ${signed(i.hi)}], ${i.significant ? 'significant' : 'not significant'}`;
  };
  const integer = (x) => (finite(x) ? Math.round(x).toLocaleString('en-US') : '–');

  function compact(x) {
    if (!finite(x)) return '–';
    const a = Math.abs(x);
    if (a >= 1e9) return (x / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'B';
    if (a >= 1e6) return (x / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e4) return (x / 1e3).toFixed(0) + 'k';
    if (a >= 1e3) return (x / 1e3).toFixed(1) + 'k';
    return String(Math.round(x * 1000) / 1000);
  }

  const pad = (n) => String(n).padStart(2, '0');
  function dateTime(ms) {
    if (!ms) return '–';
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function clock(ms) {
    const d = new Date(ms);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function day(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }
  function duration(ms) {
    if (!finite(ms) || ms < 0) return '–';
    if (ms < 1000) return ms + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${pad(Math.floor(s % 60))} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${pad(m % 60)} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }
  function ago(ms) {
    if (!ms) return '–';
    const d = Date.now() - ms;
    return d < 5000 ? 'just now' : duration(d) + ' ago';
  }
  function bytes(n) {
    if (!finite(n)) return '–';
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1024 / 1024).toFixed(1) + ' MiB';
  }

  /** An element with a class and text. */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function badge(state) {
    const s = short(state) || 'UNKNOWN';
    const node = el('span', 'badge state', s);
    node.dataset.state = s;
    return node;
  }

  function setConn(state, text) {
    const conn = $('conn');
    conn.dataset.state = state;
    conn.textContent = text;
  }

  function showBanner(text) {
    const banner = $('banner');
    banner.hidden = !text;
    banner.textContent = text || '';
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  const aborted = (e, signal) => signal.aborted || (e && e.name === 'AbortError');

  /**
   * The job after `event`. An event the job already includes (a replayed one, at or before its
   * `lastSequence`) changes nothing; one that carries the job replaces it.
   */
  function applyEvent(job, event) {
    if (event.job) return { ...event.job };
    if (!job || (event.sequence || 0) <= (job.lastSequence || 0)) return job;
    const kind = short(event.kind);
    const next = { ...job, state: event.state, lastSequence: event.sequence };
    if (kind === 'STATE' || kind === 'PROGRESS') {
      next.percent = event.percent;
      if (event.message) next.message = event.message;
    }
    if (kind === 'STATE') {
      const history = job.history || [];
      const last = history[history.length - 1];
      if (!last || last.state !== event.state) {
        next.history = [...history, { state: event.state, atMs: event.atMs, reason: event.message }];
      }
      if (short(event.state) === 'PREFLIGHT' && !job.startedMs) next.startedMs = event.atMs;
    }
    if (event.stepsDone) next.stepsDone = event.stepsDone;
    if (event.stepsPerSec) next.stepsPerSec = event.stepsPerSec;
    return next;
  }

  /** Training speed: the latest reported, or for a finished job its average over TRAINING. */
  function speed(job) {
    if (job.stepsPerSec && !TERMINAL.has(short(job.state))) return integer(job.stepsPerSec) + ' steps/s';
    const history = job.history || [];
    const at = history.findIndex((h) => short(h.state) === 'TRAINING');
    if (at >= 0 && history[at + 1] && job.stepsDone) {
      const seconds = (history[at + 1].atMs - history[at].atMs) / 1000;
      if (seconds > 0) return integer(job.stepsDone / seconds) + ' steps/s avg';
    }
    return job.stepsPerSec ? integer(job.stepsPerSec) + ' steps/s' : '–';
  }

  function elapsed(job) {
    if (!job.startedMs) return null;
    return (job.finishedMs || Date.now()) - job.startedMs;
  }

  // ---------------------------------------------------------------------------------------------
  // Routing
  // ---------------------------------------------------------------------------------------------

  let current = null; // AbortController of the view on screen

  function route() {
    takeTokenFromFragment();
    $('signout').hidden = !secret();
    if (current) current.abort();
    current = new AbortController();
    showBanner('');
    const path = location.hash.replace(/^#/, '') || '/';
    const match = path.match(/^\/jobs\/([^/&]+)/);
    $('view-list').hidden = !!match;
    $('view-job').hidden = !match;
    const crumbs = $('crumbs');
    crumbs.replaceChildren(Object.assign(el('a', '', 'Jobs'), { href: '#/' }));
    if (match) {
      const id = decodeURIComponent(match[1]);
      crumbs.append(el('span', 'sep', '/'), el('span', 'mono', id));
      document.title = id + ' · skippy-train';
      jobView(id, current.signal);
    } else {
      document.title = 'Jobs · skippy-train';
      listView(current.signal);
    }
  }

  window.addEventListener('hashchange', route);

  // A bug shows on the page rather than only in the console.
  window.addEventListener('error', (e) => showBanner('Unexpected error in the dashboard: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => {
    const reason = e.reason;
    if (reason && reason.name === 'AbortError') return;
    showBanner('Unexpected error in the dashboard: ' + (reason && reason.message ? reason.message : String(reason)));
  });

  // ---------------------------------------------------------------------------------------------
  // The job list
  // ---------------------------------------------------------------------------------------------

  function listView(signal) {
    const rows = new Map(); // id → { tr, cells, job, events, phases }
    const body = $('jobs-body');
    body.replaceChildren();

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
      const state = short(job.state);
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
      const state = short(row.job.state);
      if (row.phases[row.phases.length - 1] !== state) row.phases.push(state);
    }

    function renderStats() {
      let done = 0;
      let failed = 0;
      for (const row of rows.values()) {
        const s = short(row.job.state);
        if (s === 'DONE') done += 1;
        if (s === 'FAILED' || s === 'CANCELLED') failed += 1;
      }
      $('stat-done').textContent = String(done);
      $('stat-failed').textContent = String(failed);
      $('jobs-empty').hidden = rows.size > 0;
      $('jobs').hidden = rows.size === 0;
      $('jobs-caption').textContent = rows.size >= LIST_LIMIT ? `newest ${LIST_LIMIT}` : '';
    }

    /** The list as read from the server: it replaces the rows (a row already further along stays). */
    function renderJobs(jobs) {
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

    /** One job's change from the stream. A new job's first event carries it and adds its row. */
    function applyChange(event) {
      let row = rows.get(event.jobId);
      if (!row) {
        if (!event.job) return; // progress of a job older than the list shows
        row = rowFor(event.job);
        body.prepend(row.tr);
        for (const [id, old] of rows) {
          if (rows.size <= LIST_LIMIT) break;
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
      if (short(event.kind) === 'STATE') refreshQueueSoon();
    }

    function renderQueue(queue) {
      // Queue positions move when other jobs leave the queue, without an event of their own.
      for (const job of queue.queued) {
        const row = rows.get(job.id);
        if (row && short(row.job.state) === 'QUEUED' && row.job.queuePosition !== job.queuePosition) {
          row.job = { ...row.job, queuePosition: job.queuePosition };
          paint(row);
        }
      }
      $('stat-queued').textContent = String(queue.queued.length);
      $('stat-running').textContent = String(queue.running.length);
      $('stat-trainers').textContent = String(queue.trainers.length);
      const list = $('queue-list');
      list.replaceChildren(
        ...queue.queued.map((job) => {
          const li = el('li');
          const a = el('a', 'mono', job.id);
          a.href = '#/jobs/' + encodeURIComponent(job.id);
          const spec = job.spec || {};
          const what = `${(spec.symbols || []).join(', ')} · ${compact(job.totalSteps)} steps` + (spec.priority ? ` · priority ${spec.priority}` : '');
          li.append(a, el('span', 'muted', what));
          return li;
        }),
      );
      $('queue-empty').hidden = queue.queued.length > 0;
      const trainers = $('trainers-body');
      trainers.replaceChildren(
        ...queue.trainers.map((t) => {
          const tr = el('tr');
          const jobs = el('td');
          for (const id of t.jobIds) {
            const a = el('a', 'mono', id);
            a.href = '#/jobs/' + encodeURIComponent(id);
            jobs.append(a, ' ');
          }
          if (!t.jobIds.length) jobs.append(el('span', 'muted', 'idle'));
          tr.append(el('td', '', t.name || t.trainerId), jobs, el('td', 'num', t.stepsPerSec ? integer(t.stepsPerSec) : '–'), el('td', 'num muted', ago(t.lastSeenMs)));
          return tr;
        }),
      );
      $('trainers').hidden = queue.trainers.length === 0;
      $('trainers-empty').hidden = queue.trainers.length > 0;
    }

    let queueTimer = null;
    function refreshQueueSoon() {
      if (queueTimer) return;
      queueTimer = setTimeout(async () => {
        queueTimer = null;
        try {
          const queue = await apiJson('/api/training/queue', { signal });
          if (!signal.aborted) renderQueue(queue);
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

    async function loadAll() {
      const [list, queue] = await Promise.all([
        apiJson('/api/training/jobs?limit=' + LIST_LIMIT, { signal }),
        apiJson('/api/training/queue', { signal }),
      ]);
      if (signal.aborted) return;
      renderJobs(list.jobs);
      renderQueue(queue);
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
          if (type === 'reset') {
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

  // ---------------------------------------------------------------------------------------------
  // One job
  // ---------------------------------------------------------------------------------------------

  function jobView(id, signal) {
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
      const state = short(job.state);
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
      $('job-cancel').hidden = TERMINAL.has(state);
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
      renderHeadline(job);
    }

    function renderHistory(job) {
      const history = job.history || [];
      $('history-body').replaceChildren(
        ...history.map((h, i) => {
          const tr = el('tr');
          const next = history[i + 1];
          const state = short(h.state);
          const took = next ? next.atMs - h.atMs : TERMINAL.has(state) ? null : Date.now() - h.atMs;
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

    function renderHeadline(job) {
      const r = job.result;
      const box = $('headline');
      if (!r) {
        const s = short(job.state);
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

    function addEventLine(event) {
      const kind = short(event.kind).toLowerCase();
      // Progress moves the bar and the curve instead; a snapshot repeats the job.
      if (kind === 'progress' || kind === 'snapshot') return;
      const li = el('li');
      const text = event.message || short(event.state);
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

    async function loadResults() {
      const results = await apiJson(jobPath(id, '/results'), { signal });
      metricsFile = results.metrics && typeof results.metrics === 'object' ? results.metrics : null;
      if (results.job) render(results.job);
      renderMetrics(results.metrics);
      renderArtifacts(results.artifacts || []);
      const names = new Set((results.artifacts || []).map((a) => a.name));
      const tasks = [];
      if (names.has('equity.csv')) {
        tasks.push(
          fetchText('equity.csv').then((text) => drawEquity(parseCsv(text))),
        );
      } else {
        placeholder($('equity-chart'), TERMINAL.has(short(job.state)) ? 'This job has no equity curve.' : 'The equity curve appears when the job is done.');
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

    async function fetchText(name) {
      const res = await api(jobPath(id, '/artifacts/' + encodeURIComponent(name)), { signal, headers: { Accept: '*/*' } });
      return res.text();
    }

    function renderArtifacts(artifacts) {
      $('artifacts-empty').hidden = artifacts.length > 0;
      $('artifacts').replaceChildren(
        ...artifacts.map((a) => {
          const li = el('li');
          const link = el('a', 'mono', a.name);
          link.href = '#';
          link.title = 'Download (sha256 ' + a.sha256 + ')';
          link.addEventListener('click', async (e) => {
            e.preventDefault();
            try {
              const res = await api(jobPath(id, '/artifacts/' + encodeURIComponent(a.name)), { headers: { Accept: '*/*' } });
              const url = URL.createObjectURL(await res.blob());
              const save = Object.assign(document.createElement('a'), { href: url, download: a.name });
              document.body.append(save);
              save.click();
              save.remove();
              setTimeout(() => URL.revokeObjectURL(url), 10000);
            } catch (err) {
              showBanner(`Could not download ${a.name}: ${err.message}`);
            }
          });
          li.append(link, el('span', 'size', bytes(a.size)));
          return li;
        }),
      );
    }

    function renderMetrics(metrics) {
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

    function drawEquity(rows) {
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

    function drawLearning(steps, reward, validation, validationName) {
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

    (async () => {
      try {
        render(await apiJson(jobPath(id, '/status'), { signal }));
      } catch (e) {
        if (aborted(e, signal)) return;
        showBanner(e.status === 404 ? `No job ${id}.` : 'Could not load the job: ' + e.message);
        return;
      }
      setConn('ok', 'live');
      const done = () => TERMINAL.has(short(job.state));
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
        if (job && !TERMINAL.has(short(job.state)) && !signal.aborted) render(job);
      }
    })();
  }

  // ---------------------------------------------------------------------------------------------
  // CSV and charts
  // ---------------------------------------------------------------------------------------------

  /** Rows of a numeric CSV with a header, as objects (empty cells are NaN). */
  function parseCsv(text) {
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

  function placeholder(node, text) {
    node.replaceChildren(el('div', 'placeholder', text));
  }

  function svg(tag, attrs = {}, className) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (className) node.setAttribute('class', className);
    return node;
  }

  /** About `n` round tick values covering [lo, hi]. */
  function niceTicks(lo, hi, n) {
    const span = hi - lo;
    const raw = span / Math.max(1, n);
    const mag = 10 ** Math.floor(Math.log10(raw));
    const f = raw / mag;
    const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return ticks;
  }

  /** Keeps at most `max` points, evenly spaced, always the last. */
  function thin(indices, max) {
    if (indices.length <= max) return indices;
    const stride = indices.length / max;
    const out = [];
    for (let i = 0; i < max; i++) out.push(indices[Math.floor(i * stride)]);
    out.push(indices[indices.length - 1]);
    return out;
  }

  const charts = new Map(); // node → options, redrawn on resize

  /**
   * An SVG line chart into `node`: `series` [{ name, y, cls, dots }] over the shared `x`
   * (unix ms when `time`), with axes, grid, a legend and a hover read-out.
   */
  function lineChart(node, options) {
    charts.set(node, options);
    const { series, x, time = false, title, xFormat, baseline, height = 280 } = options;
    const width = Math.max(280, node.clientWidth || 600);
    const m = { left: 52, right: 14, top: 10, bottom: 26 };
    const w = width - m.left - m.right;
    const h = height - m.top - m.bottom;

    const idx = [];
    for (let i = 0; i < x.length; i++) if (finite(x[i])) idx.push(i);
    let ylo = Infinity;
    let yhi = -Infinity;
    for (const s of series) {
      for (const i of idx) {
        const v = s.y[i];
        if (finite(v)) {
          if (v < ylo) ylo = v;
          if (v > yhi) yhi = v;
        }
      }
    }
    node.replaceChildren();
    if (title) node.append(el('div', 'chart-title', title));
    const legend = el('div', 'legend');
    for (const s of series) {
      const key = el('span');
      const k = s.cls.match(/s(\d)/);
      const mark = el('i', (s.dots ? 'dotted ' : '') + (s.cls.includes('dash') ? 'dash ' : '') + 'k' + (k ? k[1] : '0'));
      key.append(mark, s.name);
      legend.append(key);
    }
    node.append(legend);
    if (!idx.length || !finite(ylo)) {
      node.append(el('div', 'placeholder', 'No data yet.'));
      return;
    }
    const xlo = x[idx[0]];
    let xhi = x[idx[idx.length - 1]];
    if (xhi === xlo) xhi = xlo + 1;
    if (finite(baseline) && baseline >= ylo - (yhi - ylo) * 0.25 && baseline <= yhi + (yhi - ylo) * 0.25) {
      ylo = Math.min(ylo, baseline);
      yhi = Math.max(yhi, baseline);
    }
    if (yhi === ylo) {
      const pad = Math.abs(ylo) * 0.05 || 1;
      ylo -= pad;
      yhi += pad;
    }
    const ypad = (yhi - ylo) * 0.06;
    ylo -= ypad;
    yhi += ypad;
    const sx = (v) => m.left + ((v - xlo) / (xhi - xlo)) * w;
    const sy = (v) => m.top + (1 - (v - ylo) / (yhi - ylo)) * h;

    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
    root.setAttribute('aria-label', (title || 'chart') + ': ' + series.map((s) => s.name).join(', '));
    const axis = svg('g', {}, 'axis');
    const yticks = niceTicks(ylo, yhi, Math.max(3, Math.round(h / 45)));
    const ystep = yticks.length > 1 ? yticks[1] - yticks[0] : 1;
    const decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10(ystep) - 1e-9)));
    const yFormat = (v) => (Math.abs(v) >= 1e4 ? compact(v) : v.toFixed(decimals));
    for (const t of yticks) {
      const y = sy(t);
      root.append(svg('line', { x1: m.left, x2: m.left + w, y1: y, y2: y }, 'gridline'));
      const label = svg('text', { x: m.left - 8, y: y + 3.5, 'text-anchor': 'end' });
      label.textContent = yFormat(t);
      axis.append(label);
    }
    const timeTicks = Math.max(2, Math.min(7, Math.floor(w / 120)));
    const xticks = time
      ? Array.from({ length: timeTicks }, (_, i) => xlo + ((xhi - xlo) * i) / (timeTicks - 1))
      : niceTicks(xlo, xhi, Math.max(2, Math.floor(w / 90)));
    xticks.forEach((t, i) => {
      const label = svg('text', {
        x: sx(t),
        y: m.top + h + 17,
        'text-anchor': time && i === 0 ? 'start' : time && i === xticks.length - 1 ? 'end' : 'middle',
      });
      label.textContent = time ? day(t) : (xFormat || String)(t);
      axis.append(label);
    });
    root.append(axis);
    if (finite(baseline) && baseline > ylo && baseline < yhi) {
      root.append(svg('line', { x1: m.left, x2: m.left + w, y1: sy(baseline), y2: sy(baseline) }, 'zero'));
    }
    root.append(svg('rect', { x: m.left, y: m.top, width: w, height: h }, 'frame'));

    const kept = thin(idx, Math.max(200, Math.floor(w * 1.5)));
    series.forEach((s, n) => {
      let d = '';
      let pen = false;
      for (const i of kept) {
        const v = s.y[i];
        if (!finite(v)) {
          pen = false;
          continue;
        }
        d += (pen ? 'L' : 'M') + sx(x[i]).toFixed(1) + ',' + sy(v).toFixed(1);
        pen = true;
      }
      if (s.dots) {
        const g = svg('g', {}, s.cls);
        for (const i of idx) {
          if (finite(s.y[i])) g.append(svg('circle', { cx: sx(x[i]).toFixed(1), cy: sy(s.y[i]).toFixed(1), r: 3 }, 'dot'));
        }
        root.append(svg('path', { d }, 'line thin ' + s.cls), g);
      } else {
        const path = svg('path', { d }, 'line ' + s.cls);
        path.dataset.series = String(n);
        root.append(path);
      }
    });

    // Hover read-out.
    const cursor = svg('line', { y1: m.top, y2: m.top + h, x1: m.left, x2: m.left, visibility: 'hidden' }, 'cursor');
    root.append(cursor);
    const tip = el('div', 'tip');
    tip.hidden = true;
    const hide = () => {
      tip.hidden = true;
      cursor.setAttribute('visibility', 'hidden');
    };
    root.addEventListener('mousemove', (e) => {
      const box = root.getBoundingClientRect();
      const px = ((e.clientX - box.left) / box.width) * width;
      if (px < m.left || px > m.left + w) {
        hide();
        return;
      }
      const target = xlo + ((px - m.left) / w) * (xhi - xlo);
      let best = idx[0];
      for (const i of kept) if (Math.abs(x[i] - target) < Math.abs(x[best] - target)) best = i;
      const cx = sx(x[best]);
      cursor.setAttribute('x1', cx);
      cursor.setAttribute('x2', cx);
      cursor.setAttribute('visibility', 'visible');
      tip.replaceChildren(el('div', 'muted', time ? dateTime(x[best]) : `${integer(x[best])} steps`));
      for (const s of series) {
        if (finite(s.y[best])) tip.append(el('div', '', `${s.name}: ${s.y[best].toFixed(3)}`));
      }
      tip.hidden = false;
      const left = (cx / width) * box.width;
      tip.style.left = Math.min(left + 12, box.width - tip.offsetWidth - 4) + 'px';
      tip.style.top = '36px';
    });
    root.addEventListener('mouseleave', hide);
    node.append(root, tip);
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [node, options] of charts) {
        if (node.isConnected && node.querySelector('svg')) lineChart(node, options);
      }
    }, 150);
  });

  route();
})();
