import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors/index.js';
import {
  createSink,
  pagerDutyDedupKey,
  type Sink,
  SinkFailedError,
  verifyWebhookSignature,
  webhookBody,
} from '../../../src/monitor/sinks/index.js';
import { type FailMode, httpReceiver, type HttpReceiver } from '../helpers/receivers.js';
import { sampleDelivery } from './payload-fixture.js';

// The HTTP sinks (signed webhook, Slack-compatible chat, PagerDuty Events API v2) against a real
// HTTP receiver on loopback: what arrives, how it is signed, and how each failure is classified.

const HMAC_SECRET = 'whsec-6f1d2c3b4a5e6f708192a3b4c5d6e7f8';
const ROUTING_KEY = 'R0UT1NG-KEY-e93f1a2b3c4d';
const URL_TOKEN = 'T0KEN-in-the-path-77a1';
const secretMap: Record<string, string> = {
  'env:HOOK_SECRET': HMAC_SECRET,
  'env:PD_KEY': ROUTING_KEY,
};
const secrets = (ref: string) => {
  const value = secretMap[ref];
  if (value === undefined) throw new Error(`no secret ${ref}`);
  return value;
};

let receiver: HttpReceiver;

beforeAll(async () => {
  receiver = await httpReceiver();
});
afterAll(async () => {
  await receiver.close();
});
beforeEach(() => {
  receiver.requests.length = 0;
  receiver.status = 200;
  receiver.beforeAnswer = undefined;
});

const webhook = (timeoutMs = 10_000, path = '/hook'): Sink =>
  createSink(
    { name: 'ops-hook', kind: 'webhook', url: `${receiver.url}${path}`, secret: 'env:HOOK_SECRET', timeoutMs },
    { secrets },
  );

async function failure(sink: Sink): Promise<SinkFailedError> {
  try {
    await sink.send(sampleDelivery());
  } catch (err) {
    if (err instanceof SinkFailedError) return err;
    throw err;
  }
  throw new Error('expected the delivery to fail');
}

describe('webhook sink', () => {
  it('delivers a signed JSON POST whose signature verifies, and a tampered body does not', async () => {
    await webhook().send(sampleDelivery());
    const [req] = receiver.requests;
    expect(req).toBeDefined();
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['idempotency-key']).toBe('42:trigger:7');
    const ts = req!.headers['x-pgwarden-timestamp'] as string;
    const sig = req!.headers['x-pgwarden-signature'] as string;
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(HMAC_SECRET, ts, req!.body, sig, { toleranceSeconds: 300 })).toBe(true);
    expect(JSON.parse(req!.body)).toMatchObject({
      action: 'trigger',
      idempotency_key: '42:trigger:7',
      alert: { id: '42' },
    });
    const tampered = req!.body.replace('"occurrences":3', '"occurrences":1');
    expect(tampered).not.toBe(req!.body);
    expect(verifyWebhookSignature(HMAC_SECRET, ts, tampered, sig)).toBe(false);
  });

  it('refuses a stale timestamp, a wrong secret and a malformed signature header', async () => {
    await webhook().send(sampleDelivery());
    const req = receiver.requests[0]!;
    const ts = req.headers['x-pgwarden-timestamp'] as string;
    const sig = req.headers['x-pgwarden-signature'] as string;
    const later = (Number(ts) + 301) * 1000;
    expect(verifyWebhookSignature(HMAC_SECRET, ts, req.body, sig, { toleranceSeconds: 300, now: later })).toBe(false);
    expect(verifyWebhookSignature(HMAC_SECRET, ts, req.body, sig, { toleranceSeconds: 300, now: later - 1000 })).toBe(
      true,
    );
    expect(verifyWebhookSignature('another-secret', ts, req.body, sig)).toBe(false);
    expect(verifyWebhookSignature(HMAC_SECRET, ts, req.body, sig.replace('v1=', 'v0='))).toBe(false);
    expect(verifyWebhookSignature(HMAC_SECRET, String(Number(ts) + 1), req.body, sig)).toBe(false);
    // During a secret rotation the header carries two signatures; either may match.
    expect(verifyWebhookSignature(HMAC_SECRET, ts, req.body, `v1=${'0'.repeat(64)}, ${sig}`)).toBe(true);
  });

  it('sends the same body and Idempotency-Key on every attempt of a delivery', async () => {
    receiver.failNext(1, 503);
    await expect(webhook().send(sampleDelivery())).rejects.toThrow(SinkFailedError);
    await webhook().send(sampleDelivery());
    const [a, b] = receiver.requests;
    expect(a!.body).toBe(b!.body);
    expect(a!.body).toBe(webhookBody(sampleDelivery()));
    expect(a!.headers['idempotency-key']).toBe(b!.headers['idempotency-key']);
  });

  it.each<[string, FailMode, boolean, number | undefined]>([
    ['HTTP 500', 500, false, 500],
    ['HTTP 503', 503, false, 503],
    ['HTTP 429', 429, false, 429],
    ['HTTP 408', 408, false, 408],
    ['a closed connection', 'close', false, undefined],
    ['HTTP 400', 400, true, 400],
    ['HTTP 401', 401, true, 401],
    ['HTTP 404', 404, true, 404],
    ['a redirect', 302, true, 302],
  ])('classifies %s', async (_what, mode, permanent, status) => {
    receiver.failNext(1, mode);
    const err = await failure(webhook());
    expect(err.code).toBe(ErrorCodes.MONITOR_SINK_FAILED);
    expect(err.permanent).toBe(permanent);
    expect(err.status).toBe(status);
  });

  it('gives up on a receiver that does not answer within the timeout, to retry later', async () => {
    receiver.failNext(1, 'hang');
    const started = Date.now();
    const err = await failure(webhook(300));
    expect(err.permanent).toBe(false);
    expect(err.message).toContain('did not answer within 300 ms');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('retries a refused connection', async () => {
    const gone = await httpReceiver();
    await gone.stop();
    const sink = createSink(
      { name: 'gone', kind: 'webhook', url: `${gone.url}/x`, secret: 'env:HOOK_SECRET' },
      { secrets },
    );
    const err = await failure(sink);
    expect(err).toMatchObject({ permanent: false });
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('names the receiver without the secret or the token of its URL', async () => {
    for (const mode of [500, 404, 'close'] as const) {
      receiver.failNext(1, mode);
      const err = await failure(webhook(10_000, `/hooks/${URL_TOKEN}?token=${URL_TOKEN}`));
      const text = JSON.stringify({ m: err.message, d: err.detail, h: err.hint, j: err.toJSON() });
      expect(text).not.toContain(URL_TOKEN);
      expect(text).not.toContain(HMAC_SECRET);
      expect(err.message).toContain(`http://127.0.0.1:${receiver.port}/…`);
    }
  });
});

describe('slack sink', () => {
  it('posts text and blocks with severity, title, summary, counts, ATT&CK and the dashboard link', async () => {
    const sink = createSink(
      { name: 'chat', kind: 'slack', url: `${receiver.url}/services/T0/B0/${URL_TOKEN}` },
      { secrets },
    );
    await sink.send(sampleDelivery('update'));
    const body = JSON.parse(receiver.requests[0]!.body) as { text: string; blocks: Array<Record<string, unknown>> };
    expect(body.text).toBe(
      '[HIGH] Brute force against one account (ongoing): 120 failed logins for alice from 203.0.113.9 within 5 min',
    );
    expect(body.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context', 'section']);
    const all = JSON.stringify(body.blocks);
    for (const part of [
      '*Severity*\\nhigh',
      '*Occurrences*\\n3',
      '*Events*\\n120',
      '*ATT&amp;CK*\\nT1110.001',
      '*Rule*\\npg-brute-force',
    ]) {
      expect(all).toContain(part);
    }
    expect(all).toContain('<https://monitor.example/alerts/42|Open in the pgwarden dashboard>');
  });

  it('escapes markup an attacker could plant in a user name', async () => {
    const sink = createSink({ name: 'chat', kind: 'slack', url: `${receiver.url}/s` }, { secrets });
    await sink.send(
      sampleDelivery('trigger', {
        summary: 'logins for <https://evil.example|click here> & more',
        group: { user: '<!channel>' },
      }),
    );
    const raw = receiver.requests[0]!.body;
    expect(raw).not.toContain('<https://evil.example');
    expect(raw).not.toContain('<!channel>');
    expect(raw).toContain('&lt;https://evil.example|click here&gt; &amp; more');
  });
});

describe('pagerduty sink', () => {
  const pd = () =>
    createSink(
      { name: 'pager', kind: 'pagerduty', routingKey: 'env:PD_KEY', url: `${receiver.url}/v2/enqueue`, source: 'db1' },
      { secrets },
    );

  it('triggers, then resolves the same incident by its dedup_key', async () => {
    receiver.status = 202;
    await pd().send(sampleDelivery('trigger'));
    await pd().send(sampleDelivery('resolve', { status: 'resolved' }));
    const [trigger, resolve] = receiver.requests.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(trigger).toMatchObject({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: pagerDutyDedupKey('42'),
      payload: {
        source: 'db1',
        severity: 'error',
        class: 'pg-brute-force',
        component: 'postgresql',
        custom_details: { alert_id: '42', occurrences: 3, event_count: 120, attack: ['T1110.001'] },
      },
      links: [{ href: 'https://monitor.example/alerts/42', text: 'pgwarden dashboard' }],
    });
    expect((trigger!.payload as { summary: string }).summary).toContain('Brute force against one account');
    expect(resolve).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: pagerDutyDedupKey('42') });
  });

  it('maps every severity to one PagerDuty knows', async () => {
    receiver.status = 202;
    for (const severity of ['critical', 'high', 'medium', 'low'] as const) {
      await pd().send(sampleDelivery('trigger', { severity }));
    }
    expect(
      receiver.requests.map((r) => (JSON.parse(r.body) as { payload: { severity: string } }).payload.severity),
    ).toEqual(['critical', 'error', 'warning', 'info']);
  });

  it('retries 429 after the time PagerDuty asks for, and drops an invalid event (400) at once', async () => {
    receiver.failNext(1, 429);
    const busy = await failure(pd());
    expect(busy).toMatchObject({ permanent: false, status: 429, retryAfterMs: 2000 });
    receiver.failNext(1, 400);
    const invalid = await failure(pd());
    expect(invalid).toMatchObject({ permanent: true, status: 400 });
    expect(JSON.stringify([busy.message, invalid.message, busy.toJSON()])).not.toContain(ROUTING_KEY);
  });
});
