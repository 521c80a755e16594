import type pg from 'pg';
import { wrapPgError } from '../../db/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import {
  leafColumns,
  leafFieldsSql,
  leafHashOfText,
  LedgerSource,
  leafTextFromFields,
  rawTextTypes,
} from '../ledger/encoding.js';
import { hashesEqual } from '../merkle/index.js';
import { type ExportRecord, type ExportSourceName, exportSourceNames, toExportRecord } from './export-record.js';

/** Options of `readLedgerRecords`. */
export interface ReadRecordsOptions {
  /** Start after this position (default: from position 0). */
  after?: number;
  /** Stop after this many records (default: every sealed entry). */
  limit?: number;
  /** Entries read per query. Default 1,000. */
  pageSize?: number;
  /** Stops the reading between pages. */
  signal?: AbortSignal;
  /**
   * Skip row changes whose partition retention archived and dropped (default false: stop with
   * `PW423`). Their positions are then missing from the export; they are in the archive.
   */
  skipArchived?: boolean;
  /** Called with each archived entry skipped (with `skipArchived`). */
  onSkip?: (skipped: { position: number; source: ExportSourceName; id: string; archive: string }) => void;
}

interface EntryRow {
  position: string;
  source: number;
  source_id: string;
  leaf_hash: Uint8Array;
  leaf: string | null;
  /** For a row change that is gone: the archive of the retention run that dropped it, if any. */
  archive: string | null;
}

// Where each source's leaf fields start in a page row (see pageSql).
const ROW_FIELDS = 5;
const EVENT_FIELDS = ROW_FIELDS + leafColumns[LedgerSource.rowChange].length;

// Sealed entries joined to their rows, in position order, one page at a time (keyset on the
// primary key): position, source, source id, leaf hash (hex), archive, then the leaf fields of
// the row change and of the security event. The leaf text is built from the row now and checked
// against the sealed hash; a missing row gives a null leaf (the leaf of a row of nulls would be
// a non-null array). A missing row change whose time falls in a partition retention archived is
// named with its archive.
const pageSql = (
  retention: boolean,
) => `select l.position, l.source, l.source_id, pg_catalog.encode(l.leaf_hash, 'hex'),
         ${
           retention
             ? `case when l.source = ${LedgerSource.rowChange} and r.id is null then
                  (select a.partition_name || ', archive ' || a.archive_name from audit.archived_partitions a
                    where l.recorded_at >= a.range_from and l.recorded_at < a.range_to limit 1) end`
             : 'null::text'
         },
         ${leafFieldsSql(LedgerSource.rowChange, 'r')},
         ${leafFieldsSql(LedgerSource.securityEvent, 'e')}
    from ledger.entries l
    left join audit.row_changes r on l.source = ${LedgerSource.rowChange} and r.id = l.source_id
    left join logs.notification_log e on l.source = ${LedgerSource.securityEvent} and e.id = l.source_id
   where l.position > $1
   order by l.position
   limit $2`;

/** Checks `after`/`limit` style options: safe integers of at least `min`; throws `PW423`. */
function checkCount(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
    throw new PgwardenError(ErrorCodes.AUDIT_EXPORT, `${name} must be an integer of at least ${min}`, {
      hint: `--after takes a ledger position (0 or more, the last one exported); --limit a count of 1 or more`,
    });
  }
}

/**
 * Reads sealed ledger entries after a position, in position order, joined to their audit rows
 * and security events, a page at a time (memory stays at one page whatever the ledger's size).
 * Each page is one short read-only transaction with a fixed search_path; a sealer appending
 * meanwhile only adds later positions. Every yielded record has been checked:
 *
 * - positions follow each other with no gap (a gap means a ledger entry was removed: `PW431`);
 * - the row's canonical leaf text still hashes to the sealed leaf hash (else `PW431`, tampered);
 * - the row is still in the database: a row archived by retention stops the reading with
 *   `PW423` (or is skipped with `skipArchived`), any other missing row is tampering (`PW431`).
 *
 * Rows not sealed yet have no position and are not read; they come after the next seal.
 *
 * @example
 * for await (const record of readLedgerRecords(client, { after: 41, limit: 100 })) {
 *   console.log(record.position, record.fields.get('op'));
 * }
 */
export async function* readLedgerRecords(
  client: pg.ClientBase,
  options: ReadRecordsOptions = {},
): AsyncGenerator<ExportRecord, void, undefined> {
  checkCount('after', options.after, 0);
  checkCount('limit', options.limit, 1);
  const pageSize = options.pageSize ?? 1000;
  checkCount('pageSize', pageSize, 1);
  let last = options.after ?? -1;
  let remaining = options.limit ?? Infinity;
  const retention = await hasRetention(client);
  while (remaining > 0) {
    if (options.signal?.aborted) return;
    const want = Math.min(pageSize, remaining);
    const rows = await readPage(client, retention, last, want);
    for (const row of rows) {
      const position = Number(row.position);
      if (position !== last + 1) {
        throw new PgwardenError(ErrorCodes.LEDGER_TAMPERED, `ledger entries ${last + 1}..${position - 1} are missing`, {
          hint: 'run `pgwarden audit verify`; the export stopped before the gap',
        });
      }
      last = position;
      if (row.leaf === null && row.archive !== null && options.skipArchived) {
        options.onSkip?.({ position, source: 'row_change', id: row.source_id, archive: row.archive });
        continue;
      }
      yield toVerifiedRecord(row, position);
      remaining -= 1;
    }
    if (rows.length < want) return;
  }
}

async function hasRetention(client: pg.ClientBase): Promise<boolean> {
  try {
    const { rows } = await client.query<{ r: string | null }>(
      `select pg_catalog.to_regclass('audit.archived_partitions')::text as r`,
    );
    return rows[0]?.r != null;
  } catch (err) {
    throw wrapPgError(err, 'reading the ledger');
  }
}

async function readPage(client: pg.ClientBase, retention: boolean, after: number, limit: number): Promise<EntryRow[]> {
  await client.query('begin isolation level repeatable read read only');
  try {
    await client.query(`select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)`);
    const { rows } = await client.query<(string | null)[]>({
      text: pageSql(retention),
      values: [after, limit],
      rowMode: 'array',
      types: rawTextTypes,
    });
    await client.query('commit');
    return rows.map(toEntry);
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw wrapPgError(err, 'reading the ledger');
  }
}

function toEntry(raw: (string | null)[]): EntryRow {
  const leaf =
    raw[ROW_FIELDS] !== null
      ? leafTextFromFields(LedgerSource.rowChange, raw, ROW_FIELDS)
      : raw[EVENT_FIELDS] !== null
        ? leafTextFromFields(LedgerSource.securityEvent, raw, EVENT_FIELDS)
        : null;
  return {
    position: raw[0]!,
    source: Number(raw[1]),
    source_id: raw[2]!,
    leaf_hash: Buffer.from(raw[3]!, 'hex'),
    leaf,
    archive: raw[4] ?? null,
  };
}

function toVerifiedRecord(row: EntryRow, position: number): ExportRecord {
  const source = exportSourceNames[row.source as LedgerSource] ?? `source ${row.source}`;
  if (row.leaf === null && row.archive !== null) {
    throw new PgwardenError(
      ErrorCodes.AUDIT_EXPORT,
      `ledger entry ${position}: ${source} ${row.source_id} was archived by retention (${row.archive})`,
      {
        hint: 'export archived rows from the archive file; pass --skip-archived to export the rest without them',
      },
    );
  }
  if (row.leaf === null) {
    throw new PgwardenError(
      ErrorCodes.LEDGER_TAMPERED,
      `ledger entry ${position}: ${source} ${row.source_id} was deleted after sealing`,
      {
        hint: `run \`pgwarden audit verify\`; resume past it with --after ${position} once investigated`,
      },
    );
  }
  const sealed = new Uint8Array(row.leaf_hash);
  if (!hashesEqual(leafHashOfText(row.leaf), sealed)) {
    throw new PgwardenError(
      ErrorCodes.LEDGER_TAMPERED,
      `ledger entry ${position}: ${source} ${row.source_id} differs from what was sealed`,
      {
        hint: 'the row was changed after sealing; run `pgwarden audit verify`. Nothing at or after this position was exported',
      },
    );
  }
  return toExportRecord(position, sealed, row.leaf);
}
