import { z } from 'zod';

// The sinks' configuration, validated into data (PW604 on failure). Secret-bearing fields hold a
// reference (`env:NAME`, `file:/path`, …) that the caller's resolver turns into the value, so a
// config file or its printout never holds a credential. URL fields take either a literal http(s)
// URL or such a reference (a Slack webhook URL is itself a credential).

const sinkName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lower case letters, digits, ".", "_" and "-" (1-64)');
const secretRef = z.string().min(1, 'a secret reference such as env:NAME or file:/path');
const timeoutMs = z.number().int().min(100).max(300_000).optional();
const host = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9.:[\]_-]+$/, 'a host name or IP address');
const port = z.number().int().min(1).max(65_535).optional();
const mailbox = z
  .string()
  .max(254)
  .regex(/^[!#-'*+\-/-9=?A-Z^-~.]+@[A-Za-z0-9.-]+$/, 'an ASCII e-mail address (user@domain)');

const webhook = z.strictObject({
  name: sinkName,
  kind: z.literal('webhook'),
  url: z.string().min(1),
  /** HMAC-SHA256 signing secret (reference). */
  secret: secretRef,
  timeoutMs,
  /** Allow plain http:// to a non-loopback host (the alert crosses the network in clear). */
  allowHttp: z.boolean().optional(),
});

const slack = z.strictObject({
  name: sinkName,
  kind: z.literal('slack'),
  url: z.string().min(1),
  timeoutMs,
  allowHttp: z.boolean().optional(),
});

const smtp = z.strictObject({
  name: sinkName,
  kind: z.literal('smtp'),
  host,
  /** Default 465 with `tls: 'implicit'`, else 587. */
  port,
  /** STARTTLS is required unless `none` is set explicitly; `implicit` is TLS from the first byte (465). */
  tls: z.enum(['starttls', 'implicit', 'none']).optional(),
  /** PEM file of the CA(s) to trust instead of the system's. Certificates are always verified. */
  caFile: z.string().min(1).optional(),
  username: z.string().min(1).max(256).optional(),
  password: secretRef.optional(),
  from: mailbox,
  to: z.array(mailbox).min(1).max(50),
  subjectPrefix: z.string().max(50).optional(),
  /** The EHLO name (default `localhost`). */
  heloName: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,253}$/)
    .optional(),
  /** Per step: connect, each command's reply (default 30 000). */
  timeoutMs,
});

const syslog = z.strictObject({
  name: sinkName,
  kind: z.literal('syslog'),
  host,
  /** Default 6514 for tls, else 514. */
  port,
  transport: z.enum(['udp', 'tcp', 'tls']),
  caFile: z.string().min(1).optional(),
  /** Default `authpriv` (security messages, routed to restricted logs by common syslog daemons). */
  facility: z.union([z.string(), z.number().int().min(0).max(23)]).optional(),
  /** HOSTNAME of the messages (default `-`). */
  hostname: z
    .string()
    .regex(/^[!-~]{1,255}$/)
    .optional(),
  timeoutMs,
});

const pagerduty = z.strictObject({
  name: sinkName,
  kind: z.literal('pagerduty'),
  /** The integration's routing key (reference). */
  routingKey: secretRef,
  /** Default https://events.pagerduty.com/v2/enqueue. */
  url: z.string().min(1).optional(),
  /** `payload.source` (default `pgwarden`): the affected system, e.g. the database host. */
  source: z.string().min(1).max(255).optional(),
  component: z.string().min(1).max(255).optional(),
  group: z.string().min(1).max(255).optional(),
  timeoutMs,
  allowHttp: z.boolean().optional(),
});

/**
 * The schema of one sink's configuration (a union on `kind`), for embedding in the monitor's
 * config schema.
 *
 * @example
 * const parsed = sinkConfigSchema.parse({ name: 'ops', kind: 'webhook', url: 'https://hooks.example/x', secret: 'env:HOOK_SECRET' });
 */
export const sinkConfigSchema = z.discriminatedUnion('kind', [webhook, slack, smtp, syslog, pagerduty]);

/** One sink's configuration. */
export type SinkConfig = z.infer<typeof sinkConfigSchema>;
export type WebhookSinkConfig = z.infer<typeof webhook>;
export type SlackSinkConfig = z.infer<typeof slack>;
export type SmtpSinkConfig = z.infer<typeof smtp>;
export type SyslogSinkConfig = z.infer<typeof syslog>;
export type PagerDutySinkConfig = z.infer<typeof pagerduty>;
