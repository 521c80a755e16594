import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { redactText, scrubSecrets } from '../alerts/index.js';
import { pagerDutySink, PAGERDUTY_EVENTS_URL } from './pagerduty-sink.js';
import { type Sink, SinkFailedError } from './sink.js';
import { type SinkConfig, sinkConfigSchema } from './sink-config.js';
import { slackSink } from './slack-sink.js';
import { smtpSink } from './smtp-sink.js';
import { syslogSink } from './syslog-sink.js';
import { webhookSink } from './webhook-sink.js';

/** What {@link createSink} needs besides the configuration. */
export interface SinkDependencies {
  /** Turns a reference (`env:NAME`, `file:/path`, …) into the secret; throws when it cannot. */
  secrets: (ref: string) => string;
  /** Now in ms (webhook timestamps, mail dates, syslog timestamps). Default Date.now. */
  clock?: () => number;
}

function invalid(sink: string, message: string, detail?: string): PgwardenError {
  return new PgwardenError(ErrorCodes.MONITOR_SINK_INVALID, `sink ${sink}: ${message}`, {
    detail,
    hint: 'fix the sink in the monitor configuration (docs/monitor.md lists every field)',
  });
}

const loopback = (host: string) =>
  host === 'localhost' || host === '[::1]' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/** Resolves a secret reference; the error names the field, never the value (it may be a secret pasted in). */
function resolve(name: string, field: string, ref: string, deps: SinkDependencies, used: string[]): string {
  let value: string;
  try {
    value = deps.secrets(ref);
  } catch {
    // The resolver's error is not kept as the cause: it may quote the reference, which may be a
    // secret pasted where a reference belongs.
    throw invalid(name, `the secret reference in ${field} could not be resolved`);
  }
  if (typeof value !== 'string' || value.length === 0) throw invalid(name, `the secret in ${field} is empty`);
  used.push(value);
  return value;
}

/** A literal http(s) URL, or a reference resolved to one; plain http only to loopback unless allowed. */
function url(name: string, field: string, value: string, allowHttp: boolean, deps: SinkDependencies, used: string[]) {
  const literal = /^https?:\/\//i.test(value);
  const resolved = literal ? value : resolve(name, field, value, deps, used);
  let parsed: URL;
  try {
    parsed = new URL(resolved);
  } catch {
    throw invalid(name, `${field} is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalid(name, `${field} must be http(s)`);
  if (parsed.protocol === 'http:' && !allowHttp && !loopback(parsed.hostname)) {
    throw invalid(name, `${field} uses plain http to ${parsed.hostname}; use https or set allowHttp`);
  }
  // A URL holding a credential (user info, a token in the path or query) is masked in errors;
  // remember the whole URL and its parts so nothing of it is ever echoed.
  if (!literal || parsed.password || parsed.search) used.push(resolved);
  if (parsed.password) used.push(decodeURIComponent(parsed.password));
  for (const [, v] of parsed.searchParams) used.push(v);
  return resolved;
}

function readCa(name: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw Object.assign(invalid(name, `cannot read caFile ${file}`, (err as { code?: string }).code), { cause: err });
  }
}

function build(config: SinkConfig, deps: SinkDependencies, used: string[]): Sink {
  const { name } = config;
  const clock = deps.clock;
  switch (config.kind) {
    case 'webhook':
      return webhookSink({
        name,
        url: url(name, 'url', config.url, config.allowHttp ?? false, deps, used),
        secret: resolve(name, 'secret', config.secret, deps, used),
        timeoutMs: config.timeoutMs,
        clock,
      });
    case 'slack':
      return slackSink({
        name,
        url: url(name, 'url', config.url, config.allowHttp ?? false, deps, used),
        timeoutMs: config.timeoutMs,
      });
    case 'pagerduty':
      return pagerDutySink({
        name,
        url: url(name, 'url', config.url ?? PAGERDUTY_EVENTS_URL, config.allowHttp ?? false, deps, used),
        routingKey: resolve(name, 'routingKey', config.routingKey, deps, used),
        source: config.source,
        component: config.component,
        group: config.group,
        timeoutMs: config.timeoutMs,
      });
    case 'smtp': {
      const tls = config.tls ?? (config.port === 465 ? 'implicit' : 'starttls');
      if (tls === 'none' && (config.username !== undefined || config.password !== undefined)) {
        throw invalid(name, 'credentials over an unencrypted connection (tls: none) are refused');
      }
      if ((config.username === undefined) !== (config.password === undefined)) {
        throw invalid(name, 'username and password go together');
      }
      return smtpSink({
        name,
        host: config.host,
        port: config.port ?? (tls === 'implicit' ? 465 : 587),
        tls,
        ca: readCa(name, config.caFile),
        username: config.username,
        password: config.password === undefined ? undefined : resolve(name, 'password', config.password, deps, used),
        heloName: config.heloName ?? 'localhost',
        timeoutMs: config.timeoutMs ?? 30_000,
        from: config.from,
        to: config.to,
        subjectPrefix: config.subjectPrefix,
        clock,
      });
    }
    case 'syslog':
      return syslogSink({
        name,
        host: config.host,
        port: config.port,
        transport: config.transport,
        ca: readCa(name, config.caFile),
        facility: config.facility,
        hostname: config.hostname,
        timeoutMs: config.timeoutMs,
        clock,
      });
  }
}

/** The sink's error with every secret it holds scrubbed out, whatever threw it. */
function scrubbed(name: string, err: unknown, secrets: readonly string[]): SinkFailedError {
  const clean = (s: string) => scrubSecrets(redactText(s), secrets);
  if (err instanceof SinkFailedError) {
    return new SinkFailedError(name, clean(err.message.replace(`sink ${name}: `, '')), {
      permanent: err.permanent,
      status: err.status,
      retryAfterMs: err.retryAfterMs,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SinkFailedError(name, clean(message).slice(0, 300));
}

/**
 * Validates a sink's configuration (PW604 naming the field, never a value) and builds the sink,
 * resolving its secrets (webhook HMAC secret, SMTP password, PagerDuty routing key, a URL given as
 * a reference) through `deps.secrets`. Whatever the sink throws is a SinkFailedError (PW605) with
 * every resolved secret scrubbed from its message.
 *
 * @example
 * const sink = createSink(
 *   { name: 'pd', kind: 'pagerduty', routingKey: 'env:PD_ROUTING_KEY' },
 *   { secrets: (ref) => resolveSecretRef(ref) },
 * );
 */
export function createSink(config: unknown, deps: SinkDependencies): Sink {
  const parsed = sinkConfigSchema.safeParse(config);
  const label = (config as { name?: unknown } | null)?.name;
  const name = typeof label === 'string' && /^[a-z0-9][a-z0-9_.-]{0,63}$/.test(label) ? label : '(unnamed)';
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(sink)'}: ${i.message}`);
    throw invalid(name, `invalid configuration (${issues[0]})`, issues.join('\n'));
  }
  const secrets: string[] = [];
  const sink = build(parsed.data, deps, secrets);
  return {
    name: sink.name,
    kind: sink.kind,
    supportsLifecycle: sink.supportsLifecycle,
    async send(delivery) {
      try {
        await sink.send(delivery);
      } catch (err) {
        throw scrubbed(sink.name, err, secrets);
      }
    },
  };
}
