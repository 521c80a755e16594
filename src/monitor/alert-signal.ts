/**
 * What the rule engine (and the behaviour analytics) hand to the alert store: one incident, or
 * more of one already raised. The contract between detection and alerting.
 */

/** Alert severity (a rule's), ordered low < medium < high < critical. */
export type AlertSeverity = 'low' | 'medium' | 'high' | 'critical';

/** The parts of a rule an alert carries. */
export interface AlertRuleRef {
  /** Stable rule id, e.g. `pg-brute-force` (lower case, digits, `.`, `_`, `-`). */
  id: string;
  title: string;
  severity: AlertSeverity;
  /** MITRE ATT&CK technique ids, e.g. `['T1110.001']`. */
  attack: readonly string[];
  /** Seconds during which a live incident is not sent again (its counter still grows). */
  suppressSeconds: number;
}

/**
 * One detection. `kind: 'fire'` when a group crosses the rule's threshold (a new incident);
 * `kind: 'update'` when more events of an incident already fired arrived (sent at most once per
 * flush interval, so an attack of 1 000 events is one alert with a counter of 1 000).
 *
 * @example
 * const s: AlertSignal = {
 *   kind: 'fire', rule: { id: 'pg-brute-force', title: 'Brute force', severity: 'high',
 *   attack: ['T1110.001'], suppressSeconds: 3600 }, dedupeKey: 'pg-brute-force|user=alice|addr=203.0.113.9',
 *   group: { user: 'alice', addr: '203.0.113.9' }, eventCount: 10, firstSeen: t0, lastSeen: t1,
 *   eventIds: ['sec:1', 'sec:2'], summary: '10 failed logins for alice from 203.0.113.9 within 5 min',
 * };
 */
export interface AlertSignal {
  kind: 'fire' | 'update';
  rule: AlertRuleRef;
  /** `<rule id>|<field>=<value>|…` over the group-by fields in rule order: one incident, one key. */
  dedupeKey: string;
  /** The group-by values of the incident. Never a password, token or decrypted value. */
  group: Readonly<Record<string, string>>;
  /** Events counted: for 'fire', those in the window at the crossing; for 'update', the new ones. */
  eventCount: number;
  /** Receive times (ms since the epoch) of the first and the last counted event. */
  firstSeen: number;
  lastSeen: number;
  /** Ids of evidence events (MonitorEvent.id), oldest first, capped (at most 50 per signal). */
  eventIds: readonly string[];
  /** One line a person reads: what, who, from where, how many, over what window. */
  summary: string;
  /** Extra facts for the alert (threshold, window, distinct counts, risk reasons …), JSON-safe. */
  details?: Readonly<Record<string, unknown>>;
}
