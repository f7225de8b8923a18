// The hash router: "#/runs/ID?x=y" -> a view. Each navigation renders into a fresh container,
// so a view's late async results land in a detached node instead of the next view, and runs the
// previous view's cleanups (EventSource, timers).

import {h, errorBox} from './dom.js';
import * as overview from './overview.js';
import * as workflows from './workflows.js';
import * as runs from './runs.js';
import * as run from './run.js';
import * as deadletter from './deadletter.js';
import * as start from './start.js';
import * as signin from './session.js';

const ROUTES = [
  [/^\/?$/, 'overview', overview.render],
  [/^\/overview$/, 'overview', overview.render],
  [/^\/workflows$/, 'workflows', workflows.renderList],
  [/^\/workflows\/([^/]+)$/, 'workflows', workflows.renderOne],
  [/^\/runs$/, 'runs', runs.render],
  [/^\/runs\/([^/]+)$/, 'runs', run.render],
  [/^\/start$/, 'start', start.render],
  [/^\/dead-letter$/, 'dead-letter', deadletter.render],
  [/^\/sign-in$/, 'sign-in', (view) => signin.renderSignIn(view, refusal)],
];

let cleanups = [];
let refusal = null;  // the 401 that sent us to the sign-in form

function showSession() {
  signin.renderBar(document.getElementById('session'), () => {
    showSession();
    navigate(false);
  });
}

// Any request the daemon refuses with 401: the sign-in form, then back to this page.
window.addEventListener('rf-unauthorized', (ev) => {
  if (parseHash().path === '/sign-in') return;
  refusal = ev.detail;
  location.hash = '#/sign-in?next=' + encodeURIComponent(location.hash || '#/overview');
});

function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return {path, query};
}

function navigate(focus) {
  for (const fn of cleanups) {
    try {
      fn();
    } catch (e) {
      console.warn('cleanup failed', e);
    }
  }
  cleanups = [];
  const main = document.getElementById('view');
  const root = h('div', {class: 'view'});
  main.replaceChildren(root);

  const {path, query} = parseHash();
  let section = '';
  let found = false;
  for (const [re, nav, fn] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    found = true;
    section = nav;
    let params;
    try {
      params = m.slice(1).map(decodeURIComponent);
    } catch (e) {
      root.append(h('h1', {tabindex: '-1'}, 'Bad address'), errorBox(e));
      break;
    }
    const view = {
      root,
      query,
      alive: () => root.isConnected,
      onCleanup: (f) => cleanups.push(f),
      signedIn: (target) => {
        refusal = null;
        showSession();
        if (location.hash === target) navigate(true);
        else location.hash = target;
      },
    };
    Promise.resolve(fn(view, ...params)).catch((e) => {
      if (root.isConnected) root.append(errorBox(e));
    });
    break;
  }
  if (!found) {
    root.append(h('h1', {tabindex: '-1'}, 'Not found'),
      h('p', {}, 'No page at this address. ', h('a', {href: '#/overview'}, 'Go to the overview')));
  }
  for (const a of document.querySelectorAll('nav a[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = 'ringflow' + (section ? ' - ' + section : '');
  if (focus) {
    const h1 = root.querySelector('h1');
    (h1 || main).focus();
  }
}

window.addEventListener('hashchange', () => navigate(true));
showSession();
navigate(false);
