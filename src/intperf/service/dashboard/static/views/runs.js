// All runs, newest first, filtered by status and scenario, a page at a time.

import {api, poll} from '../api.js';
import {h, replace} from '../dom.js';
import {RUNS, runsTable} from './common.js';

const STATUSES = ['', 'queued', 'running', 'passed', 'failed', 'aborted', 'cancelled', 'interrupted', 'error'];
const PAGE = 50;

export async function render(root) {
  const status = h('select', {id: 'runs-status'}, STATUSES.map((s) => h('option', {value: s}, s || 'any status')));
  const scenario = h('input', {id: 'runs-scenario', placeholder: 'scenario (exact name)', size: 24});
  const list = h('div');
  const pager = h('div', {class: 'actions'});
  let offset = 0;
  root.append(h('h1', {}, 'Runs'),
    h('div', {class: 'row'}, h('label', {for: 'runs-status'}, 'Status'), status,
      h('label', {for: 'runs-scenario'}, 'Scenario'), scenario),
    list, pager);
  const load = async () => {
    const q = new URLSearchParams({limit: String(PAGE), offset: String(offset)});
    if (status.value) q.set('status', status.value);
    if (scenario.value.trim()) q.set('scenario', scenario.value.trim());
    const page = await api(`${RUNS}?${q}`);
    replace(list, runsTable(page.items, {emptyText: 'No run matches.'}));
    replace(pager,
      h('button', {type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); p.now(); }}, '← newer'),
      h('span', {class: 'note'}, page.total ? `${offset + 1}–${offset + page.items.length} of ${page.total}` : ''),
      h('button', {type: 'button', disabled: offset + PAGE >= page.total, onclick: () => { offset += PAGE; p.now(); }}, 'older →'));
  };
  const p = poll(load, {interval: 5000});
  status.addEventListener('change', () => { offset = 0; p.now(); });
  scenario.addEventListener('change', () => { offset = 0; p.now(); });
  return () => p.stop();
}
