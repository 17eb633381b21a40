// Trends (docs/trends.md): per scenario and endpoint, 30 or 90 days of p95, p99, throughput
// and error rate, one point per run.

import {api, poll} from '../api.js';
import {Chart} from '../charts.js';
import {badge, empty, fmt, h, replace, table} from '../dom.js';

export async function render(root) {
  root.append(h('h1', {}, 'Trends'));
  let catalogue;
  try {
    catalogue = await api('/api/v1/trends/scenarios');
  } catch (err) {
    if (err.status !== 404) throw err;
    root.append(empty('Trends are not available on this service (no /api/v1/trends).'));
    return null;
  }
  const scenarios = catalogue.scenarios || [];
  if (!scenarios.length) {
    root.append(empty('No runs to draw trends from yet.'));
    return null;
  }
  const scenarioSel = h('select', {id: 't-scenario'}, scenarios.map((s) => h('option', {value: s.scenario}, `${s.scenario} (${s.runs} run${s.runs === 1 ? '' : 's'})`)));
  const endpointSel = h('select', {id: 't-endpoint'});
  const daysSel = h('select', {id: 't-days'}, h('option', {value: '30'}, '30 days'), h('option', {value: '90'}, '90 days'));
  const out = h('div', {'data-testid': 'trends'});
  const charts = [];
  root.append(h('div', {class: 'row'}, h('label', {for: 't-scenario'}, 'Scenario'), scenarioSel,
    h('label', {for: 't-endpoint'}, 'Endpoint'), endpointSel, h('label', {for: 't-days'}, 'Period'), daysSel), out);

  const endpoints = () => {
    const s = scenarios.find((x) => x.scenario === scenarioSel.value);
    replace(endpointSel, h('option', {value: ''}, 'all endpoints'),
      (s?.endpoints || []).map((e) => h('option', {value: e}, e)));
  };
  const draw = async () => {
    const q = new URLSearchParams({scenario: scenarioSel.value, days: daysSel.value});
    if (endpointSel.value) q.set('endpoint', endpointSel.value);
    const t = await api(`/api/v1/trends?${q}`);
    charts.splice(0).forEach((c) => c.destroy());
    const pts = t.points || [];
    if (!pts.length) { replace(out, empty('No run of this scenario in the period.')); return; }
    const xs = pts.map((p) => Math.floor(new Date(p.at).getTime() / 1000));
    // The whole period, so one run does not stretch over years.
    const until = t.until ? Math.floor(new Date(t.until).getTime() / 1000) : Math.floor(Date.now() / 1000);
    const xRange = [until - Number(t.days || daysSel.value) * 86400, until];
    const hosts = [h('div', {'data-testid': 'trend-latency'}), h('div'), h('div')];
    replace(out, h('div', {class: 'grid'}, hosts), slopes(t), h('h2', {}, 'Runs'),
      table(['run', 'at', {label: 'p95', cls: 'n'}, {label: 'p99', cls: 'n'}, {label: 'req/s', cls: 'n'},
        {label: 'error rate', cls: 'n'}, 'verdict'],
      pts.slice().reverse().map((p) => h('tr', {},
        h('td', {}, h('a', {href: `#/runs/${encodeURIComponent(p.runId)}`, class: 'mono'}, p.runId)),
        h('td', {}, fmt.time(p.at)), h('td', {class: 'n'}, fmt.ms(p.p95Ms)), h('td', {class: 'n'}, fmt.ms(p.p99Ms)),
        h('td', {class: 'n'}, fmt.num(p.rps, 1)), h('td', {class: 'n'}, fmt.pct(p.errorRate)),
        h('td', {}, p.verdict ? badge(p.verdict) : '–')))));
    const lat = new Chart(hosts[0], {title: 'response time', time: true, xRange, series: [
      {label: 'p95', unit: 'ms', fmt: fmt.ms}, {label: 'p99', fmt: fmt.ms}]});
    lat.set(xs, [pts.map((p) => p.p95Ms), pts.map((p) => p.p99Ms)]);
    const thr = new Chart(hosts[1], {title: 'throughput', time: true, xRange, series: [{label: 'req/s', unit: 'req/s'}]});
    thr.set(xs, [pts.map((p) => p.rps)]);
    const err = new Chart(hosts[2], {title: 'error rate', time: true, xRange, series: [{label: 'error rate', unit: '%', fmt: (v) => `${v.toFixed(2)}%`}]});
    err.set(xs, [pts.map((p) => (p.errorRate === null || p.errorRate === undefined ? null : p.errorRate * 100))]);
    charts.push(lat, thr, err);
  };
  endpoints();
  const p = poll(draw, {interval: 60000});
  scenarioSel.addEventListener('change', () => { endpoints(); p.now(); });
  endpointSel.addEventListener('change', () => p.now());
  daysSel.addEventListener('change', () => p.now());
  return () => { p.stop(); charts.forEach((c) => c.destroy()); };
}

function slopes(t) {
  const s = t.slopes || {};
  const names = {p95Ms: ['p95', fmt.ms], p99Ms: ['p99', fmt.ms], rps: ['throughput', (v) => `${fmt.num(v, 2)}/s`],
    errorRate: ['error rate', fmt.pct]};
  const items = Object.entries(s).filter(([, v]) => v !== null && v !== undefined);
  return h('div', {},
    items.length ? h('p', {class: 'note'}, 'Change per day: ', items.map(([k, v]) => {
      const [label, f] = names[k] || [k, (x) => String(x)];
      return h('span', {class: 'tag'}, `${label} ${v >= 0 ? '+' : '−'}${f(Math.abs(v))}`);
    })) : '',
    t.change ? change(t.change, names) : '');
}

function change(c, names) {
  const rows = (c.metrics || []).map((m) => {
    const [label, f] = names[m.metric] || [m.metric, (x) => String(x)];
    return h('tr', {}, h('td', {}, label), h('td', {class: 'n'}, m.before === null ? '–' : f(m.before)),
      h('td', {class: 'n'}, m.after === null ? '–' : f(m.after)), h('td', {class: 'n'}, fmt.signed(m.relative)),
      h('td', {class: 'n'}, m.pValue === null || m.pValue === undefined ? '–' : m.pValue.toFixed(3)),
      h('td', {}, badge(m.verdict)));
  });
  return h('div', {'data-testid': 'trend-change'},
    h('h3', {}, 'Recent change ', badge(c.verdict)),
    h('p', {class: 'note'}, `the ${c.recentRuns} latest runs${c.since ? ` (since ${fmt.time(c.since)})` : ''} against the ${c.earlierRuns} before them`),
    rows.length ? table(['metric', {label: 'before', cls: 'n'}, {label: 'after', cls: 'n'}, {label: 'change', cls: 'n'},
      {label: 'p', cls: 'n'}, 'verdict'], rows) : '');
}
