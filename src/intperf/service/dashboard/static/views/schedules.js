// Schedules (docs/schedules.md): the list with next fire times; admins add and delete.

import {api, can, poll} from '../api.js';
import {empty, fmt, h, replace, table} from '../dom.js';

export async function render(root, {me}) {
  const admin = can(me, 'admin');
  const message = h('div', {class: 'alert-box', role: 'alert'});
  const list = h('div', {'data-testid': 'schedules'});
  const editor = h('div');
  root.append(h('h1', {}, 'Schedules'), message,
    admin ? h('div', {class: 'actions'}, h('button', {type: 'button', id: 'new-schedule', onclick: () => openForm()}, 'New schedule…')) : '',
    editor, list);

  const p = poll(async () => {
    const items = await api('/api/v1/schedules');
    replace(list, items.length ? table(['name', 'cron', 'tests', 'next run', 'last run', 'enabled', 'source', ...(admin ? [''] : [])],
      items.map((s) => h('tr', {'data-schedule': s.id},
        h('td', {}, s.name), h('td', {class: 'mono'}, s.cron, s.timezone ? ` (${s.timezone})` : ' (UTC)'),
        h('td', {}, (s.tests || []).map((t) => h('div', {class: 'note'},
          `${t.name || ''}: ${t.scenario}, ${t.users ?? '?'} users, ${t.duration ?? '?'}${t['test-type'] ? `, ${t['test-type']}` : ''}`))),
        h('td', {}, fmt.time(s.nextRun)), h('td', {}, fmt.time(s.lastRun)), h('td', {}, s.enabled ? 'yes' : 'no'),
        h('td', {}, s.source),
        admin ? h('td', {}, h('button', {type: 'button', class: 'danger', 'data-action': 'delete', onclick: async (ev) => {
          if (!window.confirm(`Delete schedule '${s.name}'?`)) return;
          ev.target.disabled = true;
          try { await api(`/api/v1/schedules/${encodeURIComponent(s.id)}`, {method: 'DELETE'}); p.now(); } catch (err) {
            message.textContent = err.message; ev.target.disabled = false;
          }
        }}, 'Delete')) : null)))
      : empty('No schedule.'));
  }, {interval: 15000});

  async function openForm() {
    const catalogue = await api('/api/v1/scenarios').catch(() => ({scenarios: []}));
    const f = {
      name: h('input', {id: 'sc-name', placeholder: 'nightly-smoke'}),
      cron: h('input', {id: 'sc-cron', placeholder: '0 2 * * *  or  0 0 2 * * ?'}),
      timezone: h('input', {id: 'sc-timezone', placeholder: 'UTC (or e.g. Europe/Paris)'}),
      scenario: h('select', {id: 'sc-scenario'}, catalogue.scenarios.filter((s) => !s.error).map((s) => h('option', {value: s.name}, s.name))),
      users: h('input', {id: 'sc-users', value: '10'}),
      duration: h('input', {id: 'sc-duration', value: '60s'}),
      rampUp: h('input', {id: 'sc-rampUp', placeholder: '0s'}),
      testType: h('select', {id: 'sc-testType'}, h('option', {value: 'NATIVE'}, 'NATIVE'), h('option', {value: 'GATLING'}, 'GATLING')),
      baseUrl: h('input', {id: 'sc-baseUrl', placeholder: 'the scenario\'s'}),
    };
    const error = h('p', {class: 'field-error', id: 'sc-error'});
    const form = h('form', {class: 'form', id: 'schedule-form'},
      Object.entries(f).map(([k, el]) => [h('label', {for: el.id}, k), el]),
      h('div', {class: 'full actions'}, h('button', {type: 'submit', class: 'primary'}, 'Add'),
        h('button', {type: 'button', onclick: () => replace(editor)}, 'Cancel'), error));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const test = {name: f.name.value.trim() || 'test', scenario: f.scenario.value,
        users: Number(f.users.value), duration: f.duration.value.trim(), 'test-type': f.testType.value};
      if (f.rampUp.value.trim()) test['ramp-up'] = f.rampUp.value.trim();
      if (f.baseUrl.value.trim()) test['base-url'] = f.baseUrl.value.trim();
      const body = {name: f.name.value.trim(), cron: f.cron.value.trim(), tests: [test]};
      if (f.timezone.value.trim()) body.timezone = f.timezone.value.trim();
      if (!body.name) { error.textContent = 'name: required'; return; }
      if (!body.cron) { error.textContent = 'cron: required'; return; }
      if (!Number.isInteger(test.users) || test.users < 1) { error.textContent = 'users: a whole number ≥ 1'; return; }
      try {
        await api('/api/v1/schedules', {method: 'POST', body});
        replace(editor);
        p.now();
      } catch (err) { error.textContent = err.message; }
    });
    replace(editor, h('div', {class: 'inline-form'}, h('h3', {}, 'New schedule (one test)'), form));
  }
  return () => p.stop();
}
