// The list page's queue and trainer panels (/api/training/queue): the first jobs waiting in
// dispatch order and how many more (#queue-list), the trainers with their jobs, speed and last
// contact (#trainers-body), and the Queued (the queue's total), Running and Trainers counts.

import { $, el, jobLink } from './dom.js';
import { ago, compact, integer } from './format.js';

/** Shows `queue` (the answer of GET /api/training/queue: its first page, and the total). */
export function renderQueue(queue) {
  const total = Math.max(queue.totalQueued || 0, queue.queued.length);
  $('stat-queued').textContent = String(total);
  $('stat-running').textContent = String(queue.running.length);
  $('stat-trainers').textContent = String(queue.trainers.length);
  $('queue-list').replaceChildren(
    ...queue.queued.map((job) => {
      const li = el('li');
      const spec = job.spec || {};
      const what = `${(spec.symbols || []).join(', ')} · ${compact(job.totalSteps)} steps` + (spec.priority ? ` · priority ${spec.priority}` : '');
      li.append(jobLink(job.id), el('span', 'muted', what));
      return li;
    }),
  );
  // The page shows the head of the queue; the rest is counted.
  if (total > queue.queued.length) {
    const more = el('li', 'more muted', `… and ${integer(total - queue.queued.length)} more`);
    more.id = 'queue-more';
    $('queue-list').append(more);
  }
  $('queue-empty').hidden = total > 0;
  $('trainers-body').replaceChildren(
    ...queue.trainers.map((t) => {
      const tr = el('tr');
      const jobs = el('td');
      for (const id of t.jobIds) jobs.append(jobLink(id), ' ');
      if (t.drained) jobs.append(el('span', 'error', `drained: ${t.drained}`));
      else if (!t.jobIds.length) jobs.append(el('span', 'muted', 'idle'));
      tr.append(el('td', '', t.name || t.trainerId), jobs, el('td', 'num', t.stepsPerSec ? integer(t.stepsPerSec) : '–'), el('td', 'num muted', ago(t.lastSeenMs)));
      return tr;
    }),
  );
  $('trainers').hidden = queue.trainers.length === 0;
  $('trainers-empty').hidden = queue.trainers.length > 0;
}
