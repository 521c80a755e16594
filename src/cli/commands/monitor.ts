import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { PgwardenConfig } from '../../config/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { createLogger, type Logger } from '../../logger/index.js';
import { AlertStore } from '../../monitor/alerts/index.js';
import type { MonitorDaemonEvent } from '../../monitor/daemon.js';
import { startMonitorServer } from '../../monitor/monitor-server.js';
import { replayLog } from '../../monitor/replay.js';
import { loadRules, type RuleOverride } from '../../monitor/rules/index.js';
import { createSink } from '../../monitor/sinks/index.js';
import {
  defaultStallSeconds,
  fileStateStore,
  runWatchdogOnce,
  startWatchdogAlerts,
  type WatchdogNotifyEvent,
  watchedName,
} from '../../monitor/watchdog.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint, printJson, table } from '../output.js';
import { untilStopped } from './serve.js';

export interface MonitorFlags extends GlobalFlags {
  port?: string;
  host?: string;
  dashboard?: boolean;
  fromStart?: boolean;
}

/**
 * Turns a secret reference of the sinks' config into its value: `env:NAME` from the
 * environment, `file:PATH` from a file (trailing newline dropped). Anything else is refused, so a
 * secret is never written into the config file itself.
 */
export function secretResolver(ctx: CliContext): (ref: string) => string {
  return (ref) => {
    if (ref.startsWith('env:')) {
      const value = ctx.env[ref.slice(4)];
      if (!value)
        throw new PgwardenError(ErrorCodes.MONITOR_SINK_INVALID, `environment variable ${ref.slice(4)} is not set`);
      return value;
    }
    if (ref.startsWith('file:')) {
      const path = ref.slice(5);
      try {
        return readFileSync(isAbsolute(path) ? path : resolve(ctx.cwd, path), 'utf8').replace(/\r?\n$/, '');
      } catch {
        throw new PgwardenError(ErrorCodes.MONITOR_SINK_INVALID, `secret file ${path} cannot be read`);
      }
    }
    throw new PgwardenError(ErrorCodes.MONITOR_SINK_INVALID, 'a secret must be a reference: env:NAME or file:PATH', {
      hint: 'keep secrets out of the config file',
    });
  };
}

/** Logs a monitor event as a JSON line (no secret reaches these: sinks mask their errors). */
export function logMonitorEvent(log: Logger, event: MonitorDaemonEvent): void {
  switch (event.kind) {
    case 'monitor-alert':
      if (event.created) log.warn(event, 'alert raised');
      else log.debug(event, 'alert updated');
      return;
    case 'monitor-source':
      if (event.state.kind === 'disconnected')
        log.warn(
          {
            kind: event.kind,
            source: event.state.source,
            code: event.state.error.code,
            retryInMs: event.state.retryInMs,
          },
          event.state.error.message,
        );
      else log.info({ kind: event.kind, state: event.state }, 'source state');
      return;
    case 'monitor-delivery':
      if (event.event.kind === 'delivery-sent') log.debug(event.event, 'alert delivered');
      else log.warn(event.event, 'alert delivery failed');
      return;
    case 'monitor-rule-state':
      log.info(event, event.action === 'restored' ? 'rule windows restored' : 'rule windows saved');
      return;
    case 'monitor-error': {
      const err = event.error;
      log.error(
        { kind: event.kind, part: event.part, code: err instanceof PgwardenError ? err.code : undefined },
        err instanceof Error ? err.message : String(err),
      );
    }
  }
}

/** `pgwarden monitor`: the monitor daemon in the foreground until Ctrl-C or SIGTERM. */
export async function monitorCommand(ctx: CliContext, flags: MonitorFlags): Promise<number> {
  const config = await configFor(ctx, flags, {
    monitor: {
      port: flags.port,
      host: flags.host,
      ...(flags.dashboard === false ? { dashboard: false } : {}),
    },
  });
  const log = createLogger({ level: config.log.level, name: 'pgwarden-monitor' });
  const { output } = ctx;
  return withDatabase(ctx, config, async (db) => {
    const server = await startMonitorServer({
      config,
      connection: db.connection,
      cwd: ctx.cwd,
      secrets: secretResolver(ctx),
      onEvent: (event) => {
        logMonitorEvent(log, event);
        if (event.kind === 'monitor-alert' && event.created && !output.json)
          output.out(
            `${paint(output, severityStyle(event.severity), event.severity.toUpperCase())} ${event.rule}: ${event.summary}`,
          );
      },
      ...(flags.fromStart ? { startAt: 'beginning' as const } : {}),
    });
    try {
      const ready = {
        kind: 'monitor-ready',
        url: server.url,
        database: db.description,
        rules: server.rules,
        sinks: server.sinks,
        serverLog: server.serverLog,
        dashboard: server.dashboard,
      };
      log.info(ready, 'monitor is ready');
      if (output.json) output.out(JSON.stringify(ready));
      else printReady(ctx, server.url, server.rules, server.sinks, server.serverLog, server.dashboard);
      await untilStopped(ctx);
    } finally {
      await server.close();
    }
    return 0;
  });
}

function printReady(
  ctx: CliContext,
  url: string,
  rules: number,
  sinks: string[],
  serverLog: Awaited<ReturnType<typeof startMonitorServer>>['serverLog'],
  dashboard: boolean,
): void {
  const { output } = ctx;
  output.out(
    `${paint(output, 'green', 'monitor')}: ${rules} rules, sinks: ${sinks.length ? sinks.join(', ') : 'none (alerts are stored only)'}`,
  );
  output.out(
    `  server log: ${serverLog.mode === 'off' ? `not read (${serverLog.reason})` : serverLog.mode === 'file' ? `${serverLog.format} in ${serverLog.directory}` : `${serverLog.format} through pg_read_file`}`,
  );
  output.out(`  metrics: ${url}/metrics   health: ${url}/live ${url}/ready`);
  if (dashboard) output.out(`  dashboard: ${url}/`);
  output.out('  Ctrl-C stops it.');
}

const severityStyle = (severity: string) => (severity === 'critical' || severity === 'high' ? 'red' : 'yellow');

export interface ReplayFlags extends GlobalFlags {
  format?: string;
  rules?: string[];
}

/** `pgwarden monitor replay <logfile>`: runs the rules over a server log file. Exit 1 when something was found. */
export async function monitorReplayCommand(ctx: CliContext, flags: ReplayFlags & { file: string }): Promise<number> {
  const config = await configFor(ctx, flags);
  const format = flags.format;
  if (format !== undefined && !['jsonlog', 'csvlog', 'stderr'].includes(format))
    throw new PgwardenError(ErrorCodes.USAGE, `Unknown log format "${format}"`, {
      hint: 'use jsonlog, csvlog or stderr',
    });
  const extra = [...config.monitor.rules, ...(flags.rules ?? [])].map((r) => (isAbsolute(r) ? r : resolve(ctx.cwd, r)));
  const rules = await loadRules({
    builtin: config.monitor.builtinRules,
    files: extra.filter((r) => /\.ya?ml$/i.test(r)),
    directories: extra.filter((r) => !/\.ya?ml$/i.test(r)),
    disable: config.monitor.disableRules,
    overrides: config.monitor.ruleOverrides as Record<string, RuleOverride>,
  });
  const file = isAbsolute(flags.file) ? flags.file : resolve(ctx.cwd, flags.file);
  const result = await replayLog(file, {
    rules,
    ...(format ? { format: format as 'jsonlog' | 'csvlog' | 'stderr' } : {}),
  });
  const { output } = ctx;
  if (output.json) printJson(output, result);
  else {
    output.out(`${result.records} records (${result.format}), ${result.incidents.length} incident(s)`);
    for (const line of table(
      ['severity', 'rule', 'events', 'first seen', 'summary'],
      result.incidents.map((i) => [
        i.severity,
        i.rule,
        String(i.events),
        new Date(i.firstSeen).toISOString(),
        i.summary,
      ]),
    ))
      output.out(line);
  }
  return result.incidents.length > 0 ? 1 : 0;
}

export interface WatchdogFlags extends GlobalFlags {
  maxAge?: string;
  once?: boolean;
  /** Watch this monitor only (its instance name); default: any monitor. */
  instance?: string;
  /** Seconds without progress, while events wait, after which a beating monitor counts as stalled. */
  stallAfter?: string;
  /** Minutes between reminders while an outage lasts (0: none). */
  remindEvery?: string;
  /** Where the watchdog remembers what it reported (default <embedded.dir>/watchdog-<instance|all>.json). */
  stateFile?: string;
}

/** A whole number of at least `min` from a flag, or PW001. */
function wholeFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new PgwardenError(ErrorCodes.USAGE, `${name} must be a whole number of at least ${min}, got "${value}"`);
  return n;
}

/** The default state file of a watched scope: one per instance, so two watchdogs do not share memory. */
function watchdogStatePath(ctx: CliContext, config: PgwardenConfig, instance: string | undefined): string {
  const name =
    instance === undefined
      ? 'all'
      : `${instance.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}-${createHash('sha256').update(instance).digest('hex').slice(0, 8)}`;
  return resolve(ctx.cwd, config.embedded.dir, `watchdog-${name}.json`);
}

/** Logs what the watchdog's notifier did (sink messages are masked by the sinks themselves). */
function logNotice(log: Logger, event: WatchdogNotifyEvent): void {
  switch (event.kind) {
    case 'watchdog-notice-sent':
      log.info(event, `watchdog ${event.action} delivered to ${event.sink}`);
      return;
    case 'watchdog-notice-failed':
      log.error(
        { ...event, error: undefined, code: event.error.code },
        event.retryInMs === null
          ? `watchdog ${event.action} not delivered to ${event.sink}, given up: ${event.error.message}`
          : `watchdog ${event.action} not delivered to ${event.sink}, retried in ${event.retryInMs} ms: ${event.error.message}`,
      );
      return;
    case 'watchdog-notice-superseded':
      log.info(event, `unsent watchdog ${event.action} to ${event.sink} replaced by a ${event.by}`);
      return;
    case 'watchdog-state-failed':
      log.warn({ kind: event.kind, code: event.error.code }, `watchdog state not saved: ${event.error.message}`);
  }
}

/**
 * `pgwarden monitor watchdog`: the dead-man's switch, run apart from the monitor (another host,
 * a cron job with --once). Alerts through the configured sinks when the heartbeat grows old or
 * the monitor beats without handling the events that wait, once per outage (plus reminders), and
 * again on recovery; each send is retried. With --once: exit 0 while fine, 1 when down.
 */
export async function monitorWatchdogCommand(ctx: CliContext, flags: WatchdogFlags): Promise<number> {
  const config = await configFor(ctx, flags, { monitor: { watchdogMaxAgeSeconds: flags.maxAge } });
  const log = createLogger({ level: config.log.level, name: 'pgwarden-watchdog' });
  const secrets = secretResolver(ctx);
  const sinks = config.monitor.sinks.map((s) => createSink(s, { secrets }));
  const maxAgeSeconds = config.monitor.watchdogMaxAgeSeconds;
  const stallSeconds = wholeFlag('--stall-after', flags.stallAfter, 1) ?? defaultStallSeconds(maxAgeSeconds);
  const remindEveryMs = (wholeFlag('--remind-every', flags.remindEvery, 0) ?? 30) * 60_000;
  if (flags.instance !== undefined && (flags.instance.length < 1 || flags.instance.length > 200))
    throw new PgwardenError(ErrorCodes.USAGE, '--instance must be 1 to 200 characters');
  const instance = flags.instance;
  const stateFile = flags.stateFile ? resolve(ctx.cwd, flags.stateFile) : watchdogStatePath(ctx, config, instance);
  const store = fileStateStore(stateFile);
  const { output } = ctx;
  const who = watchedName(instance ?? null);
  return withDatabase(ctx, config, async (db) => {
    const common = {
      connection: db.connection,
      ...(instance === undefined ? {} : { instance }),
      maxAgeSeconds,
      stallSeconds,
      sinks,
      store,
      remindEveryMs,
      onEvent: (event: WatchdogNotifyEvent) => logNotice(log, event),
    };
    if (flags.once) {
      const report = await runWatchdogOnce(common);
      if (report.error)
        log.error(
          {
            kind: 'monitor-watchdog-down',
            code: report.error.code,
            reason: report.reason,
            instance: report.instance,
            stall: report.stall,
          },
          report.error.message,
        );
      if (output.json)
        output.out(
          JSON.stringify({
            kind: 'monitor-heartbeat',
            instance: report.instance,
            ageSeconds: report.ageSeconds,
            maxAgeSeconds,
            stallSeconds,
            stale: report.stale,
            ...(report.reason ? { reason: report.reason } : {}),
            ...(report.error ? { error: report.error.toJSON() } : {}),
            ...(report.stall ? { stall: report.stall } : {}),
            ...(report.stallCheckDenied ? { stallCheckDenied: true } : {}),
            notices: report.notices,
          }),
        );
      else {
        output.out(
          report.stale
            ? `${paint(output, 'red', report.reason ?? 'down')}: ${report.error?.message ?? ''}`
            : `ok: ${who} beats (heartbeat ${Math.round(report.ageSeconds ?? 0)} s old)${report.stallCheckDenied ? '; stalls cannot be checked: the login may not read logs.notification_log' : ''}`,
        );
        for (const n of report.notices)
          output.out(
            n.delivered
              ? `  ${n.action} sent to ${n.sink}${n.attempts > 1 ? ` (attempt ${n.attempts})` : ''}`
              : `  ${paint(output, 'red', `${n.action} NOT delivered`)} to ${n.sink} after ${n.attempts} attempt(s): ${n.error ?? ''}`,
          );
      }
      return report.stale ? 1 : 0;
    }
    const alerts = await startWatchdogAlerts({
      ...common,
      intervalMs: Math.max(1000, Math.min(10_000, (maxAgeSeconds * 1000) / 3)),
      onStale: (info) =>
        log.error(
          {
            kind: 'monitor-watchdog-down',
            code: info.error.code,
            reason: info.reason,
            instance: info.instance,
            ageSeconds: info.ageSeconds,
            stall: info.stall,
          },
          info.error.message,
        ),
      onRecovered: (info) =>
        log.info({ kind: 'monitor-watchdog-recovered', ...info }, `${who} beats and progresses again`),
    });
    output.out(
      `watchdog: alerting when ${who}'s heartbeat is older than ${maxAgeSeconds} s, or it handles no events for ${stallSeconds} s while events wait`,
    );
    try {
      await untilStopped(ctx);
    } finally {
      await alerts.close();
    }
    return 0;
  });
}

export interface AlertsFlags extends GlobalFlags {
  status?: string;
  limit?: string;
}

/** `pgwarden monitor alerts`: lists alerts (open and acknowledged by default). */
export async function monitorAlertsCommand(ctx: CliContext, flags: AlertsFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, async (db) => {
    const store = new AlertStore({ connection: db.connection });
    try {
      const status =
        flags.status === 'all' ? undefined : ((flags.status?.split(',') ?? ['open', 'acknowledged']) as never);
      const alerts = await store.list({ ...(status ? { status } : {}), limit: Number(flags.limit ?? 100) });
      const { output } = ctx;
      if (output.json) printJson(output, alerts);
      else
        for (const line of table(
          ['id', 'status', 'severity', 'rule', 'count', 'last seen', 'summary'],
          alerts.map((a) => [
            a.id,
            a.status,
            a.severity,
            a.ruleId,
            String(a.eventCount),
            a.lastSeen.toISOString(),
            a.summary,
          ]),
        ))
          output.out(line);
      return 0;
    } finally {
      await store.close();
    }
  });
}

/** `pgwarden monitor ack|resolve <id> [--note]`: moves an alert along its lifecycle. */
export async function monitorSetStatusCommand(
  ctx: CliContext,
  flags: GlobalFlags & { id: string; status: 'acknowledged' | 'resolved'; note?: string; actor?: string },
): Promise<number> {
  const config: PgwardenConfig = await configFor(ctx, flags);
  return withDatabase(ctx, config, async (db) => {
    const store = new AlertStore({ connection: db.connection });
    try {
      const actor = flags.actor ?? ctx.env.USER ?? 'cli';
      const alert = await store.setStatus(flags.id, flags.status, actor, flags.note);
      if (ctx.output.json) printJson(ctx.output, alert);
      else ctx.output.out(`alert ${flags.id}: ${flags.status}`);
      return 0;
    } finally {
      await store.close();
    }
  });
}
