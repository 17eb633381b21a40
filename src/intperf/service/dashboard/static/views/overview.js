// Overview: running tests with live charts, recent runs, active alerts, live services.

import {api, poll} from '../api.js';
import {Chart} from '../charts.js';
import {badge, empty, fmt, h, replace, table, tile} from '../dom.js';
import {FINAL, RUNS, followRun, liveChart, runLink, runsTable} from './common.js';

export async function render(root, {me}) {
  const running = h('div', {'data-testid': 'running'});
  const queued = h('div', {class: 'note'});
  const recent = h('div', {'data-testid': 'recent-runs'});
  const alerts = h('div', {'data-testid': 'active-alerts'});
  const services = h('div', {'data-testid': 'live-services'});
  const serviceChart = h('div');
  root.append(
    h('h1', {}, 'Overview'),
    h('p', {class: 'sub'}, `Signed in as ${me.name} (${me.role}). Everything here updates by itself.`),
    h('h2', {}, 'Running tests'), queued, running,
    h('div', {class: 'grid'},
      h('section', {}, h('h2', {}, 'Recent runs'), recent,
        h('p', {class: 'note'}, h('a', {href: '#/runs'}, 'All runs →'))),
      h('section', {}, h('h2', {}, 'Active alerts'), alerts,
        h('p', {class: 'note'}, h('a', {href: '#/alerts'}, 'Alerts →')))),
    h('h2', {}, 'Live services'), services, serviceChart);

  const cards = new Map(); // runId -> {el, abort}
  const stop = [];
  const recentPoll = poll(async () => {
    const page = await api(`${RUNS}?limit=15`);
    replace(recent, runsTable(page.items));
  }, {interval: 5000});
  stop.push(recentPoll);

  stop.push(poll(async () => {
    const [run, wait] = await Promise.all([api(`${RUNS}?status=running&limit=100`),
      api(`${RUNS}?status=queued&limit=20`)]);
    // A service's live analytics are a run of the day (testType LIVE) that stays "running":
    // they have their own panel below, not a load-test card.
    const tests = run.items.filter((r) => r.testType !== 'LIVE');
    const ids = new Set(tests.map((r) => r.runId));
    for (const r of tests) if (!cards.has(r.runId)) cards.set(r.runId, runCard(r, running, () => recentPoll.now()));
    for (const [id, card] of cards) {
      if (!ids.has(id) && card.ended) { card.abort.abort(); card.el.remove(); cards.delete(id); }
    }
    if (!cards.size) replace(running, empty('No test is running.'));
    else running.querySelector(':scope > .empty')?.remove();
    replace(queued, wait.items.length ? [`Queued: `, ...wait.items.map((r) => [runLink(r), ' '])] : '');
  }, {interval: 3000}));

  stop.push(poll(async () => {
    try {
      const res = await api('/api/v1/alerts?state=firing&limit=10');
      replace(alerts, alertList(res.alerts || []));
    } catch (err) {
      if (err.status !== 404) throw err;
      replace(alerts, empty('Alerting is not available on this service.'));
    }
  }, {interval: 10000}));

  const history = new Map();
  let chart = null;
  let names = '';
  stop.push(poll(async () => {
    const list = await api('/api/v1/analytics/services');
    replace(services, serviceTable(list));
    for (const s of list) {
      if (!s.windowStart) continue;
      const at = Math.floor(new Date(s.windowStart).getTime() / 1000);
      if (!history.has(s.service)) history.set(s.service, new Map());
      history.get(s.service).set(at, s.p99Ms);
    }
    const now = [...history.keys()].sort();
    if (!now.length) { replace(serviceChart); return; }
    if (now.join('|') !== names) {
      names = now.join('|');
      if (chart) chart.destroy();
      chart = new Chart(replace(serviceChart), {title: 'p99 of the latest window, per service',
        time: true, series: now.map((n) => ({label: n, unit: 'ms', fmt: fmt.ms}))});
    }
    const xs = [...new Set(now.flatMap((n) => [...history.get(n).keys()]))].sort((a, b) => a - b);
    chart.set(xs, now.map((n) => xs.map((x) => history.get(n).get(x) ?? null)));
  }, {interval: 10000}));

  return () => {
    stop.forEach((p) => p.stop());
    for (const card of cards.values()) card.abort.abort();
    if (chart) chart.destroy();
  };
}

function runCard(r, host, onEnd) {
  const abort = new AbortController();
  const tiles = h('div', {class: 'tiles'});
  const bar = h('div', {style: 'width: 0%'});
  const chartHost = h('div', {'data-testid': 'live-chart', 'data-run': r.runId});
  const status = h('span', {}, badge(r.status));
  const el = h('div', {class: 'card', 'data-run': r.runId},
    h('div', {class: 'row'}, h('strong', {}, r.name || r.scenario), runLink(r), status,
      h('span', {class: 'note'}, `${r.testType} · by ${r.requestedBy || '?'}`)),
    tiles, h('div', {class: 'progress'}, bar), chartHost);
  host.append(el);
  const card = {el, abort, ended: false};
  const chart = liveChart(chartHost, 'throughput and latency, per second');
  followRun(r.runId, chart, {
    signal: abort.signal,
    onProgress(l) {
      replace(tiles, tile('req/s', fmt.num(l.rps)), tile('p50', fmt.ms(l.p50_ms)),
        tile('p99', fmt.ms(l.p99_ms)), tile('users', fmt.num(l.active_users)),
        tile('requests', fmt.num(l.requests)), tile('error rate', fmt.pct(l.error_rate)));
      if (l.duration_s) bar.style.width = `${Math.min(100, (100 * l.elapsed_s) / l.duration_s)}%`;
    },
    onEnd(final) {
      card.ended = true;
      replace(status, badge(final));
      bar.style.width = '100%';
      chart.destroy();
      if (FINAL.has(final)) { el.remove(); onEnd(); }
    },
  });
  return card;
}

export function alertList(items) {
  if (!items.length) return empty('No alert is firing.');
  return table(['severity', 'alert', 'since', 'ack'], items.map((a) => h('tr', {'data-alert': a.id},
    h('td', {}, badge(a.severity)),
    h('td', {}, a.title || a.rule, a.runId ? [' ', h('a', {href: `#/runs/${encodeURIComponent(a.runId)}`, class: 'mono'}, a.runId)] : ''),
    h('td', {title: fmt.time(a.startedAt)}, fmt.ago(a.startedAt)),
    h('td', {}, a.acknowledgedBy ? `by ${a.acknowledgedBy}` : '–'))));
}

function serviceTable(list) {
  if (!list.length) return empty('No events from services today (POST /api/v1/events, docs/events.md).');
  return table(['service', {label: 'requests/window', cls: 'n'}, {label: 'errors', cls: 'n'},
    {label: 'error rate', cls: 'n'}, {label: 'p50', cls: 'n'}, {label: 'p95', cls: 'n'},
    {label: 'p99', cls: 'n'}, 'window', 'history'],
  list.map((s) => h('tr', {'data-service': s.service},
    h('td', {}, s.service), h('td', {class: 'n'}, fmt.num(s.requests)),
    h('td', {class: 'n'}, fmt.num(s.errors)), h('td', {class: 'n'}, fmt.pct(s.errorRate)),
    h('td', {class: 'n'}, fmt.ms(s.p50Ms)), h('td', {class: 'n'}, fmt.ms(s.p95Ms)),
    h('td', {class: 'n'}, fmt.ms(s.p99Ms)), h('td', {}, fmt.time(s.windowStart)),
    h('td', {}, h('a', {href: `#/runs/${encodeURIComponent(s.runId)}`}, 'today →')))));
}
