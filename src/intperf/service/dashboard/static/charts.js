// Line charts on uPlot (installed from npm by scripts/setup, served from ./vendor/). Without
// it every chart degrades to its latest values in words; the rest of the dashboard works.

import {h, replace} from './dom.js';

export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#E69F00', '#CC79A7', '#56B4E9', '#000000'];
const MAX_POINTS = 7200;
let uPlot = null;
let loading = null;

/** Load the chart library once; resolves to true when charts can be drawn. */
export function loadCharts() {
  if (!loading) {
    loading = import(new URL('./vendor/uPlot.esm.js', import.meta.url).href).then((mod) => {
      uPlot = mod.default;
      const css = h('link', {rel: 'stylesheet', href: new URL('./vendor/uPlot.min.css', import.meta.url).href});
      document.head.append(css);
      return true;
    }).catch(() => {
      console.warn('intperf: the chart library is missing (run scripts/setup with npm); charts are off');
      return false;
    });
  }
  return loading;
}

export const chartsAvailable = () => uPlot !== null;

/**
 * One chart: x (seconds of a run, or unix seconds with time: true) and up to two y scales.
 * series: [{label, color?, scale?, fmt?}]; xRange: a fixed [min, max] of x. The host element carries data-points (the number of
 * x values drawn), which the end-to-end tests read.
 */
export class Chart {
  constructor(host, {title, series, time = false, height = 190, xLabel, xRange}) {
    this.host = host;
    this.series = series.map((s, i) => ({scale: 'y', ...s, color: s.color || PALETTE[i % PALETTE.length]}));
    this.time = time;
    this.height = height;
    this.xs = [];
    this.cols = this.series.map(() => []);
    host.classList.add('chart');
    this.titleEl = h('div', {class: 'title'}, title);
    this.plotEl = h('div', {class: 'plot'});
    replace(host, this.titleEl, this.plotEl);
    this.plot = null;
    if (uPlot) {
      const scales = [...new Set(this.series.map((s) => s.scale))];
      // Seconds of a run are whole numbers: no 0.05 ticks on a two-second chart.
      const axes = [time ? {label: xLabel || ''}
        : {label: xLabel || 'second', incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]}];
      scales.slice(0, 2).forEach((scale, i) => {
        const first = this.series.find((s) => s.scale === scale);
        axes.push({scale, side: i === 0 ? 3 : 1, label: first.unit || '', grid: {show: i === 0},
          size: 56});
      });
      const opts = {
        width: Math.max(300, host.clientWidth || 560), height,
        scales: {x: xRange ? {time, range: () => xRange} : {time}},
        legend: {live: true},
        cursor: {drag: {x: true, y: false}},
        series: [{label: time ? 'time' : 'second'}, ...this.series.map((s) => ({
          label: s.label, stroke: s.color, width: 1.5, scale: s.scale, spanGaps: true,
          value: s.fmt ? (_u, v) => (v === null || v === undefined ? '–' : s.fmt(v)) : undefined,
        }))],
        axes,
      };
      this.plot = new uPlot(opts, [this.xs, ...this.cols], this.plotEl);
      this.resize = new ResizeObserver(() => {
        const w = host.clientWidth;
        if (this.plot && w > 0 && Math.abs(w - this.plot.width) > 4) this.plot.setSize({width: w, height});
      });
      this.resize.observe(host);
    } else {
      this.plotEl.append(h('div', {class: 'nochart'}, 'charts are off: the chart library is not installed (scripts/setup runs npm)'));
      this.textEl = h('div', {class: 'note'});
      this.plotEl.append(this.textEl);
    }
    this.mark();
  }

  /** Replace all points. */
  set(xs, cols) {
    this.xs = xs.slice(-MAX_POINTS);
    this.cols = cols.map((c) => c.slice(-MAX_POINTS));
    this.draw();
  }

  /** Add the values at x (replacing them when x is already the last point). */
  push(x, values) {
    const last = this.xs.length - 1;
    if (last >= 0 && this.xs[last] === x) {
      values.forEach((v, i) => { this.cols[i][last] = v; });
    } else if (last >= 0 && x < this.xs[last]) {
      return; // an older second than drawn: the series already has it
    } else {
      this.xs.push(x);
      values.forEach((v, i) => this.cols[i].push(v));
      if (this.xs.length > MAX_POINTS) {
        this.xs.shift();
        this.cols.forEach((c) => c.shift());
      }
    }
    this.draw();
  }

  get points() { return this.xs.length; }

  draw() {
    if (this.plot) this.plot.setData([this.xs, ...this.cols]);
    else if (this.textEl && this.xs.length) {
      // The latest value of each series (a final partial second may have none).
      this.textEl.textContent = this.series.map((s, k) => {
        const v = this.cols[k].findLast((x) => x !== null && x !== undefined);
        return `${s.label}: ${v === undefined ? '–' : (s.fmt ? s.fmt(v) : v)}`;
      }).join(' · ');
    }
    this.mark();
  }

  mark() { this.host.dataset.points = String(this.xs.length); }

  destroy() {
    if (this.resize) this.resize.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}
