// One run: summary, actions (cancel, retry, signal an approval step), the DAG coloured by step
// status, a timeline of the steps (attempts, durations, errors, outputs) and the event log.
// Live: the run's SSE stream (GET /v1/runs/{id}/events) drives every update; each event
// changes the status it names at once and schedules one re-read of the run for the details
// (attempts, outputs). The stream ends after the terminal event; if it cannot be opened (a
// daemon that does not hold the run answers 503) the page falls back to polling.

import {get, post, enc, openStream} from './api.js';
import {h, replace, title, statusBadge, workflowLink, runLink, fmtTime, fmtDuration, json, errorBox} from './dom.js';
import {drawDag} from './dag.js';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const EVENT_TYPES = ['run.created', 'step.started', 'step.succeeded', 'step.failed', 'step.retrying',
  'step.skipped', 'run.waiting', 'run.resumed', 'run.succeeded', 'run.failed', 'run.cancelled'];
const STEP_STATUS = {'step.started': 'running', 'step.succeeded': 'succeeded', 'step.failed': 'failed',
  'step.retrying': 'retrying', 'step.skipped': 'skipped'};
const RUN_STATUS = {'run.waiting': 'waiting', 'run.resumed': 'running', 'run.succeeded': 'succeeded',
  'run.failed': 'failed', 'run.cancelled': 'cancelled'};
const MAX_LOG = 300;

export async function render(view, id) {
  const {root} = view;
  const live = h('span', {class: 'live', id: 'live', dataset: {state: 'connecting'}, 'aria-live': 'polite'}, 'connecting');
  const summary = h('div', {id: 'run-summary'}, h('p', {class: 'muted'}, 'Loading...'));
  const actions = h('div', {id: 'run-actions', class: 'actions-bar'});
  const actionMsg = h('div', {id: 'run-action-msg', 'aria-live': 'polite'});
  const dagWrap = h('div', {class: 'dag-wrap', id: 'run-dag'});
  const steps = h('ol', {id: 'run-steps', class: 'steps'});
  const io = h('div', {id: 'run-io'});
  const log = h('ol', {id: 'run-events', class: 'events'});
  root.append(title('Run ', h('span', {class: 'mono'}, id), ' ', live), summary, actions, actionMsg,
    h('h2', {}, 'Steps'), dagWrap, steps, io,
    h('details', {class: 'event-log'}, h('summary', {}, 'Event log'), log));

  let run = null;
  let dag = null;
  let actionsKey = '';
  let maxSeq = 0;
  let stopStream = null;
  let pollTimer = null;
  let refetchTimer = null;

  function renderSummary() {
    const took = (run.finished_ms || Date.now()) - run.created_ms;
    const rows = [
      ['Workflow', [workflowLink(run.workflow), ' v' + run.version]],
      ['Status', h('span', {id: 'run-status'}, statusBadge(run.status))],
      ['Priority', run.priority],
      ['Created', fmtTime(run.created_ms)],
      ['Updated', fmtTime(run.updated_ms)],
      ['Finished', run.finished_ms ? fmtTime(run.finished_ms) : '-'],
      ['Duration', h('span', {dataset: run.finished_ms ? {} : {since: String(run.created_ms)}}, fmtDuration(took))],
    ];
    if (run.idempotency_key) rows.push(['Idempotency key', h('span', {class: 'mono'}, run.idempotency_key)]);
    if (run.parent) rows.push(['Parent run', [runLink(run.parent.run_id), ` (step ${run.parent.step})`]]);
    if (run.error) rows.push(['Error', h('span', {class: 'error-text'}, run.error.message + (run.error.step ? ` (step ${run.error.step})` : ''))]);
    replace(summary, h('dl', {class: 'kv'}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  }

  function act(label, fn) {
    return async (ev) => {
      const btn = ev.currentTarget;
      btn.disabled = true;
      replace(actionMsg, h('p', {class: 'muted'}, label + '...'));
      try {
        run = await fn();
        replace(actionMsg, h('p', {class: 'ok'}, label + ': done.'));
        update();
        if (!TERMINAL.has(run.status)) connect();
      } catch (e) {
        replace(actionMsg, errorBox(e));
      } finally {
        btn.disabled = false;
      }
    };
  }

  function renderActions() {
    const waiting = run.steps.filter((st) => st.type === 'approval' && st.status === 'waiting').map((st) => st.id);
    const key = [TERMINAL.has(run.status) ? '' : 'cancel', run.status === 'failed' ? 'retry' : '', ...waiting].join('|');
    if (key === actionsKey) return;
    actionsKey = key;
    const parts = [];
    if (!TERMINAL.has(run.status)) {
      const confirm = h('span', {class: 'confirm', hidden: true},
        'Cancel this run? ',
        h('button', {type: 'button', id: 'cancel-confirm', class: 'danger',
          onclick: act('Cancel', () => post(`/v1/runs/${enc(id)}/cancel`))}, 'Yes, cancel it'),
        h('button', {type: 'button', id: 'cancel-abort', onclick: () => {
          confirm.hidden = true;
          cancelBtn.hidden = false;
          cancelBtn.focus();
        }}, 'No'));
      const cancelBtn = h('button', {type: 'button', id: 'cancel-run', class: 'danger', onclick: () => {
        cancelBtn.hidden = true;
        confirm.hidden = false;
        confirm.querySelector('#cancel-confirm').focus();
      }}, 'Cancel run');
      parts.push(h('div', {class: 'action'}, cancelBtn, confirm));
    }
    if (run.status === 'failed') {
      parts.push(h('div', {class: 'action'}, h('button', {type: 'button', id: 'retry-run',
        onclick: act('Retry', () => post(`/v1/runs/${enc(id)}/retry`))}, 'Retry from the failed steps')));
    }
    for (const step of waiting) {
      const areaId = 'signal-payload-' + step;
      const area = h('textarea', {id: areaId, rows: 2, spellcheck: 'false', class: 'mono'}, '{}');
      const msg = h('span', {class: 'field-msg', 'aria-live': 'polite'});
      parts.push(h('form', {class: 'action signal', dataset: {step}, onsubmit: async (ev) => {
        ev.preventDefault();
        let payload;
        try {
          payload = area.value.trim() ? JSON.parse(area.value) : null;
        } catch (e) {
          area.setAttribute('aria-invalid', 'true');
          msg.textContent = 'Not JSON: ' + e.message;
          return;
        }
        area.removeAttribute('aria-invalid');
        msg.textContent = '';
        await act('Signal ' + step, () => post(`/v1/runs/${enc(id)}/signals/${enc(step)}`, JSON.stringify(payload)))(
          {currentTarget: ev.target.querySelector('button')});
      }},
      h('label', {for: areaId}, 'Payload for approval step ', h('span', {class: 'mono'}, step)), area,
      h('button', {type: 'submit', dataset: {signal: step}}, 'Signal ' + step), msg));
    }
    replace(actions, parts.length ? parts : h('p', {class: 'muted'}, 'No actions: the run has ended.'));
  }

  function attemptRows(step) {
    return step.attempts.map((a, i) => h('tr', {},
      h('td', {}, String(i + 1)),
      h('td', {}, fmtTime(a.started_ms)),
      h('td', {dataset: a.finished_ms ? {} : {since: String(a.started_ms)}},
        fmtDuration((a.finished_ms || Date.now()) - a.started_ms)),
      h('td', {class: a.error ? 'error-text' : ''}, a.error || '')));
  }

  function renderSteps() {
    // Keep open what the reader opened: the list is rebuilt on every event.
    const opened = new Set([...steps.querySelectorAll('details[open]')].map((d) => d.closest('li').dataset.step));
    const t0 = run.created_ms;
    const t1 = Math.max(run.finished_ms || Date.now(), t0 + 1);
    const items = run.steps.map((step) => {
      const bars = step.attempts.map((a) => {
        const left = ((a.started_ms - t0) / (t1 - t0)) * 100;
        const width = Math.max(0.5, (((a.finished_ms || Date.now()) - a.started_ms) / (t1 - t0)) * 100);
        return h('span', {class: 'bar' + (a.error ? ' bar-error' : ''), style: null,
          dataset: {left: left.toFixed(2), width: width.toFixed(2)}});
      });
      const li = h('li', {class: 'step status-' + step.status, dataset: {step: step.id, status: step.status}},
        h('div', {class: 'step-head'},
          h('span', {class: 'step-id mono'}, step.id), h('span', {class: 'muted'}, step.type),
          statusBadge(step.status),
          step.attempts.length ? h('span', {class: 'muted'}, step.attempts.length + (step.attempts.length === 1 ? ' attempt' : ' attempts')) : null,
          step.due_ms ? h('span', {class: 'muted'}, 'due ' + fmtTime(step.due_ms)) : null,
          step.child_run_id ? h('span', {class: 'muted'}, 'child run ', runLink(step.child_run_id)) : null),
        h('div', {class: 'track', 'aria-hidden': 'true'}, bars),
        step.attempts.length ? h('div', {class: 'table-wrap'}, h('table', {class: 'attempts'},
          h('thead', {}, h('tr', {}, ['#', 'Started', 'Duration', 'Error'].map((t) => h('th', {scope: 'col'}, t)))),
          h('tbody', {}, attemptRows(step)))) : null,
        step.error ? h('p', {class: 'error-text'}, 'Error: ' + step.error) : null,
        step.output !== undefined ? h('details', {class: 'output', open: opened.has(step.id)}, h('summary', {}, 'Output'),
          h('pre', {class: 'code', tabindex: '0'}, json(step.output))) : null);
      return li;
    });
    replace(steps, items);
    // Bar geometry through the CSSOM (the page's policy admits no inline style attributes).
    for (const bar of steps.querySelectorAll('.bar')) {
      bar.style.left = bar.dataset.left + '%';
      bar.style.width = bar.dataset.width + '%';
    }
    if (dag) dag.update(Object.fromEntries(run.steps.map((st) => [st.id, st.status])));
  }

  function renderIo() {
    replace(io,
      h('details', {class: 'output'}, h('summary', {}, 'Run input'), h('pre', {class: 'code', tabindex: '0'}, json(run.input))),
      run.output !== undefined ? h('details', {class: 'output', open: true}, h('summary', {}, 'Run output'),
        h('pre', {class: 'code', id: 'run-output', tabindex: '0'}, json(run.output))) : null);
  }

  function update() {
    root.dataset.status = run.status;
    renderSummary();
    renderActions();
    renderSteps();
    renderIo();
  }

  async function refetch() {
    refetchTimer = null;
    try {
      run = await get('/v1/runs/' + enc(id));
      if (view.alive()) update();
    } catch (e) {
      replace(actionMsg, errorBox(e));
    }
  }

  function scheduleRefetch() {
    if (refetchTimer === null) refetchTimer = setTimeout(refetch, 150);
  }

  function setLive(state, text) {
    live.dataset.state = state;
    live.textContent = text;
  }

  function onEvent(ev) {
    let e;
    try {
      e = JSON.parse(ev.data);
    } catch (err) {
      return;
    }
    if (e.seq <= maxSeq) return;  // a reopened stream replays history we have
    maxSeq = e.seq;
    log.append(h('li', {dataset: {seq: String(e.seq), type: e.type}},
      h('span', {class: 'mono'}, '#' + e.seq), ' ', fmtTime(e.at_ms), ' ', h('strong', {}, e.type),
      e.step ? [' ', h('span', {class: 'mono'}, e.step)] : null));
    while (log.childElementCount > MAX_LOG) log.firstElementChild.remove();
    // History the run as read already reflects (the stream replays it first) must not set
    // statuses back; newer events move them at once, before the re-read brings the details.
    if (run && e.at_ms > run.updated_ms) {
      const step = e.step && run.steps.find((st) => st.id === e.step);
      if (step && STEP_STATUS[e.type]) step.status = STEP_STATUS[e.type];
      if (step && e.type === 'run.waiting') step.status = 'waiting';
      if (RUN_STATUS[e.type]) run.status = RUN_STATUS[e.type];
      update();
    }
    if (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.cancelled') {
      closeStream();
      setLive('ended', 'ended');
    }
    scheduleRefetch();
  }

  function closeStream() {
    if (stopStream) {
      stopStream();
      stopStream = null;
    }
  }

  function poll() {
    if (pollTimer !== null) return;
    setLive('polling', 'polling');
    pollTimer = setInterval(async () => {
      await refetch();
      if (run && TERMINAL.has(run.status)) {
        clearInterval(pollTimer);
        pollTimer = null;
        setLive('ended', 'ended');
      }
    }, 2000);
  }

  function connect() {
    if (stopStream || pollTimer !== null) return;
    stopStream = openStream('/v1/runs/' + enc(id) + '/events', {
      onOpen: () => setLive('live', 'live'),
      onEvent: (ev) => {
        if (EVENT_TYPES.includes(ev.type)) onEvent(ev);
      },
      onRetry: () => setLive('connecting', 'reconnecting'),
      onClosed: () => {
        stopStream = null;
        if (!run || !TERMINAL.has(run.status)) poll();
      },
    });
  }

  view.onCleanup(() => {
    closeStream();
    if (pollTimer !== null) clearInterval(pollTimer);
    if (refetchTimer !== null) clearTimeout(refetchTimer);
    clearInterval(ticker);
  });
  // Running steps' durations and bars advance without an event.
  const ticker = setInterval(() => {
    if (!run || TERMINAL.has(run.status)) return;
    for (const el of root.querySelectorAll('[data-since]')) el.textContent = fmtDuration(Date.now() - Number(el.dataset.since));
  }, 500);

  try {
    run = await get('/v1/runs/' + enc(id));
  } catch (e) {
    setLive('closed', 'not loaded');
    replace(summary, errorBox(e));
    return;
  }
  update();
  connect();
  try {
    const wf = await get(`/v1/workflows/${enc(run.workflow)}?version=${run.version}`);
    dag = drawDag(wf.definition, `Steps of run ${id}`);
    replace(dagWrap, dag.svg);
    dag.update(Object.fromEntries(run.steps.map((st) => [st.id, st.status])));
  } catch (e) {
    replace(dagWrap, h('p', {class: 'muted'}, 'The definition is not available (' + e.message + ').'));
  }
}
