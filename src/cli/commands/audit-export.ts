import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import {
  exportAuditTrail,
  type ExportFormat,
  exportFormats,
  type ExportResult,
  openSyslogSender,
  type SyslogFormatOptions,
  type SyslogSender,
  type SyslogTransport,
  syslogFacility,
} from '../../audit/export/index.js';
import { withClient } from '../../db/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { pgwardenVersion } from '../../install/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';

/** Flags of `pgwarden audit export`. */
export interface AuditExportFlags extends GlobalFlags {
  format?: string;
  after?: string;
  limit?: string;
  output?: string;
  syslogHost?: string;
  syslogPort?: string;
  syslogTransport?: string;
  syslogCa?: string;
  syslogFacility?: string;
  syslogSecurityFacility?: string;
  syslogHostname?: string;
  syslogMaxBytes?: string;
  skipArchived?: boolean;
}

const transports: readonly SyslogTransport[] = ['udp', 'tcp', 'tls'];
const defaultPorts: Record<SyslogTransport, number> = { udp: 514, tcp: 514, tls: 6514 };
/** RFC 5426: what every receiver takes over UDP (SHOULD); larger datagrams risk being dropped. */
const UDP_DEFAULT_MAX_BYTES = 2048;

const bad = (message: string, hint: string) => new PgwardenError(ErrorCodes.AUDIT_EXPORT, message, { hint });

function integer(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (value === undefined) return undefined;
  const n = /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw bad(`${name} must be a whole number from ${min} to ${max}`, `got ${JSON.stringify(value)}`);
  }
  return n;
}

/** The export plan the flags describe, checked before anything is opened. */
interface Plan {
  format: ExportFormat;
  after: number | undefined;
  limit: number | undefined;
  output: string | undefined;
  syslog: { host: string; port: number; transport: SyslogTransport; ca: string | undefined } | undefined;
  formatOptions: SyslogFormatOptions;
}

function planOf(flags: AuditExportFlags, cwd: string): Plan {
  const host = flags.syslogHost;
  const format = (flags.format ?? (host ? 'syslog' : 'jsonl')) as ExportFormat;
  if (!exportFormats.includes(format)) {
    throw bad(`unknown export format ${JSON.stringify(flags.format)}`, `--format takes ${exportFormats.join(', ')}`);
  }
  const syslogOnly = {
    '--syslog-port': flags.syslogPort,
    '--syslog-transport': flags.syslogTransport,
    '--syslog-ca': flags.syslogCa,
  };
  if (!host) {
    const stray = Object.entries(syslogOnly).find(([, v]) => v !== undefined);
    if (stray) throw bad(`${stray[0]} needs --syslog-host`, 'name the collector with --syslog-host, or drop the flag');
  } else {
    if (format === 'jsonl')
      throw bad('JSON lines are not sent to syslog', 'use --format syslog or --format cef with --syslog-host');
    if (flags.output)
      throw bad('--output and --syslog-host both name a destination', 'export to one destination per run');
  }
  // Header flags only mean something where syslog messages are written.
  if (format === 'jsonl' || (format === 'cef' && !host)) {
    const header = {
      '--syslog-facility': flags.syslogFacility,
      '--syslog-security-facility': flags.syslogSecurityFacility,
      '--syslog-hostname': flags.syslogHostname,
      '--syslog-max-bytes': flags.syslogMaxBytes,
    };
    const stray = Object.entries(header).find(([, v]) => v !== undefined);
    if (stray) {
      throw bad(
        `${stray[0]} applies to syslog messages only`,
        'use --format syslog, or --format cef with --syslog-host',
      );
    }
  }
  const transport = (flags.syslogTransport ?? 'tcp') as SyslogTransport;
  if (!transports.includes(transport)) {
    throw bad(
      `unknown syslog transport ${JSON.stringify(flags.syslogTransport)}`,
      '--syslog-transport takes udp, tcp or tls',
    );
  }
  if (flags.syslogCa && transport !== 'tls')
    throw bad('--syslog-ca is for --syslog-transport tls', 'drop --syslog-ca, or use tls');
  const maxBytes = integer('--syslog-max-bytes', flags.syslogMaxBytes, 480, 65_507);
  const name = flags.syslogHostname ?? hostname();
  const formatOptions: SyslogFormatOptions = {
    facility: syslogFacility(flags.syslogFacility ?? 'local0'),
    securityFacility: syslogFacility(flags.syslogSecurityFacility ?? flags.syslogFacility ?? 'local0'),
    // HOSTNAME is printable ASCII without spaces; a name that is not becomes the NILVALUE.
    hostname: /^[!-~]{1,255}$/.test(name) ? name : '-',
    maxBytes: maxBytes ?? (host && transport === 'udp' ? UDP_DEFAULT_MAX_BYTES : undefined),
  };
  return {
    format,
    after: integer('--after', flags.after, 0),
    limit: integer('--limit', flags.limit, 1),
    output: flags.output === undefined ? undefined : resolve(cwd, flags.output),
    syslog: host
      ? {
          host,
          port: integer('--syslog-port', flags.syslogPort, 1, 65_535) ?? defaultPorts[transport],
          transport,
          ca: flags.syslogCa,
        }
      : undefined,
    formatOptions,
  };
}

/** Where the formatted messages go: stdout, a file (appended), or a syslog collector. */
interface Destination {
  write(message: string): Promise<void> | void;
  close(): Promise<void>;
  describe: string;
}

async function openFile(path: string): Promise<Destination> {
  const stream: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  let failure: Error | undefined;
  const fileError = (err: unknown) =>
    new PgwardenError(
      ErrorCodes.AUDIT_EXPORT,
      `cannot write ${path}: ${(err as { code?: string }).code ?? String(err)}`,
      {
        hint: 'check that the directory exists and is writable',
        cause: err,
      },
    );
  await new Promise<void>((done, fail) => {
    stream.once('open', () => done());
    stream.once('error', (err) => fail(fileError(err)));
  });
  stream.on('error', (err) => {
    failure ??= err;
  });
  return {
    describe: path,
    write: (message) =>
      new Promise<void>((done, fail) => {
        if (failure) return fail(fileError(failure));
        if (stream.write(`${message}\n`)) return done();
        const onError = (err: Error) => {
          stream.off('drain', onDrain);
          fail(fileError(err));
        };
        const onDrain = () => {
          stream.off('error', onError);
          done();
        };
        stream.once('drain', onDrain);
        stream.once('error', onError);
      }),
    close: () =>
      new Promise<void>((done, fail) => {
        stream.end(() => (failure ? fail(fileError(failure)) : done()));
      }),
  };
}

async function openDestination(ctx: CliContext, plan: Plan): Promise<Destination> {
  if (plan.syslog) {
    const { host, port, transport, ca } = plan.syslog;
    let caPem: Buffer | undefined;
    if (ca) {
      caPem = await readFile(resolve(ctx.cwd, ca)).catch((err: unknown) => {
        throw bad(
          `cannot read --syslog-ca ${ca}: ${(err as { code?: string }).code ?? String(err)}`,
          'name a PEM file of CA certificates',
        );
      });
    }
    const sender: SyslogSender = await openSyslogSender({ host, port, transport, ca: caPem });
    return { describe: `${transport}://${host}:${port}`, write: (m) => sender.send(m), close: () => sender.close() };
  }
  if (plan.output) return openFile(plan.output);
  return { describe: 'stdout', write: (m) => ctx.output.out(m), close: async () => undefined };
}

function report(ctx: CliContext, plan: Plan, destination: Destination, result: ExportResult): void {
  const { resumeAfter } = result;
  const summary = {
    ok: true,
    format: plan.format,
    destination: destination.describe,
    exported: result.exported,
    firstPosition: result.firstPosition,
    lastPosition: result.lastPosition,
    skippedArchived: result.skipped,
    resumeAfter,
  };
  if (ctx.output.json) {
    // Records on stdout: the summary goes to stderr so stdout stays one record per line.
    const line = JSON.stringify(summary);
    if (destination.describe === 'stdout') ctx.output.err(line);
    else ctx.output.out(JSON.stringify(summary, null, 2));
    return;
  }
  const skipped = result.skipped > 0 ? ` Skipped ${result.skipped} archived row changes.` : '';
  const resume = `${skipped}${resumeAfter === null ? '' : ` Resume with --after ${resumeAfter}.`}`;
  if (result.exported === 0) {
    const where = plan.after === undefined ? 'in the ledger' : `after position ${plan.after}`;
    ctx.output.err(`No sealed entries ${where}; rows are exported once sealed.${resume}`);
  } else {
    ctx.output.err(
      `Exported ${result.exported} records (positions ${result.firstPosition}..${result.lastPosition}) to ${destination.describe}.${resume}`,
    );
  }
}

/**
 * `pgwarden audit export [--format jsonl|syslog|cef] [--after P] [--limit N] [--output FILE]
 * [--syslog-host H [--syslog-port P] [--syslog-transport udp|tcp|tls] …]`: exports sealed audit
 * rows and security events in ledger order, and says on stderr (or in the `--json` summary)
 * which `--after` resumes.
 */
export async function auditExportCommand(ctx: CliContext, flags: AuditExportFlags): Promise<number> {
  const plan = planOf(flags, ctx.cwd);
  const config = await configFor(ctx, flags);
  const destination = await openDestination(ctx, plan);
  let result: ExportResult;
  try {
    result = await withDatabase(ctx, config, (db) =>
      withClient({ ...db.connection, application_name: 'pgwarden-audit-export' }, (client) =>
        exportAuditTrail(client, {
          format: plan.format,
          after: plan.after,
          limit: plan.limit,
          signal: ctx.signal,
          skipArchived: flags.skipArchived === true,
          syslog: plan.formatOptions,
          cefOverSyslog: plan.syslog !== undefined,
          productVersion: pgwardenVersion,
          write: (message) => destination.write(message),
        }),
      ),
    );
  } catch (err) {
    await destination.close().catch(() => undefined);
    throw err;
  }
  await destination.close();
  report(ctx, plan, destination, result);
  if (result.interrupted) {
    throw new PgwardenError(ErrorCodes.INTERRUPTED, 'the export was interrupted', {
      detail: result.resumeAfter === null ? 'nothing was exported' : `resume with --after ${result.resumeAfter}`,
    });
  }
  return 0;
}
