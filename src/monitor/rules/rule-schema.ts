import { z } from 'zod';
import type { AlertSeverity } from '../alert-signal.js';

/** A scalar a selection compares with; `null` means "the field is absent". */
export type MatchScalar = string | number | boolean | null;

/**
 * One Sigma-like selection: every key must hold (AND); a list value holds when any element does
 * (OR). A key is `<field>[|modifier…]`; see {@link Rule} for fields and modifiers.
 */
export type Selection = Readonly<Record<string, MatchScalar | readonly MatchScalar[]>>;

/**
 * A validated detection rule, as typed data. Rules are written in YAML (one rule, a list, or
 * several `---` documents per file); the YAML keys are the snake_case forms of these names.
 *
 * ```yaml
 * id: pg-brute-force                 # ^[a-z0-9][a-z0-9_.-]*$, unique
 * title: Brute force against one account from one address
 * description: …                     # optional
 * severity: high                     # low | medium | high | critical
 * attack: [T1110.001]                # MITRE ATT&CK technique ids
 * match:                             # one selection, or a list of them (any may match)
 *   type: [auth.login_failed, pg.auth_failed]
 *   fields.reason|not: [mfa_needs_service]
 * exclude: { … }                     # optional: events matching this never count
 * group_by: [user??fields.account, addr]
 * window: 5m                         # <n>s | <n>m | <n>h | <n>d, or seconds as a number
 * threshold: { count: 10, distinct: { addr: 3 }, sum: { fields.rows: 100000 } }
 * after:                             # optional sequence, see RuleAfter
 *   match: { type: auth.login_failed }
 *   count: 5
 * suppress: 1h                       # default 1h
 * summary: '{count} failed logins for {user} from {addr} within {window}'
 * details_fields: [fields.score]     # copied from the firing event into the alert details
 * enabled: true
 * ```
 *
 * **Fields**: the MonitorEvent properties `id source type severity user dbUser database addr
 * addrBlock application tenant sqlstate message statement occurredAt`, any `fields.<name>`, and
 * `any` (every text of the event: message, statement, user, application and each string in
 * `fields`). In `group_by`, `threshold.distinct` and `after.group_by` a field may name fallbacks,
 * `user??fields.account`: the first one present is used. `user` and `dbUser` values are grouped and
 * counted normalised (normaliseUser). `statement`, `message`, `any` and fields that may hold
 * secrets (`fields.query`, `…password…`, `…token…`, `…secret…`, `fields.parameters`) cannot be
 * grouped on or copied into details, so no alert carries them.
 *
 * **Modifiers**: `contains startswith endswith` (case-insensitive unless `cased`), `re` (a
 * JavaScript regular expression, case-sensitive unless it starts with `(?i)`), `gte gt lte lt`
 * (numbers), `cidr` (IPv4/IPv6 blocks; non-addresses never match), `exists` (true/false),
 * `fieldref` (equal to another field of the event), `all` (every list value must hold), `decoded`
 * (URL-, HTML- and Unicode-quote-decode the value first), `sql` (SQL comments, `/* … *\/` nested
 * and `-- …`, read as one space as the server reads them, string literals left alone:
 * `drop/*x*\/policy` is `drop policy`), `not` (negates the key). Plain equality is
 * case-insensitive unless `cased`; `null` matches an absent field. Text longer than 64 KiB is
 * compared on its first 64 KiB.
 *
 * **Threshold** (all must hold, over the events of one group received within `window`): `count`
 * (default 1), `distinct` (distinct values of a field ≥ n), `sum` (sum of a numeric field ≥ n; kept
 * in 16 slots per window, so it may count up to one slot more than the window).
 *
 * @example
 * const text = 'id: x\ntitle: X\nseverity: low\nattack: [T1078]\nmatch: { type: auth.user_enabled }\n';
 * const rules = parseRules(text, 'x.yml');
 * rules[0]?.windowMs; // 300000
 */
export interface Rule {
  id: string;
  title: string;
  description: string;
  severity: AlertSeverity;
  attack: readonly string[];
  /** Any of these selections matches (a single YAML mapping is a list of one). */
  match: readonly Selection[];
  /** An event matching any of these never counts, even when `match` holds. */
  exclude: readonly Selection[];
  groupBy: readonly string[];
  /** The window as written (`5m`), and in milliseconds. */
  window: string;
  windowMs: number;
  threshold: RuleThreshold;
  after?: RuleAfter;
  /** How long a live incident is not notified again, as written and in seconds. */
  suppress: string;
  suppressSeconds: number;
  enabled: boolean;
  /**
   * Template of the alert summary: `{count}`, `{window}`, `{title}`, each group-by field by its
   * first name (`{user}`) or whole spec (`{user??fields.account}`), `{distinct.<field>}` and
   * `{sum.<field>}`. Only group values and numbers can appear, never a statement.
   */
  summary?: string;
  detailsFields: readonly string[];
  references: readonly string[];
  falsePositives: readonly string[];
  /** Where the rule came from: a file path, or `builtin:<file>`. */
  origin: string;
}

/** What a group must reach within the window to fire. */
export interface RuleThreshold {
  count: number;
  distinct: Readonly<Record<string, number>>;
  sum: Readonly<Record<string, number>>;
}

/**
 * A sequence condition: an event matching the rule's `match` counts only when, within `window`
 * (default the rule's) before it, the `group_by` group (default the rule's) had at least `count`
 * events matching `after.match`, with at least `distinct` distinct values where given. Example:
 * five failed logins, then a success, for one account.
 */
export interface RuleAfter {
  match: readonly Selection[];
  groupBy?: readonly string[];
  window?: string;
  windowMs?: number;
  count: number;
  distinct: Readonly<Record<string, number>>;
}

const durationUnits: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds of a duration written `30s`, `5m`, `1h`, `2d`, or a number of seconds; NaN when
 * it is neither.
 *
 * @example
 * durationMs('5m'); // 300000
 */
export function durationMs(value: string | number): number {
  if (typeof value === 'number') return Math.round(value * 1000);
  const m = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(value.trim());
  if (!m) return Number.NaN;
  return Math.round(Number(m[1]) * (durationUnits[m[2] ?? ''] ?? Number.NaN));
}

/**
 * A duration as a person reads it: `30 s`, `5 min`, `2 h`, `1 d`.
 *
 * @example
 * humanDuration(300000); // '5 min'
 */
export function humanDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.max(1, Math.round(ms / 1000))} s`;
}

const duration = z.union([z.string(), z.number()]).refine((v) => {
  const ms = durationMs(v);
  return Number.isFinite(ms) && ms >= 1000 && ms <= 90 * 86_400_000;
}, 'expected a duration between 1s and 90d, such as 30s, 5m, 1h or 2d');

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const selection = z.record(z.string().min(1), z.union([scalar, z.array(scalar).min(1)]));
const selections = z.union([selection, z.array(selection).min(1)]);
const fieldList = z.array(z.string().min(1));
const positiveCounts = z.record(z.string().min(1), z.number().int().positive());

/** The YAML form of the threshold. */
export const thresholdSchema = z.strictObject({
  count: z.number().int().positive().optional(),
  distinct: positiveCounts.optional(),
  sum: z.record(z.string().min(1), z.number().positive()).optional(),
});

const afterSchema = z.strictObject({
  match: selections,
  group_by: fieldList.optional(),
  window: duration.optional(),
  count: z.number().int().positive().optional(),
  distinct: positiveCounts.optional(),
});

/** The YAML form of one rule; unknown keys are refused so a typo never silently disables a check. */
export const ruleDocumentSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected lower case letters, digits, ".", "_" or "-"'),
  title: z.string().min(1).max(200),
  description: z.string().optional(),
  severity: z.enum(['low', 'medium', 'high', 'critical']),
  attack: z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/, 'expected a MITRE ATT&CK id such as T1110.001')).min(1),
  match: selections,
  exclude: selections.optional(),
  group_by: fieldList.optional(),
  window: duration.optional(),
  threshold: thresholdSchema.optional(),
  after: afterSchema.optional(),
  suppress: duration.optional(),
  enabled: z.boolean().optional(),
  summary: z.string().min(1).max(300).optional(),
  details_fields: fieldList.optional(),
  references: z.array(z.string()).optional(),
  false_positives: z.array(z.string()).optional(),
});

/** A rule as written in YAML, after schema validation. */
export type RuleDocument = z.infer<typeof ruleDocumentSchema>;

/** The per-rule settings `loadRules` may override. */
export const ruleOverrideSchema = z.strictObject({
  threshold: thresholdSchema.optional(),
  window: duration.optional(),
  severity: z.enum(['low', 'medium', 'high', 'critical']).optional(),
  suppress: duration.optional(),
  enabled: z.boolean().optional(),
});

/** Settings that replace a rule's own (threshold keys are merged one by one). */
export type RuleOverride = z.infer<typeof ruleOverrideSchema>;
