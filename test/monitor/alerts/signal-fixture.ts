import type { AlertRuleRef, AlertSignal } from '../../../src/monitor/alert-signal.js';

/** The brute-force rule of the alert tests (1 h suppression unless a test says otherwise). */
export const bruteForce: AlertRuleRef = {
  id: 'pg-brute-force',
  title: 'Brute force against one account',
  severity: 'high',
  attack: ['T1110.001'],
  suppressSeconds: 3600,
};

/** A signal for `user` from `addr` (a fire unless `kind` says otherwise). */
export function signal(overrides: Partial<AlertSignal> & { user?: string; addr?: string } = {}): AlertSignal {
  const { user = 'alice', addr = '203.0.113.9', ...rest } = overrides;
  const t0 = Date.UTC(2025, 0, 1, 9, 0, 0);
  return {
    kind: 'fire',
    rule: bruteForce,
    dedupeKey: `pg-brute-force|user=${user}|addr=${addr}`,
    group: { user, addr },
    eventCount: 10,
    firstSeen: t0,
    lastSeen: t0 + 60_000,
    eventIds: Array.from({ length: 10 }, (_, i) => `sec:${i + 1}`),
    summary: `10 failed logins for ${user} from ${addr} within 5 min`,
    details: { threshold: 10, windowSeconds: 300 },
    ...rest,
  };
}
