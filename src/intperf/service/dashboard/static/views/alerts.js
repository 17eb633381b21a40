// Alerts (docs/alerting.md): firing, pending or resolved, acknowledge and silence them (operators),
// and the silences in force.

import {api, can, poll} from '../api.js';
import {badge, empty, fmt, h, replace, table} from '../dom.js';

const STATES = ['firing', 'pending', 'resolved', 'all'];

export async function render(root, {me}) {
  const operator = can(me, 'operator');
  const stateSel = h('select', {id: 'alert-state'}, STATES.map((s) => h('option', {value: s}, s)));
  const message = h('div', {class: 'alert-box', role: 'alert'});
  const list = h('div', {'data-testid': 'alerts'});
  const silences = h('div', {'data-testid': 'silences'});
  const editor = h('div');
  root.append(h('h1', {}, 'Alerts'),
    h('div', {class: 'row'}, h('label', {for: 'alert-state'}, 'State'), stateSel), message, editor, list,
    h('h2', {}, 'Silences'), silences);

  const act = (label, fn, attrs = {}) => h('button', {type: 'button', ...attrs, onclick: async (ev) => {
    ev.target.disabled = true;
    message.textContent = '';
    try { await fn(); p.now(); } catch (err) { message.textContent = err.message; ev.target.disabled = false; }
  }}, label);

  const silenceForm = (alert) => {
    const matchers = h('textarea', {id: 's-matchers', rows: 3, spellcheck: 'false'},
      Object.entries(alert ? {alertname: alert.rule, ...alert.labels} : {}).map(([k, v]) => `${k}=${v}`).join('\n'));
    const duration = h('input', {id: 's-duration', value: '2h'});
    const comment = h('input', {id: 's-comment', placeholder: 'why (required)'});
    const error = h('p', {class: 'field-error'});
    const form = h('form', {class: 'form', id: 'silence-form'},
      h('label', {for: 's-matchers'}, 'Matchers'), h('div', {}, matchers, h('p', {class: 'hint'}, 'label=value, one per line')),
      h('label', {for: 's-duration'}, 'Duration'), duration,
      h('label', {for: 's-comment'}, 'Comment'), comment,
      h('div', {class: 'full actions'}, h('button', {type: 'submit', class: 'primary'}, 'Silence'),
        h('button', {type: 'button', onclick: () => replace(editor)}, 'Cancel'), error));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const pairs = {};
      for (const line of matchers.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
        const at = line.indexOf('=');
        if (at < 1) { error.textContent = `matchers: '${line}' is not label=value`; return; }
        pairs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      if (!Object.keys(pairs).length) { error.textContent = 'matchers: at least one label=value'; return; }
      if (!comment.value.trim()) { error.textContent = 'comment: say why'; return; }
      try {
        await api('/api/v1/silences', {method: 'POST', body: {matchers: pairs, duration: duration.value.trim(), comment: comment.value.trim()}});
        replace(editor);
        p.now();
      } catch (err) { error.textContent = err.message; }
    });
    replace(editor, h('div', {class: 'inline-form'}, h('h3', {}, 'New silence'), form));
    comment.focus();
  };

  const rows = (alerts) => alerts.map((a) => h('tr', {'data-alert': a.id, 'data-rule': a.rule, 'data-run': a.runId || ''},
    h('td', {}, badge(a.severity)), h('td', {}, badge(a.state)),
    h('td', {}, h('strong', {}, a.title || a.rule), h('div', {class: 'note mono'}, a.rule),
      Object.entries(a.labels || {}).map(([k, v]) => h('span', {class: 'tag'}, `${k}=${v}`))),
    h('td', {}, a.runId ? h('a', {href: `#/runs/${encodeURIComponent(a.runId)}`, class: 'mono'}, a.runId) : '–'),
    h('td', {title: fmt.time(a.startedAt)}, fmt.ago(a.startedAt)),
    h('td', {'data-testid': 'ack'}, a.acknowledgedBy ? `acknowledged by ${a.acknowledgedBy} ${fmt.ago(a.acknowledgedAt)}` : '–',
      a.silencedBy ? h('div', {class: 'note'}, `silenced (${a.silencedBy})`) : ''),
    operator ? h('td', {}, h('div', {class: 'actions'},
      !a.acknowledgedBy && a.state !== 'resolved'
        ? act('Acknowledge', () => api(`/api/v1/alerts/${encodeURIComponent(a.id)}/ack`, {method: 'POST', body: {}}), {'data-action': 'ack'}) : '',
      act('Silence…', async () => silenceForm(a), {'data-action': 'silence'}))) : null));

  const p = poll(async () => {
    let res;
    try {
      res = await api(`/api/v1/alerts?state=${stateSel.value}&limit=100`);
    } catch (err) {
      if (err.status !== 404) throw err;
      replace(list, empty('Alerting is not available on this service (no /api/v1/alerts).'));
      replace(silences);
      return;
    }
    const alerts = res.alerts || [];
    replace(list, alerts.length
      ? table(['severity', 'state', 'alert', 'run', 'since', 'acknowledged', ...(operator ? [''] : [])], rows(alerts))
      : empty(`No ${stateSel.value === 'all' ? '' : `${stateSel.value} `}alert.`));
    const sil = await api('/api/v1/silences').catch(() => ({silences: []}));
    replace(silences, (sil.silences || []).length ? table(['matchers', 'until', 'by', 'comment', 'active', ...(operator ? [''] : [])],
      sil.silences.map((s) => h('tr', {'data-silence': s.id},
        h('td', {}, Object.entries(s.matchers || {}).map(([k, v]) => h('span', {class: 'tag'}, `${k}=${v}`))),
        h('td', {}, fmt.time(s.endsAt)), h('td', {}, s.createdBy || ''), h('td', {}, s.comment || ''),
        h('td', {}, s.active ? 'yes' : 'no'),
        operator && s.active ? h('td', {}, act('Expire', () => api(`/api/v1/silences/${encodeURIComponent(s.id)}`, {method: 'DELETE'}))) : (operator ? h('td') : null))))
      : empty('No silence.'));
  }, {interval: 5000});
  stateSel.addEventListener('change', () => p.now());
  if (operator) root.insertBefore(h('div', {class: 'actions'}, act('New silence…', async () => silenceForm(null))), list);
  return () => p.stop();
}
