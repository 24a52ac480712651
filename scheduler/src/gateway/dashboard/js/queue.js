// The list page's queue and trainer panels (/api/training/queue): the jobs waiting in dispatch
// order (#queue-list), the trainers with their jobs, speed and last contact (#trainers-body),
// and the Queued, Running and Trainers counts.

import { $, el } from './dom.js';
import { ago, compact, integer } from './format.js';

const jobLink = (id) => Object.assign(el('a', 'mono', id), { href: '#/jobs/' + encodeURIComponent(id) });

/** Shows `queue` (the answer of GET /api/training/queue). */
export function renderQueue(queue) {
  $('stat-queued').textContent = String(queue.queued.length);
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
  $('queue-empty').hidden = queue.queued.length > 0;
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
