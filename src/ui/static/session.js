// Signing in: an API key or a JWT and the namespace the pages show, kept for the tab
// (api.js). The header shows both; any page whose data the daemon refuses with 401 turns into
// this form, and a page it refuses with 403 says which namespace and role were missing.

import {api, session, setSession, validNamespace, ApiError} from './api.js';
import {h, replace, title, errorBox} from './dom.js';

export function renderBar(bar, onChange) {
  const ns = h('span', {id: 'session-namespace', class: 'mono'}, session.namespace);
  const state = session.token
    ? [h('span', {id: 'session-state', dataset: {state: 'signed-in'}}, 'signed in'), ' ',
      h('button', {type: 'button', id: 'sign-out', class: 'link', onclick: () => {
        setSession('', session.namespace);
        onChange();
      }}, 'Sign out')]
    : [h('a', {id: 'sign-in-link', href: '#/sign-in', dataset: {state: 'anonymous'}}, 'Sign in')];
  replace(bar, h('span', {class: 'muted'}, 'Namespace '), ns, ' ', h('a', {href: '#/sign-in'}, 'change'), ' \u00b7 ', state);
}

// The form; `reason` (an ApiError) says why it is shown instead of a page.
export function renderSignIn(view, reason) {
  const {root} = view;
  const token = h('input', {id: 'sign-in-token', name: 'token', type: 'password', autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': 'sign-in-help'});
  const ns = h('input', {id: 'sign-in-namespace', name: 'namespace', type: 'text', value: session.namespace,
    autocomplete: 'off', spellcheck: 'false', maxlength: '63', required: true});
  const msg = h('div', {id: 'sign-in-msg', 'aria-live': 'polite'});
  const submit = h('button', {type: 'submit', id: 'sign-in-submit'}, 'Sign in');
  const form = h('form', {id: 'sign-in-form', class: 'form'},
    h('div', {class: 'field'}, h('label', {for: 'sign-in-token'}, 'API key or JWT'), token,
      h('p', {id: 'sign-in-help', class: 'field-msg'},
        'Kept in this tab only (sessionStorage) and sent to this daemon as a bearer token. ' +
        'Leave empty when the daemon runs without authentication.')),
    h('div', {class: 'field'}, h('label', {for: 'sign-in-namespace'}, 'Namespace'), ns),
    h('div', {}, submit), msg);
  const heading = title(reason ? 'Sign in to continue' : 'Sign in');
  root.append(heading);
  if (reason) root.append(h('p', {id: 'sign-in-reason', class: 'error-text'}, reason.message));
  root.append(form);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const want = ns.value.trim() || 'default';
    if (!validNamespace(want)) {
      ns.setAttribute('aria-invalid', 'true');
      replace(msg, errorBox(new Error('a namespace is 1 to 63 of a-z, 0-9 and -, not starting with -')));
      ns.focus();
      return;
    }
    ns.removeAttribute('aria-invalid');
    const before = {token: session.token, namespace: session.namespace};
    setSession(token.value.trim(), want);
    submit.disabled = true;
    try {
      await api('GET', '/v1/workflows');  // checks the credential in that namespace
      token.value = '';
      view.signedIn(view.query.get('next') || '#/overview');
    } catch (e) {
      setSession(before.token, before.namespace);
      const why = e instanceof ApiError && e.status === 401 ? 'The daemon refused this key or token: ' + e.message
        : e instanceof ApiError && e.status === 403 ? 'This key or token has no access to namespace ' + want + ': ' + e.message
          : e.message;
      replace(msg, errorBox(new Error(why)));
      token.focus();
    } finally {
      submit.disabled = false;
    }
  });
  if (!reason) heading.focus();
}
