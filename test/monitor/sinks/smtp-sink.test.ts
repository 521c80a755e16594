import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSink, type Sink, SinkFailedError } from '../../../src/monitor/sinks/index.js';
import { selfSignedCert, smtpReceiver } from '../helpers/receivers.js';
import { sampleDelivery } from './payload-fixture.js';

// The SMTP sink (pgwarden's own client) against smtp-server on loopback: STARTTLS with a
// certificate verified against a CA file, AUTH PLAIN and LOGIN, implicit TLS, the RFC 5322
// message it writes, and the failures it refuses to paper over.

const SMTP_PASSWORD = 'smtp-Pa55-word-d41d8c';
const secrets = (ref: string) => {
  if (ref === 'env:SMTP_PASSWORD') return SMTP_PASSWORD;
  if (ref === 'env:WRONG') return 'not-the-password-0000';
  throw new Error(`no secret ${ref}`);
};

let cert: ReturnType<typeof selfSignedCert>;
beforeAll(() => {
  cert = selfSignedCert();
});
afterAll(() => cert.remove());

function mailSink(port: number, extra: Record<string, unknown> = {}): Sink {
  return createSink(
    {
      name: 'mail',
      kind: 'smtp',
      host: '127.0.0.1',
      port,
      caFile: cert.caFile,
      username: 'alerts',
      password: 'env:SMTP_PASSWORD',
      from: 'pgwarden@example.com',
      to: ['security@example.com', 'oncall@example.com'],
      heloName: 'db1.example.com',
      timeoutMs: 10_000,
      ...extra,
    },
    { secrets, clock: () => Date.UTC(2025, 0, 1, 9, 30, 0) },
  );
}

/** Headers (unfolded, by lower-case name) and the decoded body of a raw message. */
function parseMail(raw: string): { headers: Record<string, string>; body: string } {
  const at = raw.indexOf('\r\n\r\n');
  const headers: Record<string, string> = {};
  for (const line of raw
    .slice(0, at)
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const content = raw.slice(at + 4);
  const body =
    headers['content-transfer-encoding'] === 'base64'
      ? Buffer.from(content.replace(/\s+/g, ''), 'base64').toString('utf8')
      : content;
  return { headers, body };
}

const decodeWords = (v: string) =>
  v.replace(/=\?UTF-8\?B\?([^?]*)\?=\s*/g, (_m, b64: string) => Buffer.from(b64, 'base64').toString('utf8'));

async function failure(p: Promise<void>): Promise<SinkFailedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SinkFailedError) return err;
    throw err;
  }
  throw new Error('expected the delivery to fail');
}

describe('smtp sink', () => {
  it('delivers over STARTTLS with AUTH PLAIN: subject, Message-ID from the idempotency key, no secret', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD });
    try {
      await mailSink(server.port).send(sampleDelivery());
      expect(server.messages).toHaveLength(1);
      const mail = server.messages[0]!;
      expect(mail).toMatchObject({ secure: true, user: 'alerts', from: 'pgwarden@example.com' });
      expect(mail.to).toEqual(['security@example.com', 'oncall@example.com']);
      const { headers, body } = parseMail(mail.raw);
      expect(headers.subject).toBe('[pgwarden] [HIGH] Brute force against one account (new)');
      expect(headers['message-id']).toBe('<pgwarden.42.trigger.7@example.com>');
      expect(headers.date).toBe('Wed, 01 Jan 2025 09:30:00 +0000');
      expect(headers['auto-submitted']).toBe('auto-generated');
      expect(body).toContain('120 failed logins for alice from 203.0.113.9 within 5 min');
      expect(body).toContain('T1110.001');
      expect(body).toContain('https://monitor.example/alerts/42');
      expect(mail.raw).not.toContain(SMTP_PASSWORD);
    } finally {
      await server.close();
    }
  });

  it('logs in with AUTH LOGIN when the server offers only that', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD, authMethods: ['LOGIN'] });
    try {
      await mailSink(server.port).send(sampleDelivery('resolve', { status: 'resolved' }));
      expect(server.messages[0]).toMatchObject({ user: 'alerts', secure: true });
      expect(parseMail(server.messages[0]!.raw).headers.subject).toBe(
        '[pgwarden] [HIGH] Brute force against one account (resolved)',
      );
    } finally {
      await server.close();
    }
  });

  it('delivers over implicit TLS', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD, implicitTls: true });
    try {
      await mailSink(server.port, { tls: 'implicit' }).send(sampleDelivery());
      expect(server.messages[0]).toMatchObject({ secure: true, user: 'alerts' });
    } finally {
      await server.close();
    }
  });

  it('dot-stuffs lines that start with a dot, so a lone "." does not end the message early', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD });
    try {
      await mailSink(server.port).send(sampleDelivery('trigger', { summary: '.', details: { note: '.hidden line' } }));
      const { body } = parseMail(server.messages[0]!.raw);
      expect(body.split('\r\n')).toContain('.');
      expect(body).toContain('  note: .hidden line');
      expect(body).toContain('Sent by the pgwarden security monitor.');
    } finally {
      await server.close();
    }
  });

  it('keeps an event from planting headers, and encodes a non-ASCII subject', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD });
    try {
      await mailSink(server.port).send(
        sampleDelivery('trigger', { title: 'Überprüfung\r\nBcc: attacker@evil.example' }),
      );
      const { headers } = parseMail(server.messages[0]!.raw);
      expect(headers.bcc).toBeUndefined();
      expect(decodeWords(headers.subject!)).toBe('[pgwarden] [HIGH] Überprüfung  Bcc: attacker@evil.example (new)');
    } finally {
      await server.close();
    }
  });

  it('refuses a server whose certificate it cannot verify, before sending credentials', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD });
    try {
      const sink = createSink(
        {
          name: 'mail',
          kind: 'smtp',
          host: '127.0.0.1',
          port: server.port,
          username: 'alerts',
          password: 'env:SMTP_PASSWORD',
          from: 'a@example.com',
          to: ['b@example.com'],
        },
        { secrets },
      );
      const err = await failure(sink.send(sampleDelivery()));
      expect(err.message).toMatch(/TLS handshake failed \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/);
      expect(server.messages).toHaveLength(0);
      expect(server.failedLogins).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('refuses a server that does not offer STARTTLS (permanent), sending no password in clear', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD, hideStartTls: true });
    try {
      const err = await failure(mailSink(server.port).send(sampleDelivery()));
      expect(err.permanent).toBe(true);
      expect(err.message).toContain('does not offer STARTTLS');
      expect(server.messages).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('reports a rejected login as permanent (535) without the password', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD });
    try {
      const err = await failure(mailSink(server.port, { password: 'env:WRONG' }).send(sampleDelivery()));
      expect(err).toMatchObject({ permanent: true, status: 535 });
      expect(err.message).toContain('refused AUTH: 535');
      const text = JSON.stringify([err.message, err.toJSON()]);
      expect(text).not.toContain('not-the-password-0000');
      expect(text).not.toContain(SMTP_PASSWORD);
      expect(server.failedLogins).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('retries a refused connection and a server that stops answering', async () => {
    const server = await smtpReceiver({ cert, username: 'alerts', password: SMTP_PASSWORD });
    const port = server.port;
    await server.close();
    const refused = await failure(mailSink(port).send(sampleDelivery()));
    expect(refused.permanent).toBe(false);
    expect(refused.message).toContain('ECONNREFUSED');
    const { createServer } = await import('node:net');
    const silent = createServer(() => undefined); // accepts, never greets
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const silentPort = (silent.address() as { port: number }).port;
      const err = await failure(mailSink(silentPort, { timeoutMs: 300 }).send(sampleDelivery()));
      expect(err).toMatchObject({ permanent: false });
      expect(err.message).toContain('failed during greeting (ETIMEDOUT)');
    } finally {
      silent.close();
    }
  });
});
