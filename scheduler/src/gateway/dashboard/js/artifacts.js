// An artifact list with downloads (a job's or an experiment's): each name fetches its file with
// the secret and saves it, since a plain link could not send the Authorization header.

import { api } from './api.js';
import { el, showBanner } from './dom.js';
import { bytes } from './format.js';

/**
 * Lists `artifacts` ([{ name, size, sha256 }]) in `list`, showing `empty` when there are none;
 * `pathOf(name)` is the file's API path.
 */
export function renderArtifacts(list, empty, artifacts, pathOf) {
  empty.hidden = artifacts.length > 0;
  list.replaceChildren(
    ...artifacts.map((a) => {
      const li = el('li');
      const link = el('a', 'mono', a.name);
      link.href = '#';
      link.title = 'Download (sha256 ' + a.sha256 + ')';
      link.addEventListener('click', async (e) => {
        e.preventDefault();
        try {
          const res = await api(pathOf(a.name), { headers: { Accept: '*/*' } });
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
