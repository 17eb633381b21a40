// Start a test: POST /api/v1/performance/load-test from a form, checked in the browser first
// (validate.js) and then by the API, whose 422 is shown at the field it names.

import {api, can} from '../api.js';
import {empty, fmt, h, replace} from '../dom.js';
import {checkLoadTest, formField} from '../validate.js';

const FIELDS = ['scenario', 'testType', 'users', 'rampUp', 'duration', 'rate', 'baseUrl', 'criteria', 'name'];

export async function render(root, {me, go}) {
  root.append(h('h1', {}, 'Start a test'));
  if (!can(me, 'operator')) {
    root.append(empty(`Starting a test needs the operator role; the key '${me.name}' has ${me.role}.`));
    return null;
  }
  const catalogue = await api('/api/v1/scenarios');
  const byName = new Map(catalogue.scenarios.map((s) => [s.name, s]));
  const usable = catalogue.scenarios.filter((s) => !s.error);
  const inputs = {
    scenario: h('select', {id: 'f-scenario', name: 'scenario'},
      usable.map((s) => h('option', {value: s.name}, `${s.name}${s.source === 'directory' ? ' (scenario directory)' : ''}`))),
    testType: h('select', {id: 'f-testType', name: 'testType'},
      h('option', {value: 'NATIVE'}, 'NATIVE: users started over the ramp-up, then held'),
      h('option', {value: 'GATLING'}, 'GATLING: ramp 0 → users, then constant users')),
    users: h('input', {id: 'f-users', name: 'users', inputmode: 'numeric', placeholder: 'from the scenario'}),
    rampUp: h('input', {id: 'f-rampUp', name: 'rampUp', placeholder: 'e.g. 10s'}),
    duration: h('input', {id: 'f-duration', name: 'duration', placeholder: 'e.g. 60s, 5m, 1m30s'}),
    rate: h('input', {id: 'f-rate', name: 'rate', inputmode: 'decimal', placeholder: 'optional: arrivals per second (open model)'}),
    baseUrl: h('input', {id: 'f-baseUrl', name: 'baseUrl', spellcheck: 'false'}),
    criteria: h('textarea', {id: 'f-criteria', name: 'criteria', rows: 3, spellcheck: 'false'}),
    name: h('input', {id: 'f-name', name: 'name', maxlength: 400, placeholder: 'optional label'}),
  };
  const errorsEl = Object.fromEntries(FIELDS.map((f) => [f, h('p', {class: 'field-error', id: `e-${f}`, 'data-field': f})]));
  const about = h('p', {class: 'hint'});
  const formError = h('div', {class: 'alert-box', role: 'alert', id: 'form-error'});
  const submit = h('button', {type: 'submit', class: 'primary', id: 'f-submit'}, 'Start the test');
  const labels = {scenario: 'Scenario', testType: 'Test type', users: 'Users', rampUp: 'Ramp-up',
    duration: 'Duration', rate: 'Rate', baseUrl: 'Target (base URL)', criteria: 'Criteria (one per line)', name: 'Name'};
  const hints = {
    duration: `hold time after the ramp-up; the whole run may last at most ${fmt.dur(catalogue.limits.maxDurationS)}`,
    users: `at most ${catalogue.limits.maxUsers}`,
    baseUrl: 'must be inside intperf.allowed-targets',
    criteria: `empty: the scenario's, else ${catalogue.defaultCriteria.join(', ')}`,
  };
  const form = h('form', {class: 'form', id: 'start-form', novalidate: true},
    FIELDS.map((f) => [h('label', {for: `f-${f}`}, labels[f]),
      h('div', {}, inputs[f], f === 'scenario' ? about : '', hints[f] ? h('p', {class: 'hint'}, hints[f]) : '', errorsEl[f])]),
    h('div', {class: 'full actions'}, submit));
  root.append(formError, form);
  if (!usable.length) formError.textContent = 'No usable scenario: add one to intperf.scenario-dir.';

  const values = () => Object.fromEntries(FIELDS.map((f) => [f, inputs[f].value]));
  const show = (errors) => {
    for (const f of FIELDS) {
      errorsEl[f].textContent = errors[f] || '';
      inputs[f].classList.toggle('invalid', !!errors[f]);
      inputs[f].setAttribute('aria-invalid', errors[f] ? 'true' : 'false');
    }
  };
  const fillDefaults = () => {
    const s = byName.get(inputs.scenario.value);
    if (!s) return;
    inputs.baseUrl.placeholder = s.baseUrl || catalogue.defaultBaseUrl;
    inputs.criteria.placeholder = (s.criteria.length ? s.criteria : catalogue.defaultCriteria).join('\n');
    const load = s.load || {};
    inputs.users.placeholder = load.users ? `scenario: ${load.users}` : 'from the scenario';
    inputs.duration.placeholder = load.durationS ? `scenario: ${fmt.dur(load.durationS)}` : 'e.g. 60s, 5m, 1m30s';
    replace(about, s.description || '', s.populations ? ' Several populations: only the duration can be changed.' : '',
      ` Journeys: ${s.journeys.join(', ')}.`);
  };
  inputs.scenario.addEventListener('change', fillDefaults);
  fillDefaults();
  for (const f of FIELDS) {
    // Re-check a field as soon as it changes once it has shown an error.
    inputs[f].addEventListener('input', () => {
      if (!errorsEl[f].textContent) return;
      const {errors} = checkLoadTest(values(), byName.get(inputs.scenario.value), catalogue.limits);
      errorsEl[f].textContent = errors[f] || '';
      inputs[f].classList.toggle('invalid', !!errors[f]);
    });
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    formError.textContent = '';
    const {errors, body} = checkLoadTest(values(), byName.get(inputs.scenario.value), catalogue.limits);
    show(errors);
    form.dataset.checked = Object.keys(errors).length ? 'client-errors' : 'ok';
    if (Object.keys(errors).length) {
      inputs[FIELDS.find((f) => errors[f])].focus();
      return;
    }
    submit.disabled = true;
    try {
      const res = await api('/api/v1/performance/load-test', {method: 'POST', body});
      go(`#/runs/${encodeURIComponent(res.runId)}`);
    } catch (err) {
      form.dataset.checked = `api-${err.status}`;
      const shown = {};
      for (const d of err.detail && Array.isArray(err.detail) ? err.detail : []) {
        const f = formField(d.field, FIELDS);
        if (f && !shown[f]) shown[f] = `${d.field}: ${d.message}`;
      }
      const f = formField(err.field, FIELDS);
      if (f && !shown[f]) shown[f] = err.message;
      show(shown);
      if (!Object.keys(shown).length || err.status !== 422) formError.textContent = err.message;
      submit.disabled = false;
    }
  });
  return null;
}
