// The SOC dashboard page: sign-in, four views, refresh every few seconds. Plain ES modules, no
// framework, no build step; everything shown is built with DOM calls (see dom.js).
/* global document, window */
import { ApiError, createApi } from './api.js';
import { fill } from './dom.js';
import { createAlertsView } from './view-alerts.js';
import { renderOverview } from './view-overview.js';
import { createTimelineView } from './view-timeline.js';
import { createUsersView } from './view-users.js';

const REFRESH_MS = 5000;

function main() {
  const $ = (id) => document.getElementById(id);
  const api = createApi();
  const state = { user: null, view: 'overview', busy: false, timer: null };

  const announce = (text) => {
    $('status').textContent = text;
  };
  const onError = (err) => {
    if (err instanceof ApiError && err.status === 401) {
      showLogin('Your session has ended. Sign in again.');
      return;
    }
    $('error').textContent = err instanceof Error ? err.message : String(err);
  };

  const views = {
    overview: { refresh: async () => renderOverview($('overview-body'), await api.get('overview')) },
    alerts: createAlertsView({ api, root: $('alerts-view'), getUser: () => state.user, announce, onError }),
    users: createUsersView({ api, root: $('users-view') }),
    timeline: createTimelineView({ api, root: $('timeline-view'), onError }),
  };

  async function refresh() {
    if (state.busy || !state.user) return;
    state.busy = true;
    try {
      await views[state.view].refresh();
      $('error').textContent = '';
    } catch (err) {
      onError(err);
    } finally {
      state.busy = false;
    }
  }

  function select(view) {
    state.view = view;
    for (const panel of document.querySelectorAll('[data-view-panel]')) panel.hidden = panel.dataset.viewPanel !== view;
    for (const button of document.querySelectorAll('#nav button')) {
      if (button.dataset.view === view) button.setAttribute('aria-current', 'page');
      else button.removeAttribute('aria-current');
    }
    void refresh();
  }

  function showLogin(message) {
    state.user = null;
    api.setCsrf(null);
    if (state.timer) window.clearInterval(state.timer);
    state.timer = null;
    $('app').hidden = true;
    $('nav').hidden = true;
    $('who').hidden = true;
    $('login-view').hidden = false;
    $('login-form').hidden = false;
    $('mfa-form').hidden = true;
    $('login-error').textContent = message ?? '';
    $('login-email').focus();
  }

  function showApp(user, csrfToken) {
    state.user = user;
    api.setCsrf(csrfToken);
    $('login-view').hidden = true;
    $('login-error').textContent = '';
    $('app').hidden = false;
    $('nav').hidden = false;
    $('who').hidden = false;
    fill($('who-name'), user.email);
    fill($('who-role'), user.role === 'security_admin' ? 'security admin' : 'auditor (read only)');
    select(state.view);
    state.timer = window.setInterval(() => void refresh(), REFRESH_MS);
  }

  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const password = $('login-password');
    try {
      const data = await api.post('login', { email: $('login-email').value, password: password.value });
      password.value = '';
      if (data.mfaRequired) {
        api.setCsrf(data.csrfToken);
        $('login-form').hidden = true;
        $('mfa-form').hidden = false;
        $('login-error').textContent = '';
        $('mfa-code').focus();
        return;
      }
      showApp(data.user, data.csrfToken);
    } catch (err) {
      password.value = '';
      $('login-error').textContent = err instanceof Error ? err.message : String(err);
    }
  });

  $('mfa-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = $('mfa-code').value.trim();
    $('mfa-code').value = '';
    try {
      const data = await api.post('login/mfa', /^\d{6}$/.test(value) ? { code: value } : { recoveryCode: value });
      showApp(data.user, data.csrfToken);
    } catch (err) {
      $('login-error').textContent = err instanceof Error ? err.message : String(err);
      if (err instanceof ApiError && err.status === 401 && /log in again/.test(err.message)) showLogin(err.message);
    }
  });

  for (const button of document.querySelectorAll('#nav button')) {
    button.addEventListener('click', () => select(button.dataset.view));
  }

  $('logout').addEventListener('click', async () => {
    const ended = await api.post('logout').then(
      () => 'Signed out.',
      (err) => `Signed out here; the server said: ${err instanceof Error ? err.message : String(err)}`,
    );
    showLogin(ended);
  });

  api
    .get('session')
    .then((s) => (s.authenticated ? showApp(s.user, s.csrfToken) : showLogin()))
    .catch((err) => showLogin(err instanceof Error ? err.message : String(err)));
}

main();
