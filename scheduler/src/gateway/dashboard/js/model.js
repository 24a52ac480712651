// A job as the page holds it: the job after one of its events (list and job page alike), and
// the figures derived from it (training speed, running time).

import { eventKind, integer, isTerminal, jobState } from './format.js';

/**
 * The job after `event`. An event the job already includes (a replayed one, at or before its
 * `lastSequence`) changes nothing; one that carries the job replaces it.
 */
export function applyEvent(job, event) {
  if (event.job) return { ...event.job };
  if (!job || (event.sequence || 0) <= (job.lastSequence || 0)) return job;
  const kind = eventKind(event.kind);
  const next = { ...job, state: event.state, lastSequence: event.sequence };
  if (kind === 'STATE' || kind === 'PROGRESS') {
    next.percent = event.percent;
    if (event.message) next.message = event.message;
  }
  if (kind === 'STATE') {
    const history = job.history || [];
    const last = history[history.length - 1];
    if (!last || jobState(last.state) !== jobState(event.state)) {
      next.history = [...history, { state: event.state, atMs: event.atMs, reason: event.message }];
    }
    if (jobState(event.state) === 'PREFLIGHT' && !job.startedMs) next.startedMs = event.atMs;
  }
  if (event.stepsDone) next.stepsDone = event.stepsDone;
  if (event.stepsPerSec) next.stepsPerSec = event.stepsPerSec;
  return next;
}

/** Training speed: the latest reported, or for a finished job its average over TRAINING. */
export function speed(job) {
  if (job.stepsPerSec && !isTerminal(job.state)) return integer(job.stepsPerSec) + ' steps/s';
  const history = job.history || [];
  const at = history.findIndex((h) => jobState(h.state) === 'TRAINING');
  if (at >= 0 && history[at + 1] && job.stepsDone) {
    const seconds = (history[at + 1].atMs - history[at].atMs) / 1000;
    if (seconds > 0) return integer(job.stepsDone / seconds) + ' steps/s avg';
  }
  return job.stepsPerSec ? integer(job.stepsPerSec) + ' steps/s' : '–';
}

/** Milliseconds since the job started (to its end, once finished), or null before it started. */
export function elapsed(job) {
  if (!job.startedMs) return null;
  return (job.finishedMs || Date.now()) - job.startedMs;
}
