import { Command, CommanderError, Option } from 'commander';
import { ErrorCodes, exitCodeFor, PgwardenError, toPgwardenError } from '../errors/index.js';
import { pgwardenVersion } from '../install/index.js';
import { checkCommand, fixCommand, reportCommand } from './commands/check.js';
import { configCommand } from './commands/config.js';
import { demoCommand } from './commands/demo.js';
import { downCommand } from './commands/down.js';
import { initCommand } from './commands/init.js';
import { installCommand } from './commands/install.js';
import * as auditCommands from './commands/audit.js';
import * as ledgerCommands from './commands/ledger.js';
import { auditExportCommand } from './commands/audit-export.js';
import * as rbacCommands from './commands/rbac.js';
import { rlsCli } from './commands/rls.js';
import { contextKeyCommand, rotateJwtCommand } from './commands/keys.js';
import { serveAuthCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { uninstallCommand } from './commands/uninstall.js';
import { upCommand } from './commands/up.js';
import * as monitorCommands from './commands/monitor.js';
import * as windowCommands from './commands/change-window.js';
import type { CliContext, GlobalFlags } from './context.js';
import { type Output, printError } from './output.js';

type Handler = (ctx: CliContext, flags: never) => Promise<number>;

/** Builds the command tree. Each action stores its handler; `main` runs it and exits. */
function buildProgram(run: (handler: Handler, flags: object) => void): Command {
  const program = new Command('pgwarden')
    .description('PostgreSQL security framework: install controls, check, monitor')
    .version(pgwardenVersion, '-V, --version')
    .option('--database-url <url>', 'libpq URI of the database (else DATABASE_URL, PG* variables, embedded)')
    .option('-c, --config <file>', 'config file (default: pgwarden.config.json/.yaml in the working directory)')
    .option('--json', 'machine-readable output on stdout')
    .option('--role-prefix <prefix>', 'prefix of pgwarden role names (default pgw_)')
    .option('--data-dir <dir>', 'embedded cluster directory (default .pgwarden)')
    .option('--log-level <level>', 'log level for long-running commands')
    .exitOverride();

  const action = (handler: Handler) =>
    function (this: Command) {
      run(handler, this.optsWithGlobals());
    };

  program
    .command('install')
    .description('install or upgrade pgwarden in the database')
    .addOption(new Option('-t, --tier <tier>', 'tier to install').choices(['basic', 'standard', 'advanced']))
    .option('--dry-run', 'print the plan, apply nothing')
    .action(action(installCommand as Handler));
  // The compliance scanner (src/cli/commands/check.ts).
  const scanOptions = (cmd: Command) =>
    cmd
      .option('--only <check...>', 'run only these check ids, id prefixes ending in "." (CIS-3.) or families')
      .option('--skip <check...>', 'skip these check ids, id prefixes or families')
      .option('--baseline <file>', 'accepted findings and waivers (default check.baseline)')
      .option('--exposed-schema <schema...>', 'schemas an API exposes (default: those request roles can use)')
      .addOption(new Option('--host <mode>', 'host checks (files, modes, processes)').choices(['auto', 'on', 'off']));
  scanOptions(
    program
      .command('check')
      .description('scan the database for CIS benchmark, RLS, privilege and pgwarden findings (read-only)')
      .option('-f, --format <format>', 'table (default), json, sarif, junit, markdown or html')
      .option('-o, --output <file>', 'write the report to a file')
      .addOption(
        new Option(
          '--fail-on <severity>',
          'exit 1 on an open finding this severe (default check.failOn: high)',
        ).choices(['critical', 'high', 'medium', 'low', 'info', 'none']),
      )
      .option('--write-baseline <file>', 'write a baseline accepting every open finding')
      .option('--targets <file>', 'scan every database of a fleet file (YAML or JSON)')
      .option('--concurrency <n>', 'targets scanned at once with --targets (default check.concurrency)')
      .option('--save', 'keep the result in the compliance history (pgwarden report)')
      .option('-v, --verbose', 'list every check, passing ones too')
      .option('--list', 'list the checks, run nothing'),
  ).action(action(checkCommand as Handler));
  scanOptions(
    program
      .command('fix')
      .description('show (--dry-run, default) or apply (--apply) the safe remediations of the findings')
      .option('--dry-run', 'print the exact statements, apply nothing (default)')
      .option('--apply', 'apply the safe statements; list what needs a restart or a person'),
  ).action(action(fixCommand as Handler));
  program
    .command('report')
    .description('render the saved scan history as a compliance report for auditors')
    .option('-f, --format <format>', 'html (default) or markdown')
    .option('-o, --output <file>', 'write the report to a file')
    .option('--target <name>', 'only scans of this target')
    .option('--limit <n>', 'at most this many scans, newest first (default 30)')
    .action(action(reportCommand as Handler));
  program
    .command('status')
    .description('show the installed tier, modules, pending upgrades, server and extensions')
    .action(action(statusCommand as Handler));
  program
    .command('uninstall')
    .description("remove pgwarden's objects, keeping audit and security-event data")
    .option('--purge', 'also delete audit and security-event data (needs --yes)')
    .option('-y, --yes', 'confirm --purge')
    .action(action(uninstallCommand as Handler));
  program
    .command('up')
    .description('start the embedded PostgreSQL and pgwarden services in the foreground')
    .action(action(upCommand as Handler));
  // The security monitor (src/cli/commands/monitor.ts); positionals join the flags.
  const monitor = program
    .command('monitor')
    .description('the security monitor: detection rules, behaviour analytics, alerts, metrics and the dashboard')
    .option('-p, --port <port>', 'listen port of the dashboard and /metrics (default monitor.port, 8788)')
    .option('--host <host>', 'listen address (default monitor.host, 127.0.0.1)')
    .option('--no-dashboard', 'serve /metrics, /live and /ready only')
    .option('--from-start', 'on a first run, read the whole security-event history (default: new events only)')
    .action(action(monitorCommands.monitorCommand as Handler));
  monitor
    .command('replay <logfile>')
    .description('run the rules over a server log file (jsonlog, csvlog or stderr); exit 1 when something is found')
    .addOption(
      new Option('--format <format>', 'log format (default from the extension)').choices([
        'jsonlog',
        'csvlog',
        'stderr',
      ]),
    )
    .option('--rules <path...>', 'extra rule files or directories')
    .action(function (this: Command, file: unknown) {
      run(monitorCommands.monitorReplayCommand as Handler, { ...this.optsWithGlobals(), file });
    });
  monitor
    .command('watchdog')
    .description("the dead-man's switch: alert through the sinks when the monitor's heartbeat grows old")
    .option('--max-age <seconds>', 'heartbeat age that alerts (default monitor.watchdogMaxAgeSeconds, 30)')
    .option('--once', 'check once: exit 0 while fresh, 1 when stale (for cron)')
    .option('--instance <name>', 'watch this monitor only (monitor.instance); default: any monitor')
    .option(
      '--stall-after <seconds>',
      'a beating monitor with events waiting longer than this is stalled (default max(60, 2 × max age))',
    )
    .option('--remind-every <minutes>', 'repeat the alert this often while the outage lasts (0: never; default 30)')
    .option('--state-file <path>', 'where the watchdog remembers what it reported')
    .action(action(monitorCommands.monitorWatchdogCommand as Handler));
  monitor
    .command('alerts')
    .description('list alerts (open and acknowledged unless --status)')
    .option('--status <status>', 'open, acknowledged, resolved (comma-separated) or all')
    .option('--limit <n>', 'at most this many (default 100)')
    .action(action(monitorCommands.monitorAlertsCommand as Handler));
  for (const [name, status] of [
    ['ack', 'acknowledged'],
    ['resolve', 'resolved'],
  ] as const)
    monitor
      .command(`${name} <id>`)
      .description(`mark an alert ${status}`)
      .option('--note <text>', 'why (kept in the alert history)')
      .option('--actor <name>', 'who (default: the OS user)')
      .action(function (this: Command, id: unknown) {
        run(monitorCommands.monitorSetStatusCommand as Handler, { ...this.optsWithGlobals(), id, status });
      });
  // Approved change windows (src/cli/commands/change-window.ts).
  const window = monitor
    .command('window')
    .description('approved change windows: a principal whose privilege changes are expected for a while');
  window
    .command('open <principal>')
    .description('approve privilege and policy changes by <principal> (a role or user) for a while (at most 24 h)')
    .option('--for <duration>', 'how long: 30m, 2h … (default 1h)')
    .option('--start <time>', 'when it starts, ISO 8601 (default now; never in the past)')
    .option('--reason <text>', 'the change approved (required)')
    .option('--ticket <id>', 'the change ticket')
    .option('--actor <name>', 'who approves (default: the OS user; never the principal itself)')
    .action(function (this: Command, principal: unknown) {
      run(windowCommands.monitorWindowOpenCommand as Handler, { ...this.optsWithGlobals(), principal });
    });
  window
    .command('close <id>')
    .description('end a change window early')
    .option('--actor <name>', 'who (default: the OS user)')
    .action(function (this: Command, id: unknown) {
      run(windowCommands.monitorWindowCloseCommand as Handler, { ...this.optsWithGlobals(), id });
    });
  window
    .command('list')
    .description('open and future change windows')
    .option('--all', 'also closed and ended ones')
    .action(action(windowCommands.monitorWindowListCommand as Handler));
  const serve = program.command('serve').description('run one pgwarden service in the foreground');
  serve
    .command('auth')
    .description('the auth HTTP API: register, login, MFA, refresh, sessions, JWKS')
    .option('-p, --port <port>', 'listen port (default auth.port, 8787)')
    .option('--host <host>', 'listen address (default auth.host, 127.0.0.1)')
    .action(action(serveAuthCommand as Handler));
  const keys = program.command('keys').description('manage signing and context keys');
  keys
    .command('rotate-jwt')
    .description('create a new JWT signing key; the old one stays published until its tokens expire')
    .action(action(rotateJwtCommand as Handler));
  keys
    .command('context')
    .description('register the request-context MAC key (derived from the master key) in the database')
    .option('--retire-others', 'retire every other context key: their contexts stop verifying at once')
    .action(action(contextKeyCommand as Handler));
  // RBAC (src/cli/commands/rbac.ts); positional arguments join the flags.
  const rbacAction = (name: string, ...args: string[]) =>
    function (this: Command, ...values: unknown[]) {
      const handler = (rbacCommands as unknown as Record<string, Handler>)[name]!;
      run(handler, {
        ...this.optsWithGlobals(),
        ...Object.fromEntries(args.map((arg, i) => [arg, values[i]])),
      });
    };
  const rbac = program.command('rbac').description('role-based access control: application roles and assignments');
  const rbacRole = rbac.command('role').description('define or drop an application role');
  rbacRole
    .command('define <role>')
    .description('create a role, or replace its permissions (unknown permissions are created)')
    .requiredOption('-p, --permission <permission...>', 'a permission the role holds (repeatable)')
    .option('--description <text>', 'what the role is for')
    .action(rbacAction('rbacDefineRoleCommand', 'role'));
  rbacRole
    .command('drop <role>')
    .description('remove a role with its permissions and assignments')
    .action(rbacAction('rbacDropRoleCommand', 'role'));
  rbac
    .command('roles')
    .description('list roles with their permissions and assignment counts')
    .action(rbacAction('rbacRolesCommand'));
  rbac
    .command('grant <user> <role>')
    .description('give a user (id or e-mail) a role in a tenant')
    .requiredOption('-t, --tenant <tenant>', 'the tenant the role applies in')
    .action(rbacAction('rbacGrantCommand', 'user', 'role'));
  rbac
    .command('revoke <user> <role>')
    .description('take a role from a user (id or e-mail) in a tenant')
    .requiredOption('-t, --tenant <tenant>', 'the tenant the role applied in')
    .action(rbacAction('rbacRevokeCommand', 'user', 'role'));
  rbac
    .command('list')
    .description('list per-tenant role assignments')
    .option('-u, --user <user>', 'only this user (id or e-mail)')
    .option('-t, --tenant <tenant>', 'only this tenant')
    .action(rbacAction('rbacListCommand'));
  // Row-change audit (src/cli/commands/audit.ts); the table joins the flags.
  const auditAction = (name: 'auditEnableCommand' | 'auditDisableCommand') =>
    function (this: Command, table: unknown) {
      run(auditCommands[name] as Handler, { ...this.optsWithGlobals(), table });
    };
  const audit = program.command('audit').description('row-change audit: capture the changes of tables');
  audit
    .command('enable <table>')
    .description('capture every row change of a table (it needs a primary key)')
    .option('--exclude-columns <columns>', 'comma-separated columns left out of the records')
    .option('--redact-columns <columns>', 'comma-separated columns whose values are recorded as [redacted]')
    .option(
      '--capture <mode>',
      'trigger (in the writing transaction) or wal (decoded after commit); default: wal once set up',
    )
    .action(auditAction('auditEnableCommand'));
  audit
    .command('disable <table>')
    .description('stop capturing the row changes of a table; its records are kept')
    .action(auditAction('auditDisableCommand'));
  audit
    .command('capture [action]')
    .description('WAL capture of audited tables: setup (publications and slot), run (apply the log now), or status')
    .action(function (this: Command, action?: unknown) {
      run(auditCommands.auditCaptureCommand as Handler, { ...this.optsWithGlobals(), action });
    });
  audit
    .command('retention')
    .description('archive, check and drop the monthly audit partitions older than --keep-months')
    .option('--keep-months <n>', 'whole months kept before the current one')
    .option('--archive-dir <dir>', 'where the JSON-lines archives and their manifests go')
    .option('--dry-run', 'list what would be archived')
    .action(function (this: Command) {
      run(auditCommands.auditRetentionCommand as Handler, this.optsWithGlobals());
    });
  // The tamper-evident ledger (src/cli/commands/ledger.ts); positionals join the flags.
  const ledgerAction = (handler: Handler, key?: string) =>
    function (this: Command, positional?: unknown) {
      run(handler, { ...this.optsWithGlobals(), ...(key && positional !== undefined ? { [key]: positional } : {}) });
    };
  audit
    .command('keys [action]')
    .description('ledger checkpoint keys: init (set up), rotate, or show the keys and the history key to pin')
    .action(ledgerAction(ledgerCommands.auditKeysCommand as Handler, 'action'));
  audit
    .command('seal')
    .description('seal committed audit rows and security events into the ledger, sign and witness a checkpoint')
    .option('--batch-size <n>', 'rows per transaction and checkpoint (default ledger.batchSize)')
    .action(ledgerAction(ledgerCommands.auditSealCommand as Handler));
  audit
    .command('verify')
    .description('recompute the ledger; report modified, deleted, inserted or reordered rows, truncation, rewrites')
    .option(
      '--trusted-checkpoint <file>',
      'a signed checkpoint kept outside the database (default: the directory witness)',
    )
    .option('--history-key <vkey>', 'the pinned key-history verifier key (default ledger.historyKey)')
    .option('--archive-dir <dir>', "retention's archives: rows found there count as archived, not deleted")
    .action(ledgerAction(ledgerCommands.auditVerifyCommand as Handler));
  audit
    .command('prove [id]')
    .description('print an inclusion proof of a sealed row (or --position N), or a consistency proof')
    .option('--source <source>', 'row_change (default) or security_event')
    .option('--position <n>', 'prove the entry at this ledger position')
    .option('--consistency <old-size>', 'prove that the checkpoint of this size is a prefix of the newest')
    .option('-o, --output <file>', 'write the proof to a file')
    .action(ledgerAction(ledgerCommands.auditProveCommand as Handler, 'id'));
  audit
    .command('verify-proof <file>')
    .description('check a proof offline: key history, checkpoint signatures, leaf and proof')
    .option('--history-key <vkey>', 'the pinned key-history verifier key (default ledger.historyKey)')
    .option('--origin <origin>', 'the log the proof must belong to')
    .option('--unpinned', 'accept the key history the proof carries (prints a warning)')
    .option('--record <file>', 'a JSON-lines record from `audit export` the proof must be about')
    .option('--key-history <file>', 'the newest published key history (default: the directory witness copy)')
    .action(ledgerAction(ledgerCommands.auditVerifyProofCommand as Handler, 'file'));
  // Export to SIEMs (src/cli/commands/audit-export.ts); flags are checked there (PW423).
  audit
    .command('export')
    .description('export sealed audit rows and security events with their ledger positions')
    .option('--format <format>', 'jsonl (default), syslog (RFC 5424) or cef')
    .option('--after <position>', 'only entries after this ledger position (the last one exported)')
    .option('--limit <n>', 'at most this many records')
    .option('-o, --output <file>', 'append to this file (mode 0600) instead of stdout')
    .option('--syslog-host <host>', 'send to this syslog collector (format syslog, or cef inside syslog)')
    .option('--syslog-port <port>', 'collector port (default 514, tls 6514)')
    .option('--syslog-transport <transport>', 'tcp (default, RFC 6587 octet counting), udp or tls')
    .option('--syslog-ca <file>', 'tls: PEM CA certificates to trust instead of the system ones')
    .option('--syslog-facility <facility>', 'facility name or number (default local0)')
    .option('--syslog-security-facility <facility>', 'facility of security events (default: --syslog-facility)')
    .option('--syslog-hostname <name>', 'HOSTNAME field (default: this host name)')
    .option('--syslog-max-bytes <n>', 'cut MSG to fit (default 2048 over udp, none otherwise)')
    .option('--skip-archived', 'skip row changes archived by retention instead of stopping at them')
    .action(action(auditExportCommand as Handler));
  // Row-level security (src/cli/commands/rls.ts). The positional argument
  // (a table, or views) reaches the handler as `target`.
  const rls = program.command('rls').description('row-level security: protect tables and views, plan/apply, status');
  const rlsAction = (name: 'protect' | 'protectView' | 'plan' | 'apply' | 'status') =>
    function (this: Command, target?: unknown) {
      const handler: Handler = (ctx, flags) => rlsCli[name](ctx, flags as never);
      const positional = typeof target === 'string' || Array.isArray(target) ? { target } : {};
      run(handler, { ...this.optsWithGlobals(), ...positional });
    };
  rls
    .command('protect <table>')
    .description('generate and apply the tenant policies of one table, in one transaction')
    .requiredOption('--tenant-column <column>', 'column compared with auth.tenant_id()')
    .option('--owner-column <column>', 'column compared with auth.uid() (uuid) or auth.sub(): rows per user')
    .option('--permission <name>', 'permission every command also requires (auth.has_permission)')
    .option('--read-permission <name>', 'permission SELECT requires')
    .option('--write-permission <name>', 'permission INSERT, UPDATE and DELETE require')
    .option('--role <role...>', 'request roles the policies are for (default app_user)')
    .option('--grant <command...>', 'also grant these commands (select insert update delete) to the roles')
    .option('--dry-run', 'print the SQL, change nothing')
    .action(rlsAction('protect'));
  rls
    .command('protect-view <view...>')
    .description('set security_invoker = true: row-level security applies to whoever queries the view')
    .option('--dry-run', 'show the change, change nothing')
    .action(rlsAction('protectView'));
  rls
    .command('plan')
    .description('compare the policy file with the database; change nothing')
    .option('-f, --file <file>', 'policy file (default pgwarden.rls.yaml)')
    .action(rlsAction('plan'));
  rls
    .command('apply')
    .description('make the database match the policy file, in one transaction')
    .option('-f, --file <file>', 'policy file (default pgwarden.rls.yaml)')
    .action(rlsAction('apply'));
  rls
    .command('status')
    .description('row-level security of every table and view, and what weakens it')
    .option('--schema <schema...>', 'schemas to report (default: all but pg_*, auth, logs, pgwarden)')
    .option('--role <role...>', 'more request roles to check reachability for')
    .option('--fail-on <severity>', 'exit 1 when a finding is at least this severe (high, warn, info)')
    .action(rlsAction('status'));
  program
    .command('down')
    .description('stop a running `pgwarden up` or embedded cluster')
    .action(action(downCommand as Handler));
  program
    .command('demo')
    .description('the tour: every capability on an embedded cluster')
    .option('--keep', 'leave the cluster running and print how to connect')
    .action(action(demoCommand as Handler));
  program
    .command('init')
    .description('write a commented starter pgwarden.config.yaml')
    .option('--force', 'overwrite an existing file')
    .action(action(initCommand as Handler));
  program
    .command('config')
    .description('show the effective config, secrets masked')
    .option('--print', 'print the effective config (the default)')
    .action(action(configCommand as Handler));
  return program;
}

/** Runs the CLI with the given argv and process world; resolves to the exit code. */
export async function main(
  argv: string[],
  world: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    stdout: NodeJS.WriteStream;
    stderr: NodeJS.WriteStream;
  },
): Promise<number> {
  const json = argv.includes('--json');
  const color = !json && !world.env.NO_COLOR && world.stdout.isTTY === true && world.env.TERM !== 'dumb';
  const output: Output = {
    json,
    color,
    out: (line = '') => void world.stdout.write(`${line}\n`),
    err: (line = '') => void world.stderr.write(`${line}\n`),
  };
  if (!json && world.stderr.isTTY === true && world.env.TERM !== 'dumb') {
    const width = Math.max(20, (world.stderr.columns || 80) - 1);
    output.status = (text) => void world.stderr.write(`\r\u001b[2K${text.slice(0, width)}`);
  }
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      if (!json) output.err(`\n${sig}: stopping at the next safe point (again to force)`);
      controller.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let pending: Promise<number> | undefined;
  const program = buildProgram((handler, flags) => {
    const ctx: CliContext = { cwd: world.cwd, env: world.env, output, signal: controller.signal };
    pending = handler(ctx, flags as never);
  });
  program.configureOutput({
    writeOut: (s) => world.stdout.write(s),
    writeErr: (s) => (json ? undefined : world.stderr.write(s)),
    // Usage errors are printed once, by printError, with their code.
    outputError: () => undefined,
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    if (!pending) {
      program.outputHelp();
      return 2;
    }
    // A command that stops early because of a signal throws PW002 (exit 130); one that finished
    // before the signal arrived keeps its own exit code.
    return await pending;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      const usage = new PgwardenError(ErrorCodes.USAGE, err.message.replace(/^error: /, ''), {
        hint: 'see `pgwarden --help`',
      });
      printError(output, usage);
      return 2;
    }
    const error = toPgwardenError(err);
    printError(output, error);
    return exitCodeFor(error.code);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export type { GlobalFlags };
