// One run: live while it runs (event stream), then its charts, per-request table, criteria,
// comparison with the scenario's baseline and its reports.

import {api, can, openFile} from '../api.js';
import {Chart} from '../charts.js';
import {badge, empty, fmt, h, replace, table, tile} from '../dom.js';
import {FINAL, RUNS, followRun, liveChart} from './common.js';

export async function render(root, {me, params}) {
  const id = params.id;
  const path = `${RUNS}/${encodeURIComponent(id)}`;
  const abort = new AbortController();
  const charts = [];
  const head = h('div');
  const message = h('div', {class: 'alert-box', role: 'alert'});
  const body = h('div');
  root.append(h('p', {class: 'note'}, h('a', {href: '#/runs'}, '← runs')), head, message, body);

  const drop = () => { charts.splice(0).forEach((c) => c.destroy()); };
  const act = (label, fn, cls = '') => h('button', {type: 'button', class: cls, 'data-action': label,
    onclick: async (ev) => {
      ev.target.disabled = true;
      message.textContent = '';
      try { await fn(); } catch (err) { message.textContent = err.message; ev.target.disabled = false; }
    }}, label);

  async function load() {
    let run;
    try {
      run = await api(path, {signal: abort.signal});
    } catch (err) {
      if (err.name === 'AbortError') return;
      replace(head, h('h1', {}, `Run ${id}`));
      replace(body, empty(err.status === 404 ? `There is no run ${id}.` : err.message));
      return;
    }
    drop();
    const final = FINAL.has(run.status);
    const actions = h('div', {class: 'actions'});
    if (can(me, 'operator') && !final) {
      actions.append(act('Cancel', async () => { await api(`${path}/cancel`, {method: 'POST'}); }, 'danger'));
    }
    if (final && run.verdict) {
      actions.append(
        act('Report (HTML)', () => openFile(`${path}/report.html`)),
        act('JUnit XML', () => openFile(`${path}/junit.xml`, `${id}-junit.xml`)),
        act('summary.json', () => openFile(`${path}/summary`, `${id}-summary.json`)));
      if (can(me, 'operator') && !run.isBaseline) {
        actions.append(act('Mark as baseline', async () => {
          await api(`${path}/baseline`, {method: 'POST'});
          await load();
        }));
      }
    }
    const word = run.verdict || run.status;
    const banner = h('div', {class: `banner ${word}`, 'data-testid': 'banner'},
      h('span', {class: 'word', 'data-testid': 'verdict', 'data-verdict': run.verdict || ''}, word),
      h('span', {}, 'status ', h('strong', {'data-testid': 'run-status'}, run.status),
        run.isBaseline ? ' · baseline of its scenario' : ''));
    replace(head,
      h('h1', {}, run.name || run.scenario, ' ', h('span', {class: 'mono sub'}, run.runId)),
      banner,
      h('div', {class: 'tiles'}, tile('scenario', run.scenario), tile('type', run.testType),
        tile('requested by', run.requestedBy || '–'), tile('created', fmt.ago(run.createdAt), {title: fmt.time(run.createdAt)}),
        tile('duration', fmt.dur(run.durationS))),
      run.error ? h('div', {class: 'alert-box'}, run.error) : '',
      actions);
    if (final) await finished(run);
    else live(run, banner);
  }

  function live(run, banner) {
    const tiles = h('div', {class: 'tiles'});
    const bar = h('div', {style: 'width: 0%'});
    const host = h('div', {'data-testid': 'live-chart', 'data-run': run.runId});
    const waiting = h('p', {class: 'sub'}, run.status === 'queued' ? 'Queued: waiting for a free run slot.' : '');
    replace(body, h('h2', {}, 'Live'), waiting,
      tiles, h('div', {class: 'progress'}, bar), host);
    const chart = liveChart(host, 'throughput and latency, per second');
    charts.push(chart);
    followRun(run.runId, chart, {signal: abort.signal,
      onProgress(l) {
        if (banner.classList.contains('queued')) {
          // The first second arrived: the run left the queue.
          banner.className = 'banner running';
          banner.querySelector('[data-testid=verdict]').textContent = 'running';
          banner.querySelector('[data-testid=run-status]').textContent = 'running';
          waiting.textContent = '';
        }
        replace(tiles, tile('req/s', fmt.num(l.rps)), tile('p50', fmt.ms(l.p50_ms)),
          tile('p99', fmt.ms(l.p99_ms)), tile('users', fmt.num(l.active_users)),
          tile('requests', fmt.num(l.requests)), tile('failed', fmt.num(l.failed)),
          tile('error rate', fmt.pct(l.error_rate)),
          tile('elapsed', `${fmt.dur(l.elapsed_s)} / ${fmt.dur(l.duration_s)}`));
        if (l.duration_s) bar.style.width = `${Math.min(100, (100 * l.elapsed_s) / l.duration_s)}%`;
      },
      onEnd() { load(); },
    });
  }

  async function finished(run) {
    const sections = {charts: h('div'), requests: h('div'), criteria: h('div'), compare: h('div')};
    const pick = h('select', {id: 'series-request'}, h('option', {value: ''}, 'all requests'));
    replace(body,
      h('h2', {}, 'Charts'), h('div', {class: 'row'}, h('label', {for: 'series-request'}, 'Request'), pick),
      sections.charts,
      h('h2', {}, 'Criteria'), sections.criteria,
      h('h2', {}, 'Requests'), sections.requests,
      h('h2', {}, 'Comparison with the baseline'), sections.compare);
    replace(sections.criteria, criteriaTable(run.criteria || []));
    const drawCharts = async () => {
      drop();
      const q = pick.value ? `?name=${encodeURIComponent(pick.value)}` : '';
      const ts = await api(`${path}/timeseries${q}`, {signal: abort.signal});
      const pts = ts.points;
      const xs = pts.map((p) => p.t);
      const hosts = [h('div', {'data-testid': 'latency-chart'}), h('div', {'data-testid': 'throughput-chart'}), h('div')];
      replace(sections.charts, h('div', {class: 'grid'}, hosts));
      const lat = new Chart(hosts[0], {title: 'response time (ms)', series: [
        {label: 'p50', unit: 'ms', fmt: fmt.ms}, {label: 'p95', fmt: fmt.ms}, {label: 'p99', fmt: fmt.ms}]});
      lat.set(xs, [pts.map((p) => p.p50_ms), pts.map((p) => p.p95_ms), pts.map((p) => p.p99_ms)]);
      const thr = new Chart(hosts[1], {title: 'requests per second', series: [
        {label: 'requests', unit: 'req/s'}, {label: 'failed'}]});
      thr.set(xs, [pts.map((p) => p.requests), pts.map((p) => p.failed)]);
      const users = new Chart(hosts[2], {title: 'active users', series: [{label: 'users', unit: 'users'}]});
      users.set(xs, [pts.map((p) => p.active_users)]);
      charts.push(lat, thr, users);
    };
    pick.addEventListener('change', () => drawCharts().catch((err) => { message.textContent = err.message; }));
    const jobs = [drawCharts()];
    if (run.verdict) {
      jobs.push(api(`${path}/summary`, {signal: abort.signal}).then((s) => {
        replace(sections.requests, requestTable(s));
        for (const r of s.requests || []) pick.append(h('option', {value: r.name}, r.name));
      }));
      jobs.push(compare(run).then((el) => replace(sections.compare, el)));
    } else {
      replace(sections.requests, empty('This run has no summary.'));
      replace(sections.compare, empty('No comparison: the run has no summary.'));
    }
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r) => r.status === 'rejected' && r.reason.name !== 'AbortError');
    if (failed) message.textContent = failed.reason.message;
  }

  async function compare(run) {
    let res;
    try {
      res = await api(`${path}/compare?with=baseline`, {signal: abort.signal});
    } catch (err) {
      if (err.status === 404) {
        return empty(`Scenario ${run.scenario} has no baseline yet${can(me, 'operator') ? ': mark a run as its baseline.' : '.'}`);
      }
      if (err.status === 409) return empty(err.message);
      throw err;
    }
    const g = res.global || {};
    const rows = Object.values(g.metrics || {}).map((m) => h('tr', {},
      h('td', {}, m.metric), h('td', {class: 'n'}, num(m.metric, m.baseline)),
      h('td', {class: 'n'}, num(m.metric, m.candidate)), h('td', {class: 'n'}, fmt.signed(m.relative)),
      h('td', {class: 'n'}, m.p_value === null ? '–' : m.p_value.toFixed(3)),
      h('td', {}, badge(m.verdict)), h('td', {class: 'note'}, m.reason)));
    return h('div', {'data-testid': 'comparison'},
      h('p', {}, 'Against baseline ', h('a', {href: `#/runs/${encodeURIComponent(res.with)}`, class: 'mono'}, res.with),
        ': ', badge(res.verdict)),
      table(['metric', {label: 'baseline', cls: 'n'}, {label: 'this run', cls: 'n'}, {label: 'change', cls: 'n'},
        {label: 'p', cls: 'n'}, 'verdict', 'why'], rows),
      res.regressions?.length
        ? h('p', {class: 'fail'}, 'Regressed: ', res.regressions.map((r) => `${r.scope} ${r.metric}`).join(', '))
        : h('p', {class: 'note'}, 'No request regressed.'));
  }

  await load();
  return () => { abort.abort(); drop(); };
}

function num(metric, v) {
  if (metric === 'throughput') return `${fmt.num(v, 1)}/s`;
  if (metric === 'error_rate') return fmt.pct(v);
  return fmt.ms(v);
}

function criteriaTable(criteria) {
  if (!criteria.length) return empty('No criteria results (the run did not finish measuring).');
  return table(['criterion', 'result', {label: 'observed', cls: 'n'}, 'scope', 'message'],
    criteria.map((c) => h('tr', {'data-passed': String(c.passed)},
      h('td', {class: 'mono'}, c.criterion), h('td', {class: c.passed ? 'pass' : 'fail'}, c.passed ? 'passed' : 'failed'),
      h('td', {class: 'n'}, c.observed === null ? '–' : fmt.num(c.observed, 3)),
      h('td', {}, c.scope || 'all'), h('td', {}, c.message))), {'data-testid': 'criteria'});
}

function requestTable(summary) {
  const reqs = summary.requests || [];
  if (!reqs.length) return empty('No requests were measured.');
  const row = (name, s, attrs = {}) => h('tr', attrs, h('td', {}, name),
    h('td', {class: 'n'}, fmt.num(s.requests)), h('td', {class: 'n'}, fmt.num(s.failed)),
    h('td', {class: 'n'}, fmt.pct(s.error_rate)), h('td', {class: 'n'}, fmt.num(s.rps, 1)),
    h('td', {class: 'n'}, fmt.ms(s.latency?.p50)), h('td', {class: 'n'}, fmt.ms(s.latency?.p95)),
    h('td', {class: 'n'}, fmt.ms(s.latency?.p99)), h('td', {class: 'n'}, fmt.ms(s.latency?.max)),
    h('td', {}, Object.entries(s.errors_by_class || {}).map(([k, v]) => h('span', {class: 'tag'}, `${k} ${v}`))));
  return table(['request', {label: 'requests', cls: 'n'}, {label: 'failed', cls: 'n'}, {label: 'error rate', cls: 'n'},
    {label: 'req/s', cls: 'n'}, {label: 'p50', cls: 'n'}, {label: 'p95', cls: 'n'}, {label: 'p99', cls: 'n'},
    {label: 'max', cls: 'n'}, 'errors'],
  [...reqs.map((r) => row(r.name, r)), summary.global ? row('all requests', summary.global, {class: 'total'}) : ''],
  {'data-testid': 'requests'});
}
