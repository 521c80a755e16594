import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { CheckResult, ReportedFinding, Suppression } from './types.js';

const entry = z
  .object({
    /** Check id, e.g. CIS-4.3. */
    check: z.string().min(1),
    /** The finding's object; absent: every finding of the check. */
    object: z.string().min(1).optional(),
    /** Or the finding's fingerprint (as printed in JSON and SARIF output). */
    fingerprint: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .optional(),
    reason: z.string().trim().min(3, 'say why the finding is accepted'),
    /** YYYY-MM-DD: the entry stops applying after this day (UTC). */
    expires: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
      .optional(),
  })
  .strict();

const baselineSchema = z
  .object({
    version: z.literal(1).default(1),
    /** Known findings accepted as they are (written by `pgwarden check --write-baseline`). */
    accepted: z.array(entry).default([]),
    /** Exceptions granted for a time: reason and expiry required. */
    waivers: z.array(entry.required({ expires: true })).default([]),
  })
  .strict();

/** A parsed baseline file. */
export type Baseline = z.infer<typeof baselineSchema>;
export type BaselineEntry = z.infer<typeof entry>;

/**
 * Parses a baseline file's text (YAML or JSON). Throws PW500 naming each bad key.
 *
 * @example
 * parseBaseline('waivers:\n  - { check: CIS-4.3, object: role dba2, reason: "second DBA", expires: 2027-03-31 }', 'b.yaml');
 */
export function parseBaseline(text: string, source: string): Baseline {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new PgwardenError(
      ErrorCodes.CHECK_BASELINE_INVALID,
      `The baseline file ${source} is not valid YAML or JSON`,
      {
        detail: (err as Error).message.split('\n')[0],
      },
    );
  }
  const result = baselineSchema.safeParse(raw);
  if (!result.success) {
    throw new PgwardenError(ErrorCodes.CHECK_BASELINE_INVALID, `The baseline file ${source} is invalid`, {
      detail: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('\n'),
      hint: 'each entry needs check and reason; waivers also need expires: YYYY-MM-DD',
    });
  }
  return result.data;
}

/** Reads and parses a baseline file (PW500 when unreadable or invalid). */
export async function readBaseline(path: string): Promise<Baseline> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PgwardenError(ErrorCodes.CHECK_BASELINE_INVALID, `The baseline file ${path} cannot be read`, {
      detail: (err as NodeJS.ErrnoException).code ?? String(err),
    });
  }
  return parseBaseline(text, path);
}

const matches = (e: BaselineEntry, f: ReportedFinding) =>
  e.check === f.checkId &&
  (e.fingerprint === undefined || e.fingerprint === f.fingerprint) &&
  (e.object === undefined || e.object === f.object);

/** Whether an entry's expiry day (UTC, inclusive) is over at `now`. */
export const isExpired = (e: BaselineEntry, now: Date): boolean =>
  e.expires !== undefined && now.getTime() >= Date.parse(`${e.expires}T00:00:00Z`) + 86_400_000;

/**
 * Marks findings the baseline accepts (in place) and returns notes about the baseline itself:
 * expired waivers (which no longer apply) and entries naming checks this version does not have.
 *
 * @example
 * const notes = applyBaseline(report.results, baseline, new Date());
 */
export function applyBaseline(results: CheckResult[], baseline: Baseline, now: Date): string[] {
  const notes: string[] = [];
  const known = new Set(results.map((r) => r.id));
  const all = [
    ...baseline.accepted.map((e) => ({ e, kind: 'baseline' as const })),
    ...baseline.waivers.map((e) => ({ e, kind: 'waiver' as const })),
  ];
  for (const { e, kind } of all) {
    if (!known.has(e.check)) notes.push(`baseline ${kind} for ${e.check} names a check this scan did not run`);
    else if (isExpired(e, now)) {
      notes.push(
        `${kind} for ${e.check}${e.object ? ` on ${e.object}` : ''} expired on ${e.expires}: it no longer applies`,
      );
    }
  }
  const live = all.filter(({ e }) => !isExpired(e, now));
  for (const result of results) {
    for (const finding of result.findings) {
      const hit = live.find(({ e }) => matches(e, finding));
      if (!hit) continue;
      const suppression: Suppression = { kind: hit.kind, reason: hit.e.reason };
      if (hit.e.expires) suppression.expires = hit.e.expires;
      finding.suppressed = suppression;
    }
  }
  return notes;
}

/**
 * A baseline accepting every open finding of a report (what `--write-baseline` writes).
 *
 * @example
 * await writeFile('pgwarden-baseline.yaml', stringifyYaml(baselineFrom(report.results, 'accepted at adoption')));
 */
export function baselineFrom(results: readonly CheckResult[], reason: string): Baseline {
  const accepted: BaselineEntry[] = [];
  for (const r of results) {
    for (const f of r.findings) {
      if (f.suppressed) continue;
      accepted.push({ check: f.checkId, ...(f.object ? { object: f.object } : {}), reason });
    }
  }
  return { version: 1, accepted, waivers: [] };
}
