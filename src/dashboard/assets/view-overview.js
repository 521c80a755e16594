// The overview: live alerts by severity, events per minute, compliance, ledger, heartbeat and
// the riskiest users.
import { barChart, hbarChart, lineChart } from './charts.js';
import { age, fill, h, severityBadge, when } from './dom.js';

const time = (iso) => new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
const date = (iso) => new Date(iso).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });

function tile(label, value, detail, tone) {
  return h(
    'div',
    { class: `tile${tone ? ` tone-${tone}` : ''}`, 'data-tile': label },
    h('p', { class: 'tile-label' }, label),
    h('p', { class: 'tile-value' }, String(value)),
    detail ? h('p', { class: 'tile-detail' }, detail) : null,
  );
}

function ledgerTile(ledger) {
  if (!ledger) return tile('Audit ledger', 'not installed', null, null);
  if (ledger.status === 'tamper_detected')
    return tile('Audit ledger', 'TAMPER DETECTED', `at ${when(ledger.lastTamperAt)}`, 'bad');
  if (ledger.status === 'verified')
    return tile('Audit ledger', 'verified', `last ${when(ledger.lastVerifiedAt)}`, 'good');
  return tile('Audit ledger', 'never verified', 'run pgwarden audit verify', 'warn');
}

function heartbeatTile(heartbeat) {
  const stale = heartbeat.ageSeconds === null || heartbeat.ageSeconds > 120;
  return tile(
    'Monitor heartbeat',
    heartbeat.ageSeconds === null ? 'none' : `${age(heartbeat.ageSeconds)} ago`,
    stale ? 'STALE: is the monitor running?' : `${heartbeat.instances.length} instance(s)`,
    stale ? 'bad' : 'good',
  );
}

function complianceTile(compliance) {
  if (!compliance) return tile('Compliance score', 'not installed', null, null);
  if (!compliance.latest) return tile('Compliance score', 'no scan saved', 'run pgwarden check --save', 'warn');
  return tile('Compliance score', `${compliance.latest.score} / 100`, `scanned ${when(compliance.latest.startedAt)}`);
}

function severityTable(rows) {
  return h(
    'table',
    { class: 'data', 'data-table': 'alerts-by-severity' },
    h('caption', {}, 'Live alerts by severity and status'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Severity'),
        h('th', { scope: 'col' }, 'Open'),
        h('th', { scope: 'col' }, 'Acknowledged'),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          { 'data-severity': r.severity },
          h('th', { scope: 'row' }, severityBadge(r.severity)),
          h('td', { class: 'open' }, String(r.open)),
          h('td', { class: 'acknowledged' }, String(r.acknowledged)),
        ),
      ),
    ),
  );
}

export function renderOverview(container, data) {
  const a = data.alerts;
  const counters = Object.entries(data.counters ?? {});
  const events = data.eventsPerMinute.points.map((p) => ({ at: time(p.minute), value: p.count }));
  const compliance = data.compliance;
  fill(
    container,
    h(
      'div',
      { class: 'tiles' },
      tile('Open alerts', a.open, null, a.open > 0 ? 'bad' : 'good'),
      tile('Acknowledged', a.acknowledged),
      tile('Resolved (24 h)', a.resolvedLast24h),
      complianceTile(compliance),
      ledgerTile(data.ledger),
      heartbeatTile(data.heartbeat),
      counters.map(([name, value]) => tile(name, value)),
    ),
    h(
      'div',
      { class: 'charts' },
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'h-sev' },
        h('h3', { id: 'h-sev' }, 'Live alerts by severity'),
        barChart(
          'alerts-by-severity',
          'Live alerts (open and acknowledged) by severity',
          a.bySeverity.map((r) => ({
            label: r.severity,
            value: r.open + r.acknowledged,
            note: `${r.open} open · ${r.acknowledged} ack`,
            tone: r.severity,
          })),
        ),
        severityTable(a.bySeverity),
      ),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'h-epm' },
        h('h3', { id: 'h-epm' }, 'Security events per minute (last hour)'),
        lineChart('events-per-minute', 'Events per minute', events),
        h(
          'p',
          { class: 'muted' },
          data.eventsPerMinute.source === 'live'
            ? 'Counted by the running monitor.'
            : 'Counted in logs.notification_log.',
        ),
      ),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'h-comp' },
        h('h3', { id: 'h-comp' }, 'Compliance score trend'),
        compliance && compliance.trend.length > 0
          ? lineChart(
              'compliance-trend',
              'Compliance score',
              compliance.trend.map((p) => ({ at: date(p.startedAt), value: p.score })),
              { max: 100 },
            )
          : h('p', { class: 'muted' }, compliance ? 'No saved scans yet.' : 'The compliance module is not installed.'),
      ),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'h-risk' },
        h('h3', { id: 'h-risk' }, 'Riskiest users'),
        data.topRiskUsers.length > 0
          ? hbarChart(
              'risk-per-user',
              'Risk score per user (0 to 100)',
              data.topRiskUsers.map((u) => ({ label: u.principal, value: u.riskScore })),
              100,
            )
          : h('p', { class: 'muted' }, 'No user profiles yet.'),
      ),
    ),
    h('p', { class: 'muted small' }, `Updated ${when(data.generatedAt)}`),
  );
}
