// Pieces several views share: the runs table and a run's live chart fed by its event stream.

import {api, sse} from '../api.js';
import {Chart} from '../charts.js';
import {badge, fmt, h, table} from '../dom.js';

export const RUNS = '/api/v1/performance/runs';
export const FINAL = new Set(['passed', 'failed', 'aborted', 'cancelled', 'interrupted', 'error']);

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
  });
}

export function runLink(run) {
  return h('a', {href: `#/runs/${encodeURIComponent(run.runId)}`, class: 'mono'}, run.runId);
}

export function runsTable(items, {emptyText = 'No runs yet.'} = {}) {
  if (!items.length) return h('p', {class: 'empty'}, emptyText);
  return table(['run', 'name', 'scenario', 'type', 'status', 'verdict', 'created', {label: 'duration', cls: 'n'}, 'by'],
    items.map((r) => h('tr', {'data-run': r.runId},
      h('td', {}, runLink(r)), h('td', {}, r.name || ''), h('td', {}, r.scenario),
      h('td', {}, r.testType), h('td', {}, badge(r.status)),
      h('td', {'data-testid': 'verdict'}, r.verdict ? badge(r.verdict) : '–'),
      h('td', {title: fmt.time(r.createdAt)}, fmt.ago(r.createdAt)),
      h('td', {class: 'n'}, fmt.dur(r.durationS)), h('td', {}, r.requestedBy || ''))),
    {'data-testid': 'runs-table'});
}

export function liveChart(host, title) {
  return new Chart(host, {title, series: [
    {label: 'throughput', scale: 'rps', unit: 'req/s', fmt: (v) => `${fmt.num(v)}/s`},
    {label: 'p50', scale: 'ms', unit: 'ms', fmt: fmt.ms},
    {label: 'p99', scale: 'ms', unit: 'ms', fmt: fmt.ms},
    {label: 'errors', scale: 'rps', fmt: (v) => `${fmt.num(v)}/s`},
  ]});
}

/**
 * Follow run ``runId`` live on ``chart``: seed it with the seconds already written
 * (timeseries), then read the event stream, reconnecting with backoff until the ``end``.
 * onProgress(live) on each second; onEnd(status) once.
 */
export async function followRun(runId, chart, {signal, onProgress, onEnd}) {
  let lastFailed = null;
  try {
    const ts = await api(`${RUNS}/${encodeURIComponent(runId)}/timeseries`, {signal});
    for (const p of ts.points) chart.push(p.t, [p.requests, p.p50_ms, p.p99_ms, p.failed]);
  } catch (err) {
    if (signal.aborted) return;
  }
  let wait = 1000;
  while (!signal.aborted) {
    try {
      for await (const {event, data} of sse(`${RUNS}/${encodeURIComponent(runId)}/stream`, signal)) {
        wait = 1000;
        if (event === 'progress' && data.live) {
          const l = data.live;
          const failedNow = lastFailed === null ? 0 : Math.max(0, l.failed - lastFailed);
          lastFailed = l.failed;
          chart.push(l.second, [l.rps, l.p50_ms, l.p99_ms, failedNow]);
          if (onProgress) onProgress(l);
        } else if (event === 'end') {
          if (onEnd) onEnd(data.status);
          return;
        }
      }
    } catch (err) {
      if (signal.aborted || err.name === 'AbortError') return;
      if (err.status === 404 || err.status === 401 || err.status === 403) return;
    }
    await sleep(wait, signal);
    wait = Math.min(30000, wait * 2);
  }
}
