import type { AlertPayload, DeliveryAction } from '../../../src/monitor/alerts/index.js';
import type { SinkDelivery } from '../../../src/monitor/sinks/index.js';

/** An alert payload as the store would queue it. */
export function samplePayload(overrides: Partial<AlertPayload> = {}): AlertPayload {
  return {
    id: '42',
    dedupe_key: 'pg-brute-force|user=alice|addr=203.0.113.9',
    rule: 'pg-brute-force',
    title: 'Brute force against one account',
    severity: 'high',
    attack: ['T1110.001'],
    status: 'open',
    occurrences: 3,
    event_count: 120,
    first_seen: '2025-01-01T09:00:00.000Z',
    last_seen: '2025-01-01T09:05:00.000Z',
    group: { user: 'alice', addr: '203.0.113.9' },
    summary: '120 failed logins for alice from 203.0.113.9 within 5 min',
    evidence: ['sec:1', 'sec:2', 'sec:3'],
    details: { threshold: 10, windowSeconds: 300 },
    dashboard_url: 'https://monitor.example/alerts/42',
    ...overrides,
  };
}

/** A delivery of `samplePayload()`. */
export function sampleDelivery(
  action: DeliveryAction = 'trigger',
  overrides: Partial<AlertPayload> = {},
): SinkDelivery {
  return { action, payload: samplePayload(overrides), idempotencyKey: `42:${action}:7` };
}
