// The dashboard's entry: sign in with an API key, then a hash router over the views. Each
// view renders into #view and returns a function that stops its streams and polls.

import {api, can, session, liveStatus} from './api.js';
import {h, replace} from './dom.js';
import {loadCharts} from './charts.js';

const VIEWS = {
  overview: () => import('./views/overview.js'),
  runs: () => import('./views/runs.js'),
  run: () => import('./views/run.js'),
  start: () => import('./views/start.js'),
  alerts: () => import('./views/alerts.js'),
  trends: () => import('./views/trends.js'),
  schedules: () => import('./views/schedules.js'),
  db: () => import('./views/recommendations.js'),
  cache: () => import('./views/recommendations.js'),
};

const state = {me: null, dispose: null, seq: 0};
const $ = (id) => document.getElementById(id);

function route() {
  const parts = (location.hash.replace(/^#\/?/, '') || 'overview').split('/').map(decodeURIComponent);
  if (parts[0] === 'runs' && parts[1]) return {view: 'run', params: {id: parts[1]}};
  return {view: VIEWS[parts[0]] ? parts[0] : 'overview', params: {sub: parts[1] || null}};
}

async function show() {
  if (!state.me) return;
  const {view, params} = route();
  const seq = ++state.seq;
  if (state.dispose) { try { state.dispose(); } catch { /* already gone */ } state.dispose = null; }
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.view === view || (view === 'run' && a.dataset.view === 'runs'));
  }
  const root = replace($('view'), h('p', {class: 'sub'}, 'Loading…'));
  try {
    const mod = await VIEWS[view]();
    if (seq !== state.seq) return;
    root.replaceChildren();
    root.dataset.view = view;
    const dispose = await mod.render(root, {me: state.me, params, kind: view,
      go: (hash) => { location.hash = hash; }});
    if (seq !== state.seq) { if (dispose) dispose(); return; }
    state.dispose = dispose || null;
  } catch (err) {
    if (seq === state.seq) replace(root, h('div', {class: 'alert-box'}, `This page failed: ${err.message}`));
  }
}

function signedIn(me) {
  state.me = me;
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('who').hidden = false;
  $('who-name').textContent = me.name;
  $('who-role').textContent = me.role;
  document.body.dataset.role = me.role;
  for (const a of document.querySelectorAll('#nav [data-needs]')) {
    if (!can(me, a.dataset.needs)) a.remove(); // not merely hidden: viewers never get actions
  }
  show();
}

function signedOut(message = '') {
  session.clear();
  state.me = null;
  state.seq++;
  if (state.dispose) { try { state.dispose(); } catch { /* gone */ } state.dispose = null; }
  $('view').replaceChildren();
  $('nav').hidden = true;
  $('who').hidden = true;
  delete document.body.dataset.role;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message;
  $('api-key').value = '';
  $('api-key').focus();
  liveStatus('signed out');
}

async function signIn(event) {
  event.preventDefault();
  const key = $('api-key').value.trim();
  $('sign-in-error').textContent = '';
  if (!key) { $('sign-in-error').textContent = 'Enter an API key.'; return; }
  try {
    const me = await api('/api/v1/me', {key});
    session.set(key);
    // Re-render the navigation: links removed for a previous, lower key come back.
    location.reload();
    return me;
  } catch (err) {
    $('sign-in-error').textContent = err.status === 401 ? 'This key is not valid (unknown or revoked).' : err.message;
  }
  return null;
}

async function boot() {
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signedOut('Signed out.'));
  window.addEventListener('hashchange', show);
  window.addEventListener('intperf:unauthorized', () => {
    if (state.me) signedOut('The key is no longer valid; sign in again.');
  });
  const charts = loadCharts();
  const key = session.key();
  if (!key) { signedOut(); return; }
  try {
    const me = await api('/api/v1/me');
    await charts;
    signedIn(me);
  } catch (err) {
    signedOut(err.status === 401 ? 'The key is no longer valid; sign in again.' : err.message);
  }
}

boot();
