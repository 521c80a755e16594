import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { leafFieldsSql, leafHashOfText, LedgerSource, leafTextFromFields, rawTextTypes } from '../ledger/encoding.js';

/** Options of `archivePartitions`. */
export interface RetentionOptions {
  /** Keep this many whole months before the current one; older partitions are archived and dropped. */
  keepMonths: number;
  /** Where archives go (`<partition>.jsonl` plus `<partition>.manifest.json`). */
  archiveDir: string;
  /** List what would be archived, touch nothing. */
  dryRun?: boolean;
  /** Rows read per round trip. Default 20,000. */
  pageSize?: number;
}

/** One partition's fate. */
export interface ArchivedPartition {
  partition: string;
  from: string;
  to: string;
  rows: number;
  archive: string | null;
  sha256: string | null;
  dropped: boolean;
}

/**
 * Archives, then drops, the monthly audit partitions older than `keepMonths` full months. Each
 * archive is JSON lines, one per row in id order: `{"position": <ledger position or null>,
 * "leaf": <canonical leaf text>}`; the leaf holds every column, so the file is the record, and
 * its hash is the ledger's leaf hash, so it stays provable. The file is written to a temporary
 * name, synced, re-read and checked row by row against the ledger before the database is asked
 * to drop the partition, which it refuses (PW422) unless the count matches and every row is
 * sealed. A failure at any step leaves the partition in place.
 *
 * @example
 * const done = await archivePartitions(client, { keepMonths: 12, archiveDir: '/mnt/archive/audit' });
 */
export async function archivePartitions(
  client: pg.ClientBase,
  options: RetentionOptions,
): Promise<ArchivedPartition[]> {
  if (!Number.isSafeInteger(options.keepMonths) || options.keepMonths < 0 || options.keepMonths > 1200) {
    throw new PgwardenError(ErrorCodes.AUDIT_RETENTION, 'keep months must be an integer between 0 and 1200');
  }
  const { rows: due } = await client.query<{ partition_name: string; f: string; t: string }>(
    `select partition_name, range_from::text as f, range_to::text as t from audit.partitions()
      where range_to <= pg_catalog.date_trunc('month', pg_catalog.now()) - pg_catalog.make_interval(months => $1)
      order by range_from`,
    [options.keepMonths],
  );
  const dir = resolve(options.archiveDir);
  if (!options.dryRun && due.length > 0) await mkdir(dir, { recursive: true });
  const out: ArchivedPartition[] = [];
  for (const p of due) {
    const count = Number(
      (await client.query<{ n: string }>(`select pg_catalog.count(*)::text as n from ${p.partition_name}`)).rows[0]?.n,
    );
    if (options.dryRun) {
      out.push({
        partition: p.partition_name,
        from: p.f,
        to: p.t,
        rows: count,
        archive: null,
        sha256: null,
        dropped: false,
      });
      continue;
    }
    out.push(await archiveOne(client, p.partition_name, p.f, p.t, dir, options.pageSize ?? 20_000));
  }
  return out;
}

async function archiveOne(
  client: pg.ClientBase,
  partition: string,
  from: string,
  to: string,
  dir: string,
  pageSize: number,
): Promise<ArchivedPartition> {
  const stem = partition.replace(/[^A-Za-z0-9_.-]/g, '_');
  const final = join(dir, `${stem}.jsonl`);
  const temp = `${final}.tmp`;
  const ledger = (
    await client.query<{ r: string | null }>(`select pg_catalog.to_regclass('ledger.entries')::text as r`)
  ).rows[0]?.r;
  const hash = createHash('sha256');
  let rows = 0;
  const file = await open(temp, 'w', 0o640);
  try {
    let after = '-1';
    for (;;) {
      // Each row: id, ledger position, then its leaf fields (server text, unparsed).
      const { rows: page } = await client.query<(string | null)[]>({
        text: `select r.id, ${ledger ? 'l.position' : 'null::bigint'}, ${leafFieldsSql(LedgerSource.rowChange, 'r')}
                 from ${partition} r
                 ${ledger ? 'left join ledger.entries l on l.source = 1 and l.source_id = r.id' : ''}
                where r.id > $1::bigint order by r.id limit $2`,
        values: [after, pageSize],
        rowMode: 'array',
        types: rawTextTypes,
      });
      if (page.length === 0) break;
      const text = page
        .map((r) => {
          const position = r[1] === null || r[1] === undefined ? null : Number(r[1]);
          return `${JSON.stringify({ position, leaf: leafTextFromFields(LedgerSource.rowChange, r, 2) })}\n`;
        })
        .join('');
      hash.update(text);
      await file.write(text);
      rows += page.length;
      after = page[page.length - 1]![0]!;
      if (page.length < pageSize) break;
    }
    await file.sync();
  } finally {
    await file.close();
  }
  const sha256 = hash.digest('hex');
  try {
    if (ledger) await checkAgainstLedger(client, temp);
    await rename(temp, final);
    await writeFile(
      join(dir, `${stem}.manifest.json`),
      `${JSON.stringify({ format: 'pgwarden.audit-archive/v1', partition, from, to, rows, sha256, archive: `${stem}.jsonl` }, null, 2)}\n`,
    );
    await client.query('select audit.drop_archived_partition($1::text::regclass, $2, $3, $4)', [
      partition,
      rows,
      `${stem}.jsonl`,
      sha256,
    ]);
  } catch (err) {
    await rm(temp, { force: true });
    const e = err as { code?: string; message?: string; hint?: string };
    if (e.code === 'PW422') {
      throw new PgwardenError(ErrorCodes.AUDIT_RETENTION, e.message ?? 'retention refused', {
        hint: e.hint,
        cause: err,
      });
    }
    throw err;
  }
  return { partition, from, to, rows, archive: final, sha256, dropped: true };
}

/**
 * Re-reads an archive and checks every line's leaf hash against the ledger entry at its
 * position: a line not sealed, or sealed with another hash, fails with PW422.
 *
 * @example
 * await checkAgainstLedger(client, '/mnt/archive/audit/audit.row_changes_y2025m01.jsonl');
 */
export async function checkAgainstLedger(client: pg.ClientBase, path: string): Promise<number> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let checked = 0;
  let batch: { position: number; hash: string }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const { rows } = await client.query<{ position: string; h: Buffer }>(
      `select position::text, leaf_hash as h from ledger.entries where position = any($1::bigint[])`,
      [batch.map((b) => b.position)],
    );
    const stored = new Map(rows.map((r) => [Number(r.position), r.h.toString('hex')]));
    for (const b of batch) {
      if (stored.get(b.position) !== b.hash) {
        throw new PgwardenError(ErrorCodes.AUDIT_RETENTION, 'an archived row does not match its sealed ledger entry', {
          detail: `position ${b.position}`,
          hint: 'the partition is left in place; run `pgwarden audit verify`',
        });
      }
    }
    checked += batch.length;
    batch = [];
  };
  for await (const line of lines) {
    if (line.length === 0) continue;
    const { position, leaf } = JSON.parse(line) as { position: number | null; leaf: string };
    if (position === null) {
      throw new PgwardenError(ErrorCodes.AUDIT_RETENTION, 'an archived row was never sealed', {
        hint: 'run `pgwarden audit seal` first',
      });
    }
    batch.push({ position, hash: Buffer.from(leafHashOfText(leaf)).toString('hex') });
    if (batch.length >= 5000) await flush();
  }
  await flush();
  return checked;
}
