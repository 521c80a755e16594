// Alerts: a filtered list, and the detail of one alert with its evidence, its history and,
// for a security_admin, the Acknowledge and Resolve actions.
/* global URLSearchParams */
import { definitions, fill, h, jsonBlock, severityBadge, statusBadge, when } from './dom.js';

function select(id, label, options) {
  return [
    h('label', { for: id }, label),
    h(
      'select',
      { id, name: id },
      options.map(([value, text]) => h('option', { value }, text)),
    ),
  ];
}

export function createAlertsView({ api, root, getUser, announce, onError }) {
  const list = h('div', { class: 'alert-list', id: 'alert-list' });
  const detail = h('section', {
    class: 'alert-detail panel',
    id: 'alert-detail',
    'aria-label': 'Alert detail',
    hidden: true,
  });
  const filters = h(
    'form',
    { class: 'filters', id: 'alert-filters' },
    select('filter-status', 'Status', [
      ['active', 'Open and acknowledged'],
      ['open', 'Open'],
      ['acknowledged', 'Acknowledged'],
      ['resolved', 'Resolved'],
      ['', 'All'],
    ]),
    select('filter-severity', 'Severity', [
      ['', 'Any'],
      ['critical', 'Critical'],
      ['high', 'High'],
      ['medium', 'Medium'],
      ['low', 'Low'],
    ]),
  );
  fill(root, h('h2', { id: 'alerts-heading' }, 'Alerts'), filters, h('div', { class: 'split' }, list, detail));
  let lastList = '';
  let selected = null;

  filters.addEventListener('change', () => {
    lastList = '';
    void refresh();
  });
  filters.addEventListener('submit', (e) => e.preventDefault());

  function query() {
    const status = filters.elements['filter-status'].value;
    const severity = filters.elements['filter-severity'].value;
    const q = new URLSearchParams({ limit: '100' });
    if (status) q.set('status', status);
    if (severity) q.set('severity', severity);
    return q;
  }

  async function refresh() {
    const { alerts } = await api.get(`alerts?${query()}`);
    const key = JSON.stringify(alerts);
    if (key === lastList) return;
    lastList = key;
    renderList(alerts);
  }

  function renderList(alerts) {
    if (alerts.length === 0) {
      fill(list, h('p', { class: 'muted' }, 'No alerts match.'));
      return;
    }
    fill(
      list,
      h(
        'table',
        { class: 'data' },
        h('caption', { class: 'visually-hidden' }, 'Alerts, newest first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Severity', 'Alert', 'Status', 'Count', 'Last seen'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          alerts.map((a) => {
            const open = h(
              'button',
              { type: 'button', class: 'link', 'data-alert-id': a.id, 'aria-pressed': String(a.id === selected) },
              a.title,
            );
            open.addEventListener('click', () => void show(a.id));
            return h(
              'tr',
              { 'data-alert-row': a.id },
              h('td', {}, severityBadge(a.severity)),
              h('td', {}, open, h('span', { class: 'sub' }, a.summary)),
              h('td', { class: 'status' }, statusBadge(a.status)),
              h('td', {}, String(a.occurrences)),
              h('td', {}, when(a.lastSeen)),
            );
          }),
        ),
      ),
    );
  }

  async function show(id) {
    selected = id;
    try {
      renderDetail(await api.get(`alerts/${encodeURIComponent(id)}`));
      detail.hidden = false;
      detail.querySelector('h3')?.focus();
    } catch (err) {
      onError(err);
    }
  }

  function renderDetail(d) {
    const a = d.alert;
    fill(
      detail,
      h('h3', { tabindex: '-1', id: 'alert-title' }, a.title),
      h(
        'p',
        { class: 'badges' },
        severityBadge(a.severity),
        ' ',
        h('span', { id: 'alert-status' }, statusBadge(a.status)),
      ),
      h('p', { class: 'summary' }, a.summary || '—'),
      definitions([
        ['Rule', a.ruleId],
        ['ATT&CK', a.attack.length ? a.attack.join(', ') : '—'],
        ['Occurrences', String(a.occurrences)],
        ['Events', String(a.eventCount)],
        ['First seen', when(a.firstSeen)],
        ['Last seen', when(a.lastSeen)],
        ['Acknowledged', a.acknowledgedAt ? `${when(a.acknowledgedAt)} by ${a.acknowledgedBy}` : '—'],
        ['Resolved', a.resolvedAt ? `${when(a.resolvedAt)} by ${a.resolvedBy}` : '—'],
        ['Silenced', a.silenced ? 'yes' : 'no'],
      ]),
      h('h4', {}, 'Group'),
      definitions(Object.entries(a.groupValues).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
      actions(a),
      h('h4', {}, `Evidence (${d.evidence.length})`),
      d.evidence.length
        ? h('ol', { class: 'evidence' }, d.evidence.map(evidenceItem))
        : h('p', { class: 'muted' }, 'No evidence linked.'),
      h('h4', {}, 'History'),
      d.changes.length
        ? h(
            'ol',
            { class: 'history' },
            d.changes.map((c) =>
              h(
                'li',
                {},
                `${when(c.changedAt)}: ${c.oldStatus ?? '—'} → ${c.newStatus} by ${c.actor}`,
                c.note ? h('q', {}, c.note) : null,
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No changes yet.'),
      Object.keys(a.details).length ? [h('h4', {}, 'Details'), jsonBlock(a.details, 'Alert details')] : null,
    );
  }

  function evidenceItem(e) {
    if (e.kind !== 'security-event')
      return h(
        'li',
        { 'data-evidence': e.id },
        h('code', {}, e.id),
        e.kind === 'missing' ? ' (no longer stored)' : ' (reference)',
      );
    const ev = e.event;
    return h(
      'li',
      { 'data-evidence': e.id },
      h(
        'p',
        {},
        h('code', {}, e.id),
        ' ',
        h('strong', { class: 'event-type' }, ev.type),
        ` · ${ev.severity} · ${when(ev.occurredAt)}`,
      ),
      definitions([
        ['Actor', ev.actor],
        ['Subject', ev.subject],
        ['Address', ev.addr],
        ['Tenant', ev.tenant],
      ]),
      Object.keys(ev.details).length ? jsonBlock(ev.details, `Details of ${e.id}`) : null,
    );
  }

  function actions(a) {
    if (!getUser()?.canAct || a.status === 'resolved') return null;
    const note = h('textarea', { id: 'alert-note', name: 'note', rows: '2', maxlength: '2000' });
    const buttons = [];
    if (a.status === 'open') buttons.push(actionButton('Acknowledge', 'acknowledge', a.id, note));
    buttons.push(actionButton('Resolve', 'resolve', a.id, note));
    return h(
      'div',
      { class: 'actions' },
      h('label', { for: 'alert-note' }, 'Note (optional)'),
      note,
      h('div', { class: 'buttons' }, buttons),
    );
  }

  function actionButton(label, verb, id, note) {
    const button = h('button', { type: 'button', class: `action ${verb}` }, label);
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await api.post(`alerts/${encodeURIComponent(id)}/${verb}`, { note: note.value });
        announce(`Alert ${verb === 'acknowledge' ? 'acknowledged' : 'resolved'}.`);
        lastList = '';
        await Promise.all([show(id), refresh()]);
      } catch (err) {
        button.disabled = false;
        onError(err);
      }
    });
    return button;
  }

  return { refresh, show };
}
