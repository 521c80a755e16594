import { captureWal } from '../../audit/capture/index.js';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type pg from 'pg';
import { configuredMasterKey, loadMasterKey } from '../../auth/index.js';
import { checkExportedRecord } from '../../audit/export/index.js';
import {
  bundleProvesLeaf,
  configuredWitnesses,
  type InclusionBundle,
  historyKey,
  keyHistoryFile,
  initLedger,
  ledgerOrigin,
  openLedgerSigners,
  proveConsistency,
  proveEntry,
  rotateLedgerKeys,
  sealLedger,
  verifyLedger,
  verifyProofBundle,
  witnessedCheckpoint,
} from '../../audit/ledger/index.js';
import type { PgwardenConfig } from '../../config/index.js';
import { withClient } from '../../db/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint, printJson } from '../output.js';

async function withLedger(
  ctx: CliContext,
  flags: GlobalFlags,
  fn: (client: pg.Client, config: PgwardenConfig) => Promise<number>,
): Promise<number> {
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, (db) =>
    withClient({ ...db.connection, application_name: 'pgwarden-ledger' }, (client) => fn(client, config)),
  );
}

export interface AuditKeysFlags extends GlobalFlags {
  action?: string;
}

/**
 * `pgwarden audit keys [init|rotate]`: sets up the ledger's checkpoint keys, rotates them, or
 * (no action) prints the origin, the active verifier keys and the history key to pin.
 */
export async function auditKeysCommand(ctx: CliContext, flags: AuditKeysFlags): Promise<number> {
  const action = flags.action ?? 'show';
  if (!['init', 'rotate', 'show'].includes(action)) {
    throw new PgwardenError(ErrorCodes.USAGE, `unknown action "${action}"`, { hint: 'use init, rotate or no action' });
  }
  return withLedger(ctx, flags, async (client, config) => {
    const masterKey = await loadMasterKey(config, ctx.cwd);
    let extra: Record<string, unknown> = {};
    if (action === 'init') {
      const { created } = await initLedger(client, {
        masterKey,
        hybrid: config.ledger.hybrid,
        ...(config.ledger.origin ? { origin: config.ledger.origin } : {}),
      });
      extra = { created };
    } else if (action === 'rotate') {
      const { fromSize } = await rotateLedgerKeys(client, { masterKey });
      extra = { rotatedFromSize: fromSize };
    }
    const signers = await openLedgerSigners(client, masterKey);
    const view = {
      ok: true,
      origin: signers.origin,
      keys: signers.signers.map((k) => ({ algorithm: k.algorithm, vkey: k.vkey })),
      historyKey: historyKey(masterKey, signers.origin).vkey,
      keyHistory: signers.history.note,
      ...extra,
    };
    if (ctx.output.json) printJson(ctx.output, view);
    else {
      if (action === 'init') ctx.output.out(extra.created ? 'Ledger set up.' : 'The ledger was already set up.');
      if (action === 'rotate')
        ctx.output.out(`Checkpoint keys rotated; new keys sign from tree size ${String(extra.rotatedFromSize)}.`);
      ctx.output.out(`origin       ${view.origin}`);
      for (const k of view.keys)
        ctx.output.out(`${k.algorithm.padEnd(12)} ${k.vkey.length > 120 ? `${k.vkey.slice(0, 117)}...` : k.vkey}`);
      ctx.output.out(`history key  ${view.historyKey}`);
      ctx.output.out(
        paint(
          ctx.output,
          'dim',
          'Pin the history key outside the database (ledger.historyKey, or --history-key for verify).',
        ),
      );
    }
    return 0;
  });
}

export interface AuditSealFlags extends GlobalFlags {
  batchSize?: string;
}

/** `pgwarden audit seal`: seals committed audit rows and events, signs, pushes to witnesses. */
export async function auditSealCommand(ctx: CliContext, flags: AuditSealFlags): Promise<number> {
  return withLedger(ctx, flags, async (client, config) => {
    const masterKey = await loadMasterKey(config, ctx.cwd);
    const signers = await openLedgerSigners(client, masterKey);
    const witnesses = await configuredWitnesses(config, signers, ctx.cwd, {
      write: (t: string) => ctx.output.out(t.replace(/\n$/, '')),
    });
    const batchSize = flags.batchSize === undefined ? config.ledger.batchSize : Number(flags.batchSize);
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new PgwardenError(ErrorCodes.USAGE, '--batch-size must be a positive integer');
    }
    // What the log holds goes into the trail first, so the seal covers every committed change.
    await captureWal(client);
    const result = await sealLedger(client, { masterKey, batchSize, witnesses });
    const rate = result.ms > 0 ? Math.round((result.sealed * 1000) / result.ms) : 0;
    if (ctx.output.json) printJson(ctx.output, { ok: true, ...result, rowsPerSecond: rate });
    else {
      ctx.output.out(
        `Sealed ${result.sealed} row(s) in ${result.batches} batch(es); the ledger holds ${result.treeSize}.`,
      );
      for (const w of result.witnesses) {
        ctx.output.out(
          `  witness ${w.witness}: ${w.accepted ? 'accepted' : paint(ctx.output, 'red', `refused (${w.error})`)} size ${w.size}`,
        );
      }
    }
    return result.witnesses.some((w) => !w.accepted) ? 1 : 0;
  });
}

export interface AuditVerifyFlags extends GlobalFlags {
  trustedCheckpoint?: string;
  archiveDir?: string;
  historyKey?: string;
}

/**
 * `pgwarden audit verify [--trusted-checkpoint FILE] [--history-key VKEY]`: recomputes the
 * ledger. Exit 0 only when every entry is covered by a signed checkpoint and nothing was
 * tampered with; 1 otherwise, naming the first bad position.
 */
export async function auditVerifyCommand(ctx: CliContext, flags: AuditVerifyFlags): Promise<number> {
  return withLedger(ctx, flags, async (client, config) => {
    const origin = await ledgerOrigin(client);
    const trusted = flags.trustedCheckpoint
      ? await readFile(resolve(ctx.cwd, flags.trustedCheckpoint), 'utf8')
      : ((await witnessedCheckpoint(config, origin, ctx.cwd)) ?? undefined);
    const pinned = flags.historyKey ?? config.ledger.historyKey;
    // Without a pinned history key, the configured master key derives it; without either, the
    // report can only be UNVERIFIED.
    const masterKey = pinned === undefined ? await configuredMasterKey(config, ctx.cwd) : undefined;
    const report = await verifyLedger(client, {
      ...(trusted !== undefined ? { trustedCheckpoint: trusted } : {}),
      ...(pinned !== undefined ? { historyKey: pinned } : {}),
      ...(masterKey !== undefined ? { masterKey } : {}),
      ...(flags.archiveDir !== undefined ? { archiveDir: resolve(ctx.cwd, flags.archiveDir) } : {}),
    });
    const rate = report.ms > 0 ? Math.round((report.rows * 1000) / report.ms) : 0;
    if (ctx.output.json) printJson(ctx.output, { ok: report.status === 'ok', ...report, rowsPerSecond: rate });
    else {
      const head =
        report.status === 'ok'
          ? paint(ctx.output, 'green', `OK: ${report.treeSize} entries verified`)
          : report.status === 'unverified'
            ? paint(
                ctx.output,
                'yellow',
                `UNVERIFIED beyond checkpoint ${report.verifiedSize} (${report.treeSize} entries)`,
              )
            : paint(
                ctx.output,
                'red',
                `TAMPERED: first bad position ${report.firstBadPosition ?? '(row never sealed)'}`,
              );
      ctx.output.out(head);
      for (const f of report.findings) {
        ctx.output.out(
          `  ${f.kind.padEnd(18)} ${f.position === null ? '-' : String(f.position).padStart(8)}  ${f.detail}`,
        );
      }
      if (report.moreFindings > 0) ctx.output.out(`  … and ${report.moreFindings} more`);
      ctx.output.out(
        paint(
          ctx.output,
          'dim',
          `checkpoints: ${report.checkpoints.valid}/${report.checkpoints.stored} valid; trusted: ${report.checkpoints.trusted ? `size ${report.checkpoints.trusted.size}` : 'none given'}; key history: ${report.keyTrust}`,
        ),
      );
    }
    return report.status === 'ok' ? 0 : 1;
  });
}

export interface AuditProveFlags extends GlobalFlags {
  id?: string;
  source?: string;
  position?: string;
  consistency?: string;
  output?: string;
}

/**
 * `pgwarden audit prove <id> [--source row_change|security_event] | --position N | --consistency OLD_SIZE`:
 * prints an offline-checkable proof bundle (JSON).
 */
export async function auditProveCommand(ctx: CliContext, flags: AuditProveFlags): Promise<number> {
  const int = (v: string, what: string) => {
    if (!/^\d+$/.test(v)) throw new PgwardenError(ErrorCodes.USAGE, `${what} must be a non-negative integer`);
    return Number(v);
  };
  const source = flags.source ?? 'row_change';
  if (source !== 'row_change' && source !== 'security_event') {
    throw new PgwardenError(ErrorCodes.USAGE, '--source must be row_change or security_event');
  }
  if ([flags.id, flags.position, flags.consistency].filter((v) => v !== undefined).length !== 1) {
    throw new PgwardenError(ErrorCodes.USAGE, 'give exactly one of <id>, --position or --consistency');
  }
  return withLedger(ctx, flags, async (client) => {
    const bundle =
      flags.consistency !== undefined
        ? await proveConsistency(client, int(flags.consistency, '--consistency'))
        : await proveEntry(
            client,
            flags.position !== undefined
              ? { position: int(flags.position, '--position') }
              : { source, id: int(flags.id!, 'the id').toString() },
          );
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    if (flags.output) {
      await writeFile(resolve(ctx.cwd, flags.output), text);
      if (!ctx.output.json) ctx.output.out(`Proof written to ${flags.output}.`);
      else printJson(ctx.output, { ok: true, output: flags.output });
    } else ctx.output.out(text.trimEnd());
    return 0;
  });
}

export interface AuditVerifyProofFlags extends GlobalFlags {
  file: string;
  /** The newest published key history (default: the directory witness's copy). */
  keyHistory?: string;
  /** A JSON-lines record from `pgwarden audit export` that the proof must be about. */
  record?: string;
  historyKey?: string;
  origin?: string;
  unpinned?: boolean;
}

/**
 * `pgwarden audit verify-proof FILE --history-key VKEY`: checks a proof bundle offline (no
 * database): key history, checkpoint signatures, the leaf and the proof. Exit 0 when it holds.
 */
export async function auditVerifyProofCommand(ctx: CliContext, flags: AuditVerifyProofFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  let bundle: unknown;
  try {
    bundle = JSON.parse(await readFile(resolve(ctx.cwd, flags.file), 'utf8'));
  } catch (err) {
    throw new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, 'the proof file is not readable JSON', { cause: err });
  }
  const pinned = flags.historyKey ?? config.ledger.historyKey;
  const origin = (bundle as { origin?: unknown }).origin;
  const historyFile =
    flags.keyHistory !== undefined
      ? resolve(ctx.cwd, flags.keyHistory)
      : config.ledger.witnessDir && typeof origin === 'string'
        ? keyHistoryFile(resolve(ctx.cwd, config.ledger.witnessDir), origin)
        : undefined;
  const published = historyFile === undefined ? undefined : await readFile(historyFile, 'utf8').catch(() => undefined);
  if (flags.keyHistory !== undefined && published === undefined) {
    throw new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, 'the key history file cannot be read');
  }
  const check = verifyProofBundle(bundle, {
    ...(published !== undefined ? { keyHistory: published } : {}),
    ...(pinned !== undefined ? { historyKey: pinned } : {}),
    ...(flags.origin !== undefined ? { origin: flags.origin } : {}),
    allowUnpinned: flags.unpinned === true,
  });
  if (flags.record !== undefined) {
    // The exported line must agree with its own leaf, and be the leaf the bundle proves.
    const line = (await readFile(resolve(ctx.cwd, flags.record), 'utf8')).split('\n').find((l) => l.trim() !== '');
    const record = checkExportedRecord(line ?? '');
    const bundleLeaf = (bundle as InclusionBundle).leaf;
    if (
      check.position !== record.position ||
      typeof bundleLeaf !== 'string' ||
      !bundleProvesLeaf(bundle as InclusionBundle, Buffer.from(record.leafHash).toString('base64'))
    ) {
      throw new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, 'the proof is not about this exported record', {
        detail: `record position ${record.position}, proof position ${String(check.position)}`,
        hint: 'prove the record with `pgwarden audit prove --position <its position>`',
      });
    }
  }
  if (ctx.output.json) printJson(ctx.output, { ok: true, ...check, record: flags.record !== undefined });
  else {
    ctx.output.out(
      paint(
        ctx.output,
        'green',
        check.position !== undefined
          ? `OK: entry ${check.position} is in the log ${check.origin} of size ${check.treeSize}`
          : `OK: size ${check.oldSize} is a prefix of size ${check.treeSize} of ${check.origin}`,
      ),
    );
    if (check.entry) ctx.output.out(JSON.stringify(check.entry));
    if (check.keyTrust === 'unpinned')
      ctx.output.out(paint(ctx.output, 'yellow', 'Warning: no history key was pinned.'));
  }
  return 0;
}
