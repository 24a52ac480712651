// The admin secret: taken from the URL fragment (`/#token=…`, which browsers never send to a
// server) or from the secret form, kept in this tab's sessionStorage, and sent only as an
// `Authorization: Bearer` header, never in a URL. Also the form itself and "Forget secret".

import { $, setConn } from './dom.js';

const TOKEN_KEY = 'skippy-train.admin-secret';

/** The secret held by this tab ("" when none). */
export const secret = () => sessionStorage.getItem(TOKEN_KEY) || '';

/** The headers that carry the secret (none without one). */
export const authHeaders = () => (secret() ? { Authorization: 'Bearer ' + secret() } : {});

/**
 * Takes `token=…` out of the fragment (keeping the rest as the route) into sessionStorage, and
 * shows "Forget secret" when a secret is held.
 */
export function loadSecret() {
  takeTokenFromFragment();
  $('signout').hidden = !secret();
}

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

let loginShown = false;

/** Shows the secret form (once until it is submitted); `message` is why the last one was refused. */
export function askForSecret(message) {
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

/** Wires the secret form and "Forget secret"; `onChange()` runs when the secret changes. */
export function initAuth(onChange) {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('login-secret').value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $('login').hidden = true;
    loginShown = false;
    $('signout').hidden = false;
    onChange();
  });

  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('signout').hidden = true;
    onChange();
  });
}
