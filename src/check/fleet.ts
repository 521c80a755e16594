import { wrapPgError } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { allChecks } from './checks/index.js';
import type { FleetTarget } from './fleet-file.js';
import { visible } from './format/shared.js';
import { redactSecrets } from './redact.js';

export {
  type FleetFile,
  type FleetScanOverrides,
  type FleetTarget,
  parseFleet,
  parseTargets,
  readFleet,
  readTargets,
} from './fleet-file.js';
import { scanDatabase, type ScanOptions, selectChecks } from './run-scan.js';
import type { ScanReport } from './types.js';

/** Why a target has no report: a stable code (PW110 unreachable, PW111 login refused, PW112 no database, …). */
export interface FleetError {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** One target's outcome, in the targets' order. */
export interface FleetResult {
  target: string;
  report?: ScanReport;
  error?: FleetError;
}

/** A progress event; `done` counts targets finished or failed so far, of `total`. */
export interface FleetProgress {
  kind: 'target-started' | 'target-finished' | 'target-failed';
  target: string;
  done: number;
  total: number;
  report?: ScanReport;
  error?: FleetError;
}

/** Options of scanFleet: the scan options every target shares, plus how to run the fleet. */
export interface FleetScanOptions extends ScanOptions {
  /** Targets scanned at once (default 4); each scan holds one connection. */
  concurrency?: number;
  onProgress?: (p: FleetProgress) => void;
  /** Stops starting targets (Ctrl-C); targets not started are reported with PW002. */
  signal?: AbortSignal;
}

const fleetHints: Record<string, string> = {
  [ErrorCodes.CONNECTION_FAILED]:
    'check the host and port of this target in the targets file, and that the server runs',
  [ErrorCodes.CONNECTION_AUTH_FAILED]:
    'check the user and the password variable (passwordEnv) of this target, and pg_hba.conf',
  [ErrorCodes.CONNECTION_NO_DATABASE]: 'check the database name of this target',
};

function toFleetError(err: unknown, secret: unknown): FleetError {
  const e = wrapPgError(err);
  // Defence in depth: nothing pgwarden or the driver says should carry the password, but a
  // report leaving the machine is checked anyway.
  const clean = (s: string) =>
    redactSecrets(typeof secret === 'string' && secret !== '' ? s.replaceAll(secret, '***') : s);
  // The message is printed on a progress line as is: a server (or a name it quotes) must not be
  // able to send escape sequences to the operator's terminal.
  const out: FleetError = { code: e.code, message: visible(clean(e.message)) };
  if (e.detail) out.detail = visible(clean(e.detail), true);
  const hint = fleetHints[e.code] ?? e.hint;
  if (hint) out.hint = visible(clean(hint), true);
  return out;
}

/**
 * Scans every target over its own single read-only connection, at most `concurrency` at once.
 * Results come back in the targets' order whatever the completion order. A target that fails
 * (unreachable, login refused, no database) is reported with its code and never stops the
 * others. Per-target settings from the file win over `options` for the same key. Throws only
 * before scanning: PW502 when a target's only/skip names no check, PW001 for a bad concurrency.
 *
 * @example
 * const results = await scanFleet(await readTargets('fleet.yaml', process.env), {
 *   concurrency: 8,
 *   onProgress: (p) => console.error(`${p.done}/${p.total} ${p.kind} ${p.target}`),
 * });
 * for (const r of results) console.log(r.target, r.report?.summary.score ?? r.error?.code);
 */
export async function scanFleet(
  targets: readonly FleetTarget[],
  options: FleetScanOptions = {},
): Promise<FleetResult[]> {
  const { concurrency = 4, onProgress, signal, ...scan } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new PgwardenError(ErrorCodes.USAGE, 'concurrency must be a whole number of at least 1');
  }
  const perTarget = targets.map((t) => ({ ...scan, ...t.options, name: t.name }));
  perTarget.forEach((o, i) => {
    try {
      selectChecks(o.checks ?? allChecks, o.only, o.skip);
    } catch (err) {
      if (err instanceof PgwardenError) {
        throw new PgwardenError(err.code, `target ${targets[i]!.name}: ${err.message}`, { hint: err.hint });
      }
      throw err;
    }
  });
  const total = targets.length;
  const results: FleetResult[] = new Array<FleetResult>(total);
  let next = 0;
  let done = 0;
  const emit = (p: Omit<FleetProgress, 'done' | 'total'>) => onProgress?.({ ...p, done, total });
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const target = targets[i]!;
      if (signal?.aborted) {
        const error: FleetError = { code: ErrorCodes.INTERRUPTED, message: 'not scanned: interrupted' };
        results[i] = { target: target.name, error };
        done++;
        emit({ kind: 'target-failed', target: target.name, error });
        continue;
      }
      emit({ kind: 'target-started', target: target.name });
      let result: FleetResult;
      try {
        result = { target: target.name, report: await scanDatabase(target.connection, perTarget[i]) };
      } catch (err) {
        result = { target: target.name, error: toFleetError(err, target.connection.password) };
      }
      results[i] = result;
      done++;
      emit({ kind: result.report ? 'target-finished' : 'target-failed', ...result });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return results;
}
