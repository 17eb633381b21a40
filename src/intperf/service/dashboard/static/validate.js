// Client-side checks of a load-test submission, mirroring the API's (runspec.py, units.py)
// so most mistakes are caught before sending; the API stays the judge (its 422 is shown too).
// Pure functions: no DOM.

const DURATION = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|us|µs)?\s*$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|us|µs|h|m|s)/g;
const UNIT = {us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600};

/** Seconds in a duration text ('300s', '5m', '1m30s', '2000ms', '45'), as units.parse_duration. */
export function parseDuration(text) {
  const m = DURATION.exec(text);
  if (m) return Number(m[1]) * UNIT[m[2] || 's'];
  const compact = text.trim();
  const parts = [...compact.matchAll(DURATION_PART)];
  if (parts.length && parts.map((p) => p[0]).join('') === compact) {
    return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT[p[2]], 0);
  }
  throw new Error(`not a duration: '${text}' (use a number of seconds or e.g. '300s', '5m', '2000ms', '1m30s')`);
}

const COMPARATOR = /(<=|>=|==|!=|<|>)/;

/**
 * Problems of a form's values as {field: message}, in the API's field names, and the body to
 * send. values: {scenario, testType, users, duration, rampUp, rate, baseUrl, criteria, name}
 * (strings as typed); info: the scenario's entry of GET /api/v1/scenarios (or null);
 * limits: {maxUsers, maxDurationS, maxRate}.
 */
export function checkLoadTest(values, info, limits) {
  const errors = {};
  const body = {testType: values.testType || 'NATIVE'};
  if (!values.scenario) errors.scenario = 'scenario: choose a scenario';
  else body.scenario = values.scenario;
  if (info && info.error) errors.scenario = `scenario: ${info.error}`;

  let users = null;
  if (values.users !== '' && values.users !== undefined) {
    if (!/^\s*\d+\s*$/.test(values.users)) errors.users = 'users: Input should be a valid integer';
    else {
      users = Number(values.users);
      if (users < 1) errors.users = 'users: Input should be greater than or equal to 1';
      else if (limits && users > limits.maxUsers) errors.users = `users: ${users} is over the limit of ${limits.maxUsers}`;
      else body.users = users;
    }
  }
  const seconds = {};
  for (const field of ['duration', 'rampUp']) {
    const text = (values[field] || '').trim();
    if (!text) continue;
    try {
      seconds[field] = parseDuration(text);
      body[field] = text;
    } catch (err) {
      errors[field] = `${field}: Value error, ${err.message}`;
    }
  }
  let rate = null;
  if ((values.rate || '').trim()) {
    rate = Number(values.rate);
    if (!Number.isFinite(rate)) errors.rate = 'rate: Input should be a valid number';
    else if (rate <= 0) errors.rate = 'rate: Input should be greater than 0';
    else if (limits && rate > limits.maxRate) errors.rate = `rate: ${rate}/s is over the limit of ${limits.maxRate}/s`;
    else body.rate = rate;
  }
  if (info && info.populations) {
    const refused = [['users', users !== null], ['rampUp', seconds.rampUp !== undefined],
      ['rate', rate !== null], ['testType', body.testType === 'GATLING']].find(([, given]) => given);
    if (refused) {
      errors[refused[0]] = `${refused[0]}: the scenario runs ${info.journeys.length} populations `
        + '(its journeys each have their own load); only \'duration\' applies to them';
    }
  }
  if (limits && !errors.duration && !errors.rampUp && !errors.rate) {
    const load = (info && info.load) || {};
    const closed = rate === null && (body.testType === 'GATLING' || users !== null || seconds.duration !== undefined);
    let total = null;
    if (rate !== null) total = seconds.duration ?? load.durationS ?? 60;
    else if (closed) {
      total = (seconds.rampUp ?? load.rampUpS ?? 0) + (seconds.duration ?? load.durationS ?? 60);
    }
    if (total !== null && total > limits.maxDurationS) {
      errors.duration = `duration: the run would last ${total}s; the limit is ${limits.maxDurationS}s`;
    }
  }
  const baseUrl = (values.baseUrl || '').trim();
  if (baseUrl) {
    if (!/^https?:\/\/[^\s/]+/i.test(baseUrl)) errors.baseUrl = `baseUrl: '${baseUrl}' is not an http:// or https:// URL`;
    else body.baseUrl = baseUrl;
  }
  const criteria = (values.criteria || '').split('\n').map((c) => c.trim()).filter(Boolean);
  const bad = criteria.find((c) => !COMPARATOR.test(c));
  if (bad) errors.criteria = `criteria: '${bad}' has no comparison (e.g. 'p99(response_time) < 500ms')`;
  else if (criteria.length) body.criteria = criteria;
  const name = (values.name || '').trim();
  if (name.length > 200) errors.name = 'name: String should have at most 200 characters';
  else if (name) body.name = name;
  return {errors, body};
}

/** The form field an API error's ``field`` belongs to ('scenario.feeders' -> 'scenario'). */
export function formField(apiField, known) {
  if (!apiField) return null;
  const head = String(apiField).split(/[.[]/)[0];
  return known.includes(head) ? head : null;
}
