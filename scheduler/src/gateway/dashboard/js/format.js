// Formatting: job and experiment states and event kinds by their plain names (whichever spelling
// the REST JSON uses), and numbers, intervals, times, durations and sizes as the page shows them.
// The only module that knows the prefixed enum spellings ("JOB_STATE_DONE", "EVENT_KIND_PROGRESS",
// "EXPERIMENT_STATE_RUNNING", ...).

/**
 * `value` without `prefix`: "JOB_STATE_DONE" and "DONE" both read "DONE". The REST JSON writes
 * enum names with their prefix today and will write plain names; the page accepts both. A value
 * that is not a string (a number this build of the scheduler did not know) is shown as it is.
 */
export function plainName(value, prefix) {
  const text = value === undefined || value === null ? '' : String(value);
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

/** A job's state: "QUEUED", "PREFLIGHT", "TRAINING", "EVALUATING", "DONE", ... */
export const jobState = (value) => plainName(value, 'JOB_STATE_');
/** A job event's kind: "SNAPSHOT", "STATE", "PROGRESS", ... */
export const eventKind = (value) => plainName(value, 'EVENT_KIND_');
/** An experiment's state: "RUNNING", "DONE", "CANCELLED" or "FAILED". */
export const experimentState = (value) => plainName(value, 'EXPERIMENT_STATE_');
/** A message of the scheduler-wide feed (/api/training/events): "RESET" or "CHANGE". */
export const feedKind = (value) => plainName(value, 'JOBS_EVENT_KIND_');

const TERMINAL = new Set(['DONE', 'FAILED', 'CANCELLED']);
/** Whether a job in `state` (either spelling) has ended. */
export const isTerminal = (state) => TERMINAL.has(jobState(state));

export const finite = (x) => typeof x === 'number' && Number.isFinite(x);
export const fixed = (x, digits = 2) => (finite(x) ? x.toFixed(digits) : '–');
export const signed = (x, digits = 2) => (finite(x) ? (x >= 0 ? '+' : '') + x.toFixed(digits) : '–');
export const percent = (x, digits = 1) => (finite(x) ? (x * 100).toFixed(digits) + '%' : '–');
export const signedPercent = (x, digits = 1) => (finite(x) ? (x >= 0 ? '+' : '') + (x * 100).toFixed(digits) + '%' : '–');
export const integer = (x) => (finite(x) ? Math.round(x).toLocaleString('en-US') : '–');

/** "[-0.12, +0.85]": an interval `{ lo, hi }` of signed figures ("" without one). */
export const interval = (i, digits = 2) => (i && finite(i.lo) && finite(i.hi) ? `[${signed(i.lo, digits)}, ${signed(i.hi, digits)}]` : '');

/** "+0.44 Sharpe over buy-and-hold [-5.10, +5.66], not significant", as the CLI says it. */
export function improvement(i) {
  if (!i) return 'not recorded (a job finished before it was)';
  const over = i.overGeneration ? `generation ${i.overGeneration}` : 'buy-and-hold';
  return `${signed(i.sharpeDifference)} Sharpe over ${over} [${signed(i.lo)}, ${signed(i.hi)}], ${i.significant ? 'significant' : 'not significant'}`;
}

/** 12.3k, 4.5M, ... */
export function compact(x) {
  if (!finite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1e9) return (x / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'B';
  if (a >= 1e6) return (x / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e4) return (x / 1e3).toFixed(0) + 'k';
  if (a >= 1e3) return (x / 1e3).toFixed(1) + 'k';
  return String(Math.round(x * 1000) / 1000);
}

const pad = (n) => String(n).padStart(2, '0');

/** 2024-05-01 13:45:07 (local time). */
export function dateTime(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 13:45:07 (local time). */
export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 2024-05-01 (local time). */
export function day(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** 850 ms, 4.2 s, 3 min 07 s, 2 h 05 min, 3 d 4 h. */
export function duration(ms) {
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

/** "just now", "3 min 07 s ago". */
export function ago(ms) {
  if (!ms) return '–';
  const d = Date.now() - ms;
  return d < 5000 ? 'just now' : duration(d) + ' ago';
}

/** 512 B, 3.4 KiB, 1.2 MiB. */
export function bytes(n) {
  if (!finite(n)) return '–';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}
