// Start a run: workflow, priority, optional Idempotency-Key, JSON input. Opens the run's page.

import {get, enc, scoped, authHeaders} from './api.js';
import {h, replace, title, errorBox} from './dom.js';

export async function render(view) {
  const {root, query} = view;
  const wfSelect = h('select', {id: 'start-workflow', name: 'workflow', required: true});
  const prio = h('select', {id: 'start-priority', name: 'priority'},
    ['default', 'critical', 'low'].map((p) => h('option', {value: p}, p)));
  const key = h('input', {id: 'start-key', name: 'key', type: 'text', autocomplete: 'off', maxlength: '256'});
  const input = h('textarea', {id: 'start-input', name: 'input', rows: 8, spellcheck: 'false', class: 'mono',
    'aria-describedby': 'start-input-msg'}, '{}');
  const inputMsg = h('p', {id: 'start-input-msg', class: 'field-msg', 'aria-live': 'polite'},
    'Any JSON value; it becomes the run\'s input.');
  const msg = h('div', {id: 'start-msg', 'aria-live': 'polite'});
  const submit = h('button', {type: 'submit', id: 'start-submit'}, 'Start run');
  const form = h('form', {id: 'start-form', class: 'form'},
    h('div', {class: 'field'}, h('label', {for: 'start-workflow'}, 'Workflow'), wfSelect),
    h('div', {class: 'field'}, h('label', {for: 'start-priority'}, 'Priority'), prio),
    h('div', {class: 'field'}, h('label', {for: 'start-key'}, 'Idempotency-Key (optional)'), key),
    h('div', {class: 'field'}, h('label', {for: 'start-input'}, 'Input (JSON)'), input, inputMsg),
    h('div', {}, submit), msg);
  root.append(title('Start a run'), form);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let value;
    try {
      value = input.value.trim() ? JSON.parse(input.value) : null;
      input.removeAttribute('aria-invalid');
      inputMsg.textContent = 'Any JSON value; it becomes the run\'s input.';
    } catch (e) {
      input.setAttribute('aria-invalid', 'true');
      inputMsg.textContent = 'Not JSON: ' + e.message;
      input.focus();
      return;
    }
    if (!wfSelect.value) {
      replace(msg, errorBox(new Error('choose a workflow')));
      return;
    }
    submit.disabled = true;
    replace(msg, h('p', {class: 'muted'}, 'Starting...'));
    const headers = {'Content-Type': 'application/json', Accept: 'application/json'};
    if (key.value) headers['Idempotency-Key'] = key.value;
    try {
      const resp = await fetch(scoped(`/v1/workflows/${enc(wfSelect.value)}/runs`), {method: 'POST',
        headers: authHeaders(headers), credentials: 'omit',
        body: JSON.stringify({input: value, priority: prio.value})});
      const doc = await resp.json().catch(() => null);
      if (!resp.ok) {
        const err = (doc && doc.error) || {code: 'http_' + resp.status, message: resp.statusText};
        const e = new Error(err.message);
        e.code = err.code;
        throw e;
      }
      location.hash = '#/runs/' + enc(doc.id);
    } catch (e) {
      replace(msg, errorBox(e));
    } finally {
      submit.disabled = false;
    }
  });

  try {
    const doc = await get('/v1/workflows');
    const names = doc.workflows.map((w) => w.name).sort();
    if (!names.length) {
      replace(msg, h('p', {class: 'muted'}, 'No workflows registered yet.'));
      return;
    }
    const want = query.get('workflow');
    for (const n of names) wfSelect.append(h('option', {value: n, selected: n === want}, n));
  } catch (e) {
    replace(msg, errorBox(e));
  }
}

