import type { MonitorEvent, UntimedEvent } from '../event.js';
import type { RankedReason } from './risk.js';

/**
 * The `ueba.anomaly` event raised when a user's risk score reaches the threshold. A rule turns it
 * into an alert; `fields.reason` is the reason contributing most, `fields.reasons` every reason
 * still contributing, largest first. The receive time is left to the pipeline to stamp.
 *
 * @example
 * const e = anomalyEvent('alice', trigger, 75, ranked);
 * e.id; // 'ueba:alice:1718000000000'
 */
export function anomalyEvent(
  user: string,
  trigger: MonitorEvent,
  score: number,
  ranked: readonly RankedReason[],
): UntimedEvent {
  const top = ranked[0];
  const codes = [...new Set(ranked.map((r) => r.code))];
  const event: UntimedEvent = {
    id: `ueba:${user}:${trigger.time}`,
    source: 'monitor',
    type: 'ueba.anomaly',
    occurredAt: trigger.time,
    severity: 'warning',
    user,
    message: `risk score ${score} for ${user}${top ? `: ${top.explanation}` : ''}`,
    fields: { score, reason: top?.code ?? 'unknown', reasons: codes.join(',') },
  };
  // Absent, not empty, when the triggering event did not carry them (the event contract).
  if (trigger.addr !== undefined) event.addr = trigger.addr;
  if (trigger.addrBlock !== undefined) event.addrBlock = trigger.addrBlock;
  if (trigger.dbUser !== undefined) event.dbUser = trigger.dbUser;
  if (trigger.database !== undefined) event.database = trigger.database;
  if (trigger.tenant !== undefined) event.tenant = trigger.tenant;
  return event;
}
