// Overview: rates and gauges from /metrics (polled every 2 s while shown), health, recent runs.

import {get, parseMetrics, metricSum, authHeaders, unauthorized, ApiError} from './api.js';
import {h, s, replace, title, table, runLink, workflowLink, statusBadge, fmtTime, errorBox} from './dom.js';

const POLL_MS = 2000;
const HISTORY = 60;

function card(label, id) {
  return h('div', {class: 'card'},
    h('div', {class: 'card-label'}, label),
    h('div', {class: 'card-value', id, 'aria-live': 'polite'}, '-'));
}

function sparkline(values) {
  const w = 240;
  const hgt = 40;
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) =>
    ((i / Math.max(1, HISTORY - 1)) * w).toFixed(1) + ',' + (hgt - (v / max) * (hgt - 2) - 1).toFixed(1));
  return s('svg', {viewBox: `0 0 ${w} ${hgt}`, class: 'spark', role: 'img',
    'aria-label': 'runs started per second, last two minutes'},
  s('polyline', {points: pts.join(' '), fill: 'none', class: 'spark-line'}));
}

export async function render(view) {
  const {root} = view;
  const health = h('p', {class: 'muted', id: 'health'}, 'Checking health...');
  const spark = h('div', {class: 'spark-wrap'});
  const problems = h('div');
  const recent = h('div', {}, h('p', {class: 'muted'}, 'Loading recent runs...'));
  root.append(title('Overview'), health,
    h('section', {class: 'cards', 'aria-label': 'Figures'},
      card('Runs started / s', 'ov-runs-rate'),
      card('Failures / s', 'ov-fail-rate'),
      card('Runs failed (total)', 'ov-failed'),
      card('Active runs', 'ov-active'),
      card('Queue depth', 'ov-queue'),
      card('Runs started (total)', 'ov-started')),
    spark, problems,
    h('h2', {}, 'Recent runs'), recent);

  let last = null;
  const rates = [];
  const set = (id, text) => {
    const el = root.querySelector('#' + id);
    if (el) el.textContent = text;
  };

  async function poll() {
    try {
      const resp = await fetch('/metrics', {headers: authHeaders(), credentials: 'omit'});
      if (resp.status === 401) unauthorized(new ApiError(401, 'unauthorized', '/metrics needs a credential'));
      if (!resp.ok) throw new Error('/metrics answered ' + resp.status);
      const samples = parseMetrics(await resp.text());
      const now = performance.now();
      const started = metricSum(samples, 'rf_runs_started_total');
      const failed = metricSum(samples, 'rf_runs_finished_total', {status: 'failed'});
      set('ov-started', String(started));
      set('ov-failed', String(failed));
      set('ov-active', String(metricSum(samples, 'rf_runs_active')));
      set('ov-queue', String(metricSum(samples, 'rf_queue_depth')));
      if (last) {
        const dt = (now - last.t) / 1000;
        const rate = Math.max(0, (started - last.started) / dt);
        set('ov-runs-rate', rate.toFixed(1));
        set('ov-fail-rate', Math.max(0, (failed - last.failed) / dt).toFixed(1));
        rates.push(rate);
        if (rates.length > HISTORY) rates.shift();
        replace(spark, sparkline(rates));
      } else {
        set('ov-runs-rate', '...');
        set('ov-fail-rate', '...');
      }
      last = {t: now, started, failed};
      replace(problems);
    } catch (e) {
      replace(problems, errorBox(e));
    }
  }

  const timer = setInterval(poll, POLL_MS);
  view.onCleanup(() => clearInterval(timer));
  poll();

  get('/health').then((hl) => {
    replace(health, `Version ${hl.version}, ${hl.shards} shards, up ${hl.uptime_s} s, status ${hl.status}.`);
  }, (e) => replace(health, errorBox(e)));

  try {
    const page = await get('/v1/runs?limit=10');
    const rows = page.runs.map((r) => h('tr', {},
      h('td', {}, runLink(r.id)), h('td', {}, workflowLink(r.workflow)),
      h('td', {}, statusBadge(r.status)), h('td', {}, fmtTime(r.created_ms))));
    replace(recent, rows.length ? table(['Run', 'Workflow', 'Status', 'Created'], rows)
      : h('p', {class: 'muted'}, 'No runs yet. ', h('a', {href: '#/start'}, 'Start one.')));
  } catch (e) {
    replace(recent, errorBox(e));
  }
}
