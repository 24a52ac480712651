// A "show older" button under a list read a page at a time: it follows the list's `next` link
// and hands the page to the list; hidden on the last page and once the view is left.

import { aborted, apiJson } from './api.js';
import { showBanner } from './dom.js';

/**
 * Wires `button` to the pages after the first until `signal` aborts. `append(page)` adds a page
 * to the list; `what` names its items in the banner shown when one cannot be read ("older
 * jobs"). Returns `setNext(link)`, to call with each first page's `next`.
 */
export function olderPages(button, signal, append, what) {
  let nextPage = null;
  function setNext(next) {
    nextPage = next || null;
    button.hidden = !nextPage;
  }
  button.onclick = async () => {
    if (!nextPage) return;
    button.disabled = true;
    try {
      const page = await apiJson(nextPage, { signal });
      if (signal.aborted) return;
      append(page);
      setNext(page.next);
    } catch (e) {
      if (!aborted(e, signal)) showBanner(`Could not load ${what}: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  };
  signal.addEventListener('abort', () => {
    button.onclick = null;
    button.hidden = true;
  });
  return setNext;
}
