import type pg from 'pg';
import { ErrorCodes, PgwardenError, toPgwardenError } from '../../errors/index.js';
import { formatCef } from './cef.js';
import type { ExportRecord } from './export-record.js';
import { formatJsonLine } from './json-lines.js';
import { readLedgerRecords, type ReadRecordsOptions } from './records.js';
import { formatSyslog, type SyslogFormatOptions } from './syslog.js';

/**
 * Export formats.
 *
 * @example
 * exportFormats.includes(flags.format); // 'jsonl' | 'syslog' | 'cef'
 */
export const exportFormats = ['jsonl', 'syslog', 'cef'] as const;
export type ExportFormat = (typeof exportFormats)[number];

/** Options of `exportAuditTrail`. */
export interface ExportOptions extends ReadRecordsOptions {
  /** `jsonl` (default), `syslog` (RFC 5424) or `cef`. */
  format?: ExportFormat;
  /** Receives each formatted message in position order; the export waits for it. */
  write: (message: string, record: ExportRecord) => void | Promise<void>;
  /** Header and size options of syslog messages (format `syslog`, or `cef` with `cefOverSyslog`). */
  syslog?: SyslogFormatOptions;
  /** Wrap each CEF event in an RFC 5424 message (its MSG), to send CEF to a syslog collector. */
  cefOverSyslog?: boolean;
  /** The pgwarden version in CEF headers. */
  productVersion?: string;
}

/** What an export did. */
export interface ExportResult {
  exported: number;
  /** First and last positions written; null when nothing was. Resume with `after: lastPosition`. */
  firstPosition: number | null;
  lastPosition: number | null;
  /** Archived row changes skipped (`skipArchived`). */
  skipped: number;
  /** The last position read, delivered or skipped: the `after` of the next run (null: nothing read). */
  resumeAfter: number | null;
  /** True when `signal` stopped the export early. */
  interrupted: boolean;
}

/**
 * The formatter of an export format, as `exportAuditTrail` uses it.
 *
 * @example
 * const format = recordFormatter({ format: 'cef', productVersion: '0.1.0' });
 * format(record); // 'CEF:0|pgwarden|pgwarden|0.1.0|…'
 */
export function recordFormatter(
  options: Pick<ExportOptions, 'format' | 'syslog' | 'cefOverSyslog' | 'productVersion'>,
): (record: ExportRecord) => string {
  const format = options.format ?? 'jsonl';
  switch (format) {
    case 'jsonl':
      return formatJsonLine;
    case 'syslog':
      return (record) => formatSyslog(record, options.syslog);
    case 'cef': {
      const cef = { productVersion: options.productVersion ?? '0' };
      if (!options.cefOverSyslog) return (record) => formatCef(record, cef);
      return (record) => formatSyslog(record, { ...options.syslog, message: (r) => formatCef(r, cef) });
    }
    default:
      throw new PgwardenError(ErrorCodes.AUDIT_EXPORT, `unknown export format ${JSON.stringify(format)}`, {
        hint: `use one of ${exportFormats.join(', ')}`,
      });
  }
}

/**
 * Exports sealed audit rows and security events in ledger position order, each formatted and
 * handed to `write` before the next is read (so a slow destination slows the export rather
 * than filling memory). Every record carries its position and leaf hash; the rows are checked
 * against their sealed hashes on the way (see `readLedgerRecords`). When reading or writing
 * fails midway, the error says what was delivered and which `after` resumes it.
 *
 * @example
 * const result = await exportAuditTrail(client, {
 *   after: lastShipped,
 *   format: 'jsonl',
 *   write: (line) => stream.write(`${line}\n`),
 * });
 * lastShipped = result.lastPosition ?? lastShipped;
 */
export async function exportAuditTrail(client: pg.ClientBase, options: ExportOptions): Promise<ExportResult> {
  const format = recordFormatter(options);
  const result: ExportResult = {
    exported: 0,
    firstPosition: null,
    lastPosition: null,
    skipped: 0,
    resumeAfter: options.after ?? null,
    interrupted: false,
  };
  const onSkip: ExportOptions['onSkip'] = (skipped) => {
    result.skipped += 1;
    result.resumeAfter = skipped.position;
    options.onSkip?.(skipped);
  };
  try {
    for await (const record of readLedgerRecords(client, { ...options, onSkip })) {
      await options.write(format(record), record);
      result.exported += 1;
      result.firstPosition ??= record.position;
      result.lastPosition = record.position;
      result.resumeAfter = record.position;
      if (options.signal?.aborted) break;
    }
  } catch (err) {
    throw withProgress(toPgwardenError(err), result);
  }
  result.interrupted = options.signal?.aborted === true;
  return result;
}

/** Adds "exported N; resume with after=P" to an error that stopped an export. */
function withProgress(error: PgwardenError, result: ExportResult): PgwardenError {
  const resume = result.resumeAfter === null ? '' : `; resume with --after ${result.resumeAfter}`;
  const progress =
    result.exported > 0
      ? `${result.exported} records were delivered (positions ${result.firstPosition}..${result.lastPosition})${resume}`
      : `nothing was delivered${resume}`;
  return new PgwardenError(error.code, error.message, {
    detail: error.detail ? `${error.detail}\n${progress}` : progress,
    hint: error.hint,
    sqlState: error.sqlState,
    cause: error.cause ?? error,
  });
}
