import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors/index.js';
import { createSink } from '../../../src/monitor/sinks/index.js';
import { caught } from '../../helpers/errors.js';

// createSink validates sink configuration into data (PW604) and resolves secret references; its
// errors name the field, never a value.

const secrets = (ref: string) => {
  if (ref === 'env:OK') return 'resolved-secret-value-123';
  if (ref === 'env:EMPTY') return '';
  if (ref === 'env:SLACK_URL') return 'https://hooks.slack.com/services/T0/B0/tok';
  throw new Error(`cannot resolve ${ref}`);
};
const invalid = (config: unknown) => caught(() => createSink(config, { secrets }));

describe('createSink', () => {
  it('builds each kind from a valid configuration', () => {
    const sinks = [
      { name: 'hook', kind: 'webhook', url: 'https://hooks.example/x', secret: 'env:OK' },
      { name: 'chat', kind: 'slack', url: 'env:SLACK_URL' },
      {
        name: 'mail',
        kind: 'smtp',
        host: 'smtp.example',
        username: 'u',
        password: 'env:OK',
        from: 'a@example.com',
        to: ['b@example.com'],
      },
      { name: 'siem', kind: 'syslog', host: 'siem.example', transport: 'tls' },
      { name: 'pd', kind: 'pagerduty', routingKey: 'env:OK' },
    ].map((c) => createSink(c, { secrets }));
    expect(sinks.map((s) => [s.name, s.kind, s.supportsLifecycle])).toEqual([
      ['hook', 'webhook', true],
      ['chat', 'slack', false],
      ['mail', 'smtp', false],
      ['siem', 'syslog', false],
      ['pd', 'pagerduty', true],
    ]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown kind', { name: 'x', kind: 'carrier-pigeon' }, 'invalid configuration'],
    ['a bad name', { name: 'Bad Name', kind: 'syslog', host: 'h', transport: 'udp' }, 'name'],
    ['a missing secret', { name: 'hook', kind: 'webhook', url: 'https://h.example/x' }, 'secret'],
    ['an unknown field', { name: 'siem', kind: 'syslog', host: 'h', transport: 'udp', pasword: 'x' }, 'pasword'],
    ['a URL that is not one', { name: 'hook', kind: 'webhook', url: 'https://', secret: 'env:OK' }, 'url is not a URL'],
    ['another scheme', { name: 'hook', kind: 'webhook', url: 'env:OK', secret: 'env:OK' }, 'url is not a URL'],
    [
      'plain http to another host',
      { name: 'hook', kind: 'webhook', url: 'http://hooks.example/x', secret: 'env:OK' },
      'plain http',
    ],
    [
      'SMTP credentials without TLS',
      {
        name: 'mail',
        kind: 'smtp',
        host: 'h',
        tls: 'none',
        username: 'u',
        password: 'env:OK',
        from: 'a@example.com',
        to: ['b@example.com'],
      },
      'unencrypted',
    ],
    [
      'a user without a password',
      { name: 'mail', kind: 'smtp', host: 'h', username: 'u', from: 'a@example.com', to: ['b@example.com'] },
      'go together',
    ],
    [
      'a bad recipient',
      { name: 'mail', kind: 'smtp', host: 'h', from: 'a@example.com', to: ['not an address'] },
      'to.0',
    ],
    [
      'an unreadable CA file',
      { name: 'siem', kind: 'syslog', host: 'h', transport: 'tls', caFile: '/nonexistent/ca.pem' },
      'caFile',
    ],
    [
      'an unresolvable reference',
      { name: 'pd', kind: 'pagerduty', routingKey: 'env:MISSING' },
      'routingKey could not be resolved',
    ],
    ['an empty secret', { name: 'pd', kind: 'pagerduty', routingKey: 'env:EMPTY' }, 'routingKey is empty'],
  ])('refuses %s (PW604)', (_what, config, words) => {
    const err = invalid(config);
    expect(err.code).toBe(ErrorCodes.MONITOR_SINK_INVALID);
    expect(`${err.message}\n${err.detail ?? ''}`).toContain(words);
  });

  it('allows plain http to loopback, or elsewhere when allowHttp says so', () => {
    expect(
      createSink({ name: 'h', kind: 'webhook', url: 'http://127.0.0.1:9/x', secret: 'env:OK' }, { secrets }).kind,
    ).toBe('webhook');
    expect(
      createSink({ name: 'h', kind: 'slack', url: 'http://chat.internal/x', allowHttp: true }, { secrets }).kind,
    ).toBe('slack');
  });

  it('never echoes a secret pasted where a reference belongs', () => {
    const pasted = 'sk_live_PASTED-secret-0f9e8d';
    const err = invalid({ name: 'hook', kind: 'webhook', url: 'https://h.example/x', secret: pasted });
    expect(JSON.stringify([err.message, err.detail, err.hint, String(err.cause)])).not.toContain(pasted);
  });
});
