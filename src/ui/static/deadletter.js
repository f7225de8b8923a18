// Dead letter: failed (and quarantined) runs, newest first; select some or all and retry them.
// Retries go out a few at a time and each row shows its own outcome.

import {get, post, enc} from './api.js';
import {h, replace, title, runLink, workflowLink, fmtTime, hashLink, errorBox} from './dom.js';

const PARALLEL = 4;

export async function render(view) {
  const {root, query} = view;
  const workflow = query.get('workflow') || '';
  const wfSelect = h('select', {id: 'dl-workflow'}, h('option', {value: ''}, 'any workflow'));
  if (workflow) wfSelect.append(h('option', {value: workflow, selected: true}, workflow));
  wfSelect.addEventListener('change', () => {
    location.hash = hashLink('/dead-letter', {workflow: wfSelect.value});
  });
  const list = h('div', {}, h('p', {class: 'muted'}, 'Loading...'));
  const more = h('div');
  const status = h('div', {id: 'dl-status', 'aria-live': 'polite'});
  const selectAll = h('input', {type: 'checkbox', id: 'dl-select-all'});
  const retryBtn = h('button', {type: 'button', id: 'dl-retry', disabled: true}, 'Retry selected');
  root.append(title('Dead letter'),
    h('p', {class: 'muted'}, 'Runs that failed, newest first. Retrying resumes a run from its failed steps.'),
    h('div', {class: 'filters'}, h('label', {for: 'dl-workflow'}, 'Workflow'), wfSelect),
    h('div', {class: 'toolbar'}, h('label', {for: 'dl-select-all', class: 'check'}, selectAll, ' Select all shown'), retryBtn),
    status, list, more);

  get('/v1/workflows').then((doc) => {
    for (const w of doc.workflows.map((x) => x.name).sort()) if (w !== workflow) wfSelect.append(h('option', {value: w}, w));
  }, () => {});

  const tbody = h('tbody');
  const boxes = () => [...tbody.querySelectorAll('input[type=checkbox]')];
  const refresh = () => {
    const chosen = boxes().filter((b) => b.checked && !b.disabled);
    retryBtn.disabled = chosen.length === 0;
    retryBtn.textContent = chosen.length ? `Retry selected (${chosen.length})` : 'Retry selected';
    selectAll.checked = chosen.length > 0 && chosen.length === boxes().filter((b) => !b.disabled).length;
  };
  selectAll.addEventListener('change', () => {
    for (const b of boxes()) if (!b.disabled) b.checked = selectAll.checked;
    refresh();
  });

  retryBtn.addEventListener('click', async () => {
    const chosen = boxes().filter((b) => b.checked && !b.disabled);
    retryBtn.disabled = true;
    let ok = 0;
    let failed = 0;
    replace(status, h('p', {class: 'muted'}, `Retrying ${chosen.length} runs...`));
    const queue = [...chosen];
    async function worker() {
      while (queue.length) {
        const box = queue.shift();
        const id = box.value;
        const cell = tbody.querySelector(`tr[data-run="${CSS.escape(id)}"] .dl-outcome`);
        try {
          const run = await post(`/v1/runs/${enc(id)}/retry`);
          ok++;
          box.checked = false;
          box.disabled = true;
          replace(cell, h('span', {class: 'ok'}, 'retried: ' + run.status));
        } catch (e) {
          failed++;
          replace(cell, h('span', {class: 'error-text'}, (e.code || 'error') + ': ' + e.message));
        }
      }
    }
    await Promise.all(Array.from({length: PARALLEL}, worker));
    replace(status, h('p', {class: failed ? 'error' : 'ok', role: 'status', id: 'dl-result'},
      `${ok} retried` + (failed ? `, ${failed} refused` : '') + '.'));
    refresh();
  });

  const params = new URLSearchParams({limit: '100'});
  if (workflow) params.set('workflow', workflow);
  async function load(cursor) {
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await get('/v1/dead-letter?' + params.toString());
      if (!cursor) {
        replace(list, page.runs.length
          ? h('div', {class: 'table-wrap'}, h('table', {id: 'dl-table'},
            h('thead', {}, h('tr', {}, ['', 'Run', 'Workflow', 'Failed step', 'Error', 'Finished', 'Retry'].map((t) => h('th', {scope: 'col'}, t)))),
            tbody))
          : h('p', {class: 'muted', id: 'dl-empty'}, 'No failed runs.'));
      }
      for (const r of page.runs) {
        const box = h('input', {type: 'checkbox', value: r.id, 'aria-label': 'select run ' + r.id});
        box.addEventListener('change', refresh);
        tbody.append(h('tr', {dataset: {run: r.id}},
          h('td', {}, box), h('td', {}, runLink(r.id)), h('td', {}, workflowLink(r.workflow)),
          h('td', {class: 'mono'}, r.step || ''), h('td', {class: 'error-text'}, r.error || ''),
          h('td', {}, fmtTime(r.finished_ms)), h('td', {class: 'dl-outcome'})));
      }
      replace(more, page.next_cursor ? h('button', {type: 'button', onclick: () => load(page.next_cursor)}, 'Load more') : null);
      refresh();
    } catch (e) {
      replace(more, errorBox(e));
    }
  }
  await load(null);
}
