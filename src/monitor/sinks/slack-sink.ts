import type { AlertPayload } from '../alerts/index.js';
import { postJson } from './http-post.js';
import { actionLabel, type Sink, type SinkDelivery } from './sink.js';

/** What {@link slackSink} needs, the URL already resolved (it is a credential). */
export interface SlackSinkOptions {
  name: string;
  /** The incoming-webhook URL. */
  url: string;
  timeoutMs?: number;
}

// Slack reads &, < and > as markup (`<https://x|click>` is a link): escape them in anything that
// came from an event, so an attacker-chosen user name cannot plant a link in the channel.
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const cut = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);
const field = (label: string, value: string) => ({
  type: 'mrkdwn',
  text: cut(`*${escape(label)}*\n${escape(value)}`, 2000),
});

function groupText(p: AlertPayload): string {
  const parts = Object.entries(p.group).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(', ') : '-';
}

/**
 * The Slack message of a delivery: `text` (the notification line) and Block Kit `blocks` with
 * severity, title, summary, counts, ATT&CK techniques and a dashboard link. Values are escaped.
 *
 * @example
 * slackMessage({ action: 'trigger', payload, idempotencyKey });
 * // { text: '[HIGH] Brute force (new): 10 failed logins …', blocks: [ { type: 'header', … }, … ] }
 */
export function slackMessage(delivery: SinkDelivery): { text: string; blocks: unknown[] } {
  const p = delivery.payload;
  const head = `[${p.severity.toUpperCase()}] ${p.title} (${actionLabel(delivery.action)})`;
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(head, 150) } },
    { type: 'section', text: { type: 'mrkdwn', text: cut(escape(p.summary || p.title), 3000) } },
    {
      type: 'section',
      fields: [
        field('Severity', p.severity),
        field('Status', p.status),
        field('Rule', p.rule),
        field('ATT&CK', p.attack.join(', ') || '-'),
        field('Occurrences', String(p.occurrences)),
        field('Events', String(p.event_count)),
        field('Group', groupText(p)),
        field('Seen', `${p.first_seen} – ${p.last_seen}`),
      ],
    },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: escape(`alert ${p.id} · ${p.evidence.length} evidence events`) }],
    },
  ];
  if (p.dashboard_url && /^https?:\/\//.test(p.dashboard_url)) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `<${p.dashboard_url.replace(/[|<>]/g, encodeURIComponent)}|Open in the pgwarden dashboard>`,
      },
    });
  }
  return { text: cut(escape(`${head}: ${p.summary}`), 3000), blocks };
}

/**
 * A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): POST `{ text, blocks }`.
 *
 * @example
 * const sink = slackSink({ name: 'chat', url: slackUrl });
 * await sink.send({ action: 'trigger', payload, idempotencyKey: '42:trigger:7' });
 */
export function slackSink(options: SlackSinkOptions): Sink {
  return {
    name: options.name,
    kind: 'slack',
    supportsLifecycle: false,
    async send(delivery) {
      await postJson({
        sink: options.name,
        url: options.url,
        body: JSON.stringify(slackMessage(delivery)),
        timeoutMs: options.timeoutMs ?? 10_000,
      });
    },
  };
}
