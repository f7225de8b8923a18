// Workflows: the list with versions, and one workflow's definition drawn as a DAG.

import {get, enc} from './api.js';
import {h, replace, title, table, workflowLink, hashLink, json, errorBox} from './dom.js';
import {drawDag} from './dag.js';

export async function renderList(view) {
  const {root} = view;
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading...'));
  root.append(title('Workflows'), body);
  try {
    const doc = await get('/v1/workflows');
    const list = [...doc.workflows].sort((a, b) => a.name.localeCompare(b.name));
    if (!list.length) {
      replace(body, h('p', {class: 'muted'}, 'No workflows registered. Register one with PUT /v1/workflows/{name}.'));
      return;
    }
    replace(body, table(['Name', 'Latest version', 'Versions', 'Steps', ''], list.map((w) => h('tr', {dataset: {workflow: w.name}},
      h('td', {}, workflowLink(w.name)),
      h('td', {}, 'v' + w.version),
      h('td', {}, String(w.versions)),
      h('td', {}, String(w.steps)),
      h('td', {class: 'actions'},
        h('a', {href: hashLink('/runs', {workflow: w.name})}, 'Runs'), ' ',
        h('a', {href: hashLink('/start', {workflow: w.name})}, 'Start')))), {id: 'workflows-table'}));
  } catch (e) {
    replace(body, errorBox(e));
  }
}

export async function renderOne(view, name) {
  const {root, query} = view;
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading...'));
  root.append(title('Workflow ', h('span', {class: 'mono'}, name)), body);
  try {
    const latest = await get('/v1/workflows/' + enc(name));
    const want = Number(query.get('version') || latest.version);
    const wf = want === latest.version ? latest : await get(`/v1/workflows/${enc(name)}?version=${want}`);
    const select = h('select', {id: 'wf-version', onchange: (ev) => {
      location.hash = hashLink('/workflows/' + enc(name), {version: ev.target.value});
    }});
    for (let v = latest.version; v >= 1; --v) {
      const opt = h('option', {value: String(v)}, 'v' + v + (v === latest.version ? ' (latest)' : ''));
      if (v === wf.version) opt.selected = true;
      select.append(opt);
    }
    const dag = drawDag(wf.definition, `Steps of ${name} v${wf.version}`);
    replace(body,
      h('div', {class: 'toolbar'},
        h('label', {for: 'wf-version'}, 'Version '), select,
        h('a', {class: 'button', href: hashLink('/start', {workflow: name})}, 'Start a run'),
        h('a', {href: hashLink('/runs', {workflow: name})}, 'Runs of this workflow')),
      h('h2', {}, 'Steps'),
      h('div', {class: 'dag-wrap', id: 'wf-dag'}, dag.svg),
      h('h2', {}, 'Definition'),
      h('pre', {class: 'code', id: 'wf-definition', tabindex: '0'}, json(wf.definition)));
  } catch (e) {
    replace(body, errorBox(e));
  }
}
