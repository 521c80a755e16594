import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSink, SinkFailedError } from '../../../src/monitor/sinks/index.js';
import {
  parseRfc5424,
  selfSignedCert,
  syslogStreamListener,
  syslogUdpListener,
  waitUntil,
} from '../helpers/receivers.js';
import { sampleDelivery } from './payload-fixture.js';

// The syslog sink over real UDP, TCP and TLS listeners: each received message is parsed as
// RFC 5424 (strictly) and checked field by field.

let cert: ReturnType<typeof selfSignedCert>;
beforeAll(() => {
  cert = selfSignedCert();
});
afterAll(() => cert.remove());

const secrets = () => {
  throw new Error('no secrets here');
};
const NOW = Date.UTC(2025, 0, 1, 9, 30, 0, 123);

function expectAlertMessage(line: string, pri: number) {
  const m = parseRfc5424(line);
  expect(m).toMatchObject({
    pri,
    version: 1,
    timestamp: '2025-01-01T09:30:00.123Z',
    hostname: 'db1.example.com',
    appName: 'pgwarden',
    procId: '-',
    msgId: 'pg-brute-force',
  });
  expect(m.sd['pgwarden@32473']).toMatchObject({
    alert_id: '42',
    action: 'trigger',
    severity: 'high',
    attack: 'T1110.001',
    occurrences: '3',
    event_count: '120',
    idempotency_key: '42:trigger:7',
    'group.user': 'alice',
    'group.addr': '203.0.113.9',
  });
  expect(m.msg).toBe(
    'Brute force against one account (new): 120 failed logins for alice from 203.0.113.9 within 5 min',
  );
}

describe('syslog sink', () => {
  it('sends one RFC 5424 datagram over UDP, authpriv by default', async () => {
    const listener = await syslogUdpListener();
    try {
      const sink = createSink(
        {
          name: 'siem',
          kind: 'syslog',
          host: '127.0.0.1',
          port: listener.port,
          transport: 'udp',
          hostname: 'db1.example.com',
        },
        { secrets, clock: () => NOW },
      );
      await sink.send(sampleDelivery());
      await waitUntil(() => listener.messages.length === 1, 10_000, 'a datagram');
      expectAlertMessage(listener.messages[0]!, 10 * 8 + 3); // authpriv.err
    } finally {
      await listener.close();
    }
  });

  it('sends octet-counted frames over TCP with the configured facility', async () => {
    const listener = await syslogStreamListener();
    try {
      const sink = createSink(
        {
          name: 'siem',
          kind: 'syslog',
          host: '127.0.0.1',
          port: listener.port,
          transport: 'tcp',
          facility: 'local0',
          hostname: 'db1.example.com',
        },
        { secrets, clock: () => NOW },
      );
      await sink.send(sampleDelivery());
      await sink.send(sampleDelivery('trigger', { severity: 'critical', summary: 'line one\nline two ] "quoted"' }));
      await waitUntil(() => listener.messages.length === 2, 10_000, 'two frames');
      expectAlertMessage(listener.messages[0]!, 16 * 8 + 3);
      const second = parseRfc5424(listener.messages[1]!);
      expect(second.pri).toBe(16 * 8 + 2);
      expect(second.msg).toBe('Brute force against one account (new): line one line two ] "quoted"');
    } finally {
      await listener.close();
    }
  });

  it('sends over TLS to a collector whose certificate the CA file signed', async () => {
    const listener = await syslogStreamListener({ key: cert.key, cert: cert.cert });
    try {
      const sink = createSink(
        {
          name: 'siem',
          kind: 'syslog',
          host: '127.0.0.1',
          port: listener.port,
          transport: 'tls',
          caFile: cert.caFile,
          hostname: 'db1.example.com',
        },
        { secrets, clock: () => NOW },
      );
      await sink.send(sampleDelivery());
      await sink.send(sampleDelivery('resolve', { status: 'resolved' }));
      await waitUntil(() => listener.messages.length === 2, 10_000, 'two TLS frames');
      expectAlertMessage(listener.messages[0]!, 10 * 8 + 3);
      const resolved = parseRfc5424(listener.messages[1]!);
      expect(resolved.pri).toBe(10 * 8 + 6); // lifecycle notices are informational
      expect(resolved.sd['pgwarden@32473']).toMatchObject({ action: 'resolve', status: 'resolved' });
    } finally {
      await listener.close();
    }
  });

  it('fails (to retry) when the TLS collector cannot be verified or is down', async () => {
    const listener = await syslogStreamListener({ key: cert.key, cert: cert.cert });
    const port = listener.port;
    try {
      const untrusted = createSink(
        { name: 'siem', kind: 'syslog', host: '127.0.0.1', port, transport: 'tls' },
        { secrets },
      );
      const err = await untrusted.send(sampleDelivery()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SinkFailedError);
      expect((err as SinkFailedError).permanent).toBe(false);
      expect(listener.messages).toHaveLength(0);
    } finally {
      await listener.close();
    }
    const down = createSink({ name: 'siem', kind: 'syslog', host: '127.0.0.1', port, transport: 'tcp' }, { secrets });
    const err = await down.send(sampleDelivery()).catch((e: unknown) => e);
    expect((err as SinkFailedError).message).toContain('ECONNREFUSED');
  });
});
