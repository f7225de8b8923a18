// Runs: newest first, filtered by workflow and status, paged with the API's cursor; a search
// box opens a run by id.

import {get, enc} from './api.js';
import {h, replace, title, table, runLink, workflowLink, statusBadge, fmtTime, fmtDuration, hashLink, errorBox} from './dom.js';

const STATUSES = ['queued', 'pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'];
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function row(r) {
  const took = r.finished_ms ? fmtDuration(r.finished_ms - r.created_ms) : '';
  return h('tr', {dataset: {run: r.id, status: r.status}},
    h('td', {}, runLink(r.id)), h('td', {}, workflowLink(r.workflow)), h('td', {}, 'v' + r.version),
    h('td', {}, statusBadge(r.status)), h('td', {}, fmtTime(r.created_ms)), h('td', {}, took));
}

export async function render(view) {
  const {root, query} = view;
  const workflow = query.get('workflow') || '';
  const status = query.get('status') || '';

  const wfSelect = h('select', {id: 'filter-workflow', name: 'workflow'}, h('option', {value: ''}, 'any workflow'));
  if (workflow) wfSelect.append(h('option', {value: workflow, selected: true}, workflow));
  const stSelect = h('select', {id: 'filter-status', name: 'status'}, h('option', {value: ''}, 'any status'),
    STATUSES.map((st) => h('option', {value: st, selected: st === status}, st)));
  const filters = h('form', {class: 'filters', id: 'runs-filters', onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = hashLink('/runs', {workflow: wfSelect.value, status: stSelect.value});
  }},
  h('label', {for: 'filter-workflow'}, 'Workflow'), wfSelect,
  h('label', {for: 'filter-status'}, 'Status'), stSelect,
  h('button', {type: 'submit'}, 'Filter'));
  // Changing a filter applies it at once; the button is there for keyboard users and clarity.
  wfSelect.addEventListener('change', () => filters.requestSubmit());
  stSelect.addEventListener('change', () => filters.requestSubmit());

  const idInput = h('input', {id: 'run-search', type: 'search', placeholder: 'run id', autocomplete: 'off',
    spellcheck: 'false', 'aria-describedby': 'run-search-msg'});
  const idMsg = h('span', {id: 'run-search-msg', class: 'field-msg', 'aria-live': 'polite'});
  const search = h('form', {class: 'filters', id: 'run-search-form', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    const id = idInput.value.trim().toLowerCase();
    if (!RUN_ID.test(id)) {
      idInput.setAttribute('aria-invalid', 'true');
      idMsg.textContent = 'A run id looks like 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.';
      return;
    }
    location.hash = '#/runs/' + enc(id);
  }},
  h('label', {for: 'run-search'}, 'Open run by id'), idInput, h('button', {type: 'submit'}, 'Open'), idMsg);

  const list = h('div', {}, h('p', {class: 'muted'}, 'Loading...'));
  const more = h('div');
  root.append(title('Runs'), search, filters, list, more);

  get('/v1/workflows').then((doc) => {
    for (const w of doc.workflows.map((x) => x.name).sort()) {
      if (w !== workflow) wfSelect.append(h('option', {value: w}, w));
    }
  }, () => {});

  const tbody = h('tbody');
  const params = new URLSearchParams();
  if (workflow) params.set('workflow', workflow);
  if (status) params.set('status', status);
  params.set('limit', '50');

  async function load(cursor) {
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await get('/v1/runs?' + params.toString());
      if (!cursor) {
        replace(list, page.runs.length
          ? h('div', {class: 'table-wrap'}, h('table', {id: 'runs-table'},
            h('thead', {}, h('tr', {}, ['Run', 'Workflow', 'Version', 'Status', 'Created', 'Took'].map((t) => h('th', {scope: 'col'}, t)))),
            tbody))
          : h('p', {class: 'muted', id: 'runs-empty'}, 'No runs match.'));
      }
      for (const r of page.runs) tbody.append(row(r));
      replace(more, page.next_cursor
        ? h('button', {type: 'button', onclick: () => load(page.next_cursor)}, 'Load more')
        : null);
    } catch (e) {
      replace(more, errorBox(e));
    }
  }
  await load(null);
}

