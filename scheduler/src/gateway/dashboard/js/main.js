// The dashboard's entry point (loaded by index.html as a module): routes the URL fragment to
// the list page (#/), a job's page (#/jobs/<id>) or an experiment's (#/experiments/<id>),
// restarting the view when the route or the secret changes, and shows unexpected errors on the
// page rather than only in the console.
//
// Every module: format.js (state names, numbers, times), dom.js (elements, links, badge,
// banner), auth.js (the admin secret), api.js (REST and event streams), model.js (a job after an
// event), table.js, queue.js and experiments.js (the list page's panels), list.js (the list
// page), job.js and results.js (a job's page), experiment.js, runs.js and report.js (an
// experiment's page), artifacts.js (artifact downloads), charts.js (SVG line charts).

import { initAuth, loadSecret } from './auth.js';
import { redrawChartsOnResize } from './charts.js';
import { $, el, showBanner } from './dom.js';
import { experimentView } from './experiment.js';
import { jobView } from './job.js';
import { listView } from './list.js';

let current = null; // AbortController of the view on screen

const VIEWS = ['view-list', 'view-job', 'view-experiment'];

function route() {
  loadSecret();
  if (current) current.abort();
  current = new AbortController();
  showBanner('');
  const path = location.hash.replace(/^#/, '') || '/';
  const match = path.match(/^\/(jobs|experiments)\/([^/&]+)/);
  const shown = !match ? 'view-list' : match[1] === 'jobs' ? 'view-job' : 'view-experiment';
  for (const view of VIEWS) $(view).hidden = view !== shown;
  const crumbs = $('crumbs');
  crumbs.replaceChildren(Object.assign(el('a', '', 'Jobs'), { href: '#/' }));
  if (match) {
    const id = decodeURIComponent(match[2]);
    crumbs.append(el('span', 'sep', '/'), el('span', 'mono', id));
    document.title = id + ' · skippy-train';
    if (match[1] === 'jobs') jobView(id, current.signal);
    else experimentView(id, current.signal);
  } else {
    document.title = 'Jobs · skippy-train';
    listView(current.signal);
  }
}

// A bug shows on the page rather than only in the console.
window.addEventListener('error', (e) => showBanner('Unexpected error in the dashboard: ' + e.message));
window.addEventListener('unhandledrejection', (e) => {
  const reason = e.reason;
  if (reason && reason.name === 'AbortError') return;
  showBanner('Unexpected error in the dashboard: ' + (reason && reason.message ? reason.message : String(reason)));
});

initAuth(route);
// Another page starts at its top (the list's scroll position would otherwise hide the new
// page's head under the sticky bar).
window.addEventListener('hashchange', () => {
  window.scrollTo(0, 0);
  route();
});
redrawChartsOnResize();
route();
