import { sendMail, type SmtpConnectionOptions } from './smtp-client.js';
import { alertMail } from './smtp-message.js';
import type { Sink } from './sink.js';

/** What {@link smtpSink} needs, the password already resolved. */
export interface SmtpSinkOptions extends Omit<SmtpConnectionOptions, 'sink'> {
  name: string;
  from: string;
  to: readonly string[];
  subjectPrefix?: string;
  clock?: () => number;
}

/**
 * E-mail through an SMTP server with pgwarden's own small client (STARTTLS required unless
 * `tls: 'none'`, certificate verified, AUTH PLAIN/LOGIN only over TLS). One plain-text message
 * per delivery; its Message-ID comes from the idempotency key.
 *
 * @example
 * const sink = smtpSink({ name: 'mail', host: 'smtp.example', port: 587, tls: 'starttls', heloName: 'db1',
 *   timeoutMs: 30_000, username: 'alerts', password, from: 'pgwarden@example.com', to: ['sec@example.com'] });
 * await sink.send({ action: 'trigger', payload, idempotencyKey: '42:trigger:7' });
 */
export function smtpSink(options: SmtpSinkOptions): Sink {
  const clock = options.clock ?? Date.now;
  return {
    name: options.name,
    kind: 'smtp',
    supportsLifecycle: false,
    async send(delivery) {
      const message = alertMail(delivery, { ...options, now: clock() });
      await sendMail({ ...options, sink: options.name }, { from: options.from, to: options.to, message });
    },
  };
}
