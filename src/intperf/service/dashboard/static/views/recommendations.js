// Database (docs/dbopt.md) and cache (docs/cache.md) recommendations: the stored analyses and,
// for one of them, its findings with their evidence and the SQL or action that fixes them.

import {api, poll} from '../api.js';
import {badge, empty, fmt, h, replace, table} from '../dom.js';

const KINDS = {
  db: {title: 'Database recommendations', path: '/api/v1/db/analyses', target: 'dsn',
    none: 'No database analysis yet: intperf db analyze, or POST /api/v1/db/analyses.'},
  cache: {title: 'Cache recommendations', path: '/api/v1/cache/analyses', target: 'redis',
    none: 'No cache analysis yet: intperf cache analyze, or POST /api/v1/cache/analyses.'},
};

export async function render(root, {kind, params}) {
  const k = KINDS[kind];
  const list = h('div', {'data-testid': `${kind}-analyses`});
  const detail = h('div');
  root.append(h('h1', {}, k.title), list, detail);
  const p = poll(async () => {
    let res;
    try {
      res = await api(`${k.path}?limit=50`);
    } catch (err) {
      if (![404, 405].includes(err.status)) throw err;
      replace(list, empty(kind === 'cache'
        ? 'Cache analyses are not stored by this service yet: run intperf cache analyze (docs/cache.md).'
        : 'Database analyses are not available on this service.'));
      return;
    }
    const items = Array.isArray(res) ? res : (res.items || []);
    replace(list, items.length ? table(['analysis', k.target, 'status', 'created', 'findings'],
      items.map((a) => h('tr', {},
        h('td', {}, h('a', {href: `#/${kind}/${encodeURIComponent(a.id)}`, class: 'mono'}, String(a.id).slice(0, 12))),
        h('td', {class: 'mono'}, a[k.target] || a.url || ''), h('td', {}, badge(a.status || 'done')),
        h('td', {}, fmt.time(a.createdAt || a.analyzedAt)),
        h('td', {}, Object.entries(a.summary || {}).map(([sev, n]) => h('span', {class: 'tag'}, `${sev} ${n}`))))))
      : empty(k.none));
    if (!params.sub && items.length) params.sub = items[0].id;
    if (!detail.firstChild) await showDetail(params.sub);
  }, {interval: 15000});

  const showDetail = async (id) => {
    if (!id) return;
    let a;
    try {
      a = await api(`${k.path}/${encodeURIComponent(id)}`);
    } catch (err) {
      if ([404, 405].includes(err.status)) return;
      replace(detail, h('div', {class: 'alert-box'}, err.message));
      return;
    }
    const report = a.report || a;
    const items = report.findings || report.recommendations || [];
    replace(detail, h('h2', {}, `Analysis ${String(id).slice(0, 12)}`),
      a.error ? h('div', {class: 'alert-box'}, a.error) : '',
      items.length ? items.map((f) => h('div', {class: 'card', 'data-severity': f.severity},
        h('div', {class: 'row'}, badge(f.severity), h('strong', {}, f.title), h('span', {class: 'tag'}, f.category)),
        f.evidence ? h('p', {class: 'note'}, typeof f.evidence === 'string' ? f.evidence : JSON.stringify(f.evidence)) : '',
        f.fix_sql ? h('pre', {}, f.fix_sql) : '', f.action ? h('p', {}, f.action) : ''))
        : empty(a.status === 'running' ? 'The analysis is still running.' : 'Nothing to recommend.'),
      report.tuning?.settings?.length ? [h('h3', {}, 'Settings'), table(['setting', 'current', 'recommended', 'why'],
        report.tuning.settings.map((s) => h('tr', {}, h('td', {class: 'mono'}, s.name), h('td', {}, String(s.current ?? '')),
          h('td', {}, String(s.recommended ?? '')), h('td', {class: 'note'}, s.reason || ''))))] : '');
  };
  const d = poll(() => (detail.firstChild ? showDetail(params.sub) : null), {interval: 30000});
  return () => { p.stop(); d.stop(); };
}
