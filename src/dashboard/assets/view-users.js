// Users by learned risk, with the reasons the behaviour analytics gave.
import { hbarChart } from './charts.js';
import { fill, h, when } from './dom.js';

/** A reason as one line of text, whatever shape the analytics stored it in. */
function reasonText(reason) {
  if (typeof reason === 'string') return reason;
  if (reason && typeof reason === 'object') {
    const text = reason.reason ?? reason.message ?? reason.text ?? reason.description ?? reason.kind;
    const points = reason.points ?? reason.weight ?? reason.score;
    if (typeof text === 'string') return typeof points === 'number' ? `${text} (+${points})` : text;
  }
  return JSON.stringify(reason);
}

export function createUsersView({ api, root }) {
  const body = h('div', {});
  fill(root, h('h2', { id: 'users-heading' }, 'Users by risk'), body);
  let last = '';

  async function refresh() {
    const { users } = await api.get('users/risk?limit=50');
    const key = JSON.stringify(users);
    if (key === last) return;
    last = key;
    if (users.length === 0) {
      fill(body, h('p', { class: 'muted' }, 'No user profiles yet: the monitor builds them as it sees activity.'));
      return;
    }
    fill(
      body,
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'h-user-risk' },
        h('h3', { id: 'h-user-risk' }, 'Risk score per user'),
        hbarChart(
          'user-risk',
          'Risk score per user (0 to 100)',
          users.slice(0, 15).map((u) => ({ label: u.principal, value: u.riskScore })),
          100,
        ),
      ),
      h(
        'table',
        { class: 'data', 'data-table': 'users' },
        h('caption', {}, 'Every profiled user, riskiest first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['User', 'Risk', 'Reasons', 'Updated'].map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h(
          'tbody',
          {},
          users.map((u) =>
            h(
              'tr',
              { 'data-principal': u.principal },
              h('th', { scope: 'row' }, u.principal),
              h('td', {}, `${u.riskScore} / 100`),
              h(
                'td',
                {},
                u.reasons.length
                  ? h(
                      'ul',
                      { class: 'reasons' },
                      u.reasons.map((r) => h('li', {}, reasonText(r))),
                    )
                  : '—',
              ),
              h('td', {}, when(u.updatedAt)),
            ),
          ),
        ),
      ),
    );
  }

  return { refresh };
}
