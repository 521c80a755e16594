// The timeline: security events and alerts merged by time, newest first, in pages.
/* global URLSearchParams */
import { fill, h, severityBadge, statusBadge, when } from './dom.js';

/** A Date as the value of a datetime-local input (local time, minutes). */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function createTimelineView({ api, root, onError }) {
  const from = h('input', { type: 'datetime-local', id: 'timeline-from', name: 'from' });
  const to = h('input', { type: 'datetime-local', id: 'timeline-to', name: 'to' });
  const form = h(
    'form',
    { class: 'filters', id: 'timeline-form' },
    h('label', { for: 'timeline-from' }, 'From'),
    from,
    h('label', { for: 'timeline-to' }, 'To (empty: now)'),
    to,
    h('button', { type: 'submit' }, 'Show'),
  );
  const list = h('ol', { class: 'timeline', id: 'timeline-list' });
  const more = h('button', { type: 'button', hidden: true, id: 'timeline-more' }, 'Load older');
  fill(root, h('h2', { id: 'timeline-heading' }, 'Timeline'), form, list, more);
  from.value = localInput(new Date(Date.now() - 24 * 3600_000));
  let next = null;
  let paged = false;
  let last = '';

  function params(cursor) {
    const q = new URLSearchParams({ limit: '100' });
    if (from.value) q.set('from', new Date(from.value).toISOString());
    if (to.value) q.set('to', new Date(to.value).toISOString());
    if (cursor) q.set('cursor', cursor);
    return q;
  }

  async function refresh() {
    // Once older pages are shown, leave the list alone until the reader asks again.
    if (paged) return;
    const page = await api.get(`timeline?${params()}`);
    const key = JSON.stringify(page.items);
    if (key !== last) {
      last = key;
      fill(list, page.items.map(item));
    }
    next = page.next;
    more.hidden = !next;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    paged = false;
    last = '';
    refresh().catch(onError);
  });
  more.addEventListener('click', async () => {
    if (!next) return;
    try {
      const page = await api.get(`timeline?${params(next)}`);
      paged = true;
      page.items.forEach((i) => list.appendChild(item(i)));
      next = page.next;
      more.hidden = !next;
    } catch (err) {
      onError(err);
    }
  });

  function item(i) {
    if (i.kind === 'alert')
      return h(
        'li',
        { class: 'tl-alert', 'data-kind': 'alert' },
        h('span', { class: 'tl-time' }, when(i.time)),
        h('span', { class: 'badge kind' }, 'ALERT'),
        severityBadge(i.severity),
        h('span', { class: 'tl-text' }, i.title),
        statusBadge(i.status),
      );
    const who = [i.actor && `by ${i.actor}`, i.subject && `on ${i.subject}`, i.addr && `from ${i.addr}`]
      .filter(Boolean)
      .join(' ');
    return h(
      'li',
      { class: 'tl-event', 'data-kind': 'event' },
      h('span', { class: 'tl-time' }, when(i.time)),
      h('span', { class: 'badge kind' }, 'EVENT'),
      h('span', { class: `badge ev-${/^[a-z]+$/.test(i.severity) ? i.severity : 'other'}` }, i.severity),
      h('span', { class: 'tl-text' }, h('code', {}, i.type), who ? ` ${who}` : ''),
    );
  }

  return { refresh };
}
