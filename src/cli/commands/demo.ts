import { dirname } from 'node:path';
import { openDatabase } from '../../db/index.js';
import { keepRunning } from '../../db/embedded-lifecycle.js';
import { type DemoSection, runDemo } from '../../demo/index.js';
import { type CliContext, configFor, type GlobalFlags } from '../context.js';
import { paint, printJson } from '../output.js';
import { psqlHint } from '../psql-hint.js';

/**
 * `pgwarden demo [--keep]`: the tour, always on the embedded cluster (never on DATABASE_URL: it
 * creates and drops databases). Exit 1 when any check of the tour fails.
 */
export async function demoCommand(ctx: CliContext, flags: GlobalFlags & { keep?: boolean }): Promise<number> {
  const base = await configFor(ctx, flags);
  const config = { ...base, database: { ...base.database, url: undefined } };
  const { output } = ctx;
  const started = performance.now();
  const db = await openDatabase(config, { cwd: ctx.cwd, env: {}, database: 'postgres' });
  let keep = false;
  try {
    const conn = db.connection as { port: number };
    if (!output.json) {
      output.out(paint(output, 'bold', 'pgwarden demo — the tour'));
      output.out(`${db.description.replace('/postgres', '')}, data in ${config.embedded.dir}/`);
    }
    const print = (s: DemoSection) => {
      if (output.json) return;
      output.out('');
      output.out(`${paint(output, 'bold', s.title)} ${paint(output, 'dim', `(${Math.round(s.ms)} ms)`)}`);
      for (const line of s.lines) output.out(`  ${line}`);
      for (const c of s.checks)
        output.out(`  ${c.ok ? paint(output, 'green', '✓') : paint(output, 'red', '✗')} ${c.text}`);
    };
    const sections = await runDemo({
      admin: db.connection,
      database: 'pgwarden_demo',
      rolePrefix: config.install.rolePrefix,
      onSection: print,
    });
    const checks = sections.flatMap((s) => s.checks);
    const failed = checks.filter((c) => !c.ok);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    keep = flags.keep === true && failed.length === 0;
    const psql = psqlHint(config.embedded.dir, db.connection, 'pgwarden_demo');
    if (output.json) {
      printJson(output, {
        ok: failed.length === 0,
        seconds: Number(seconds),
        sections,
        kept: keep ? { port: conn.port, psql } : null,
      });
    } else {
      output.out('');
      output.out(
        `${failed.length === 0 ? paint(output, 'green', 'All') : paint(output, 'red', `${failed.length} of`)} ${checks.length} checks ${failed.length === 0 ? 'passed' : 'failed'} in ${seconds} s.`,
      );
      if (keep) {
        output.out(`The cluster keeps running. Connect with:\n  ${psql}\nStop it with: pgwarden down`);
      }
    }
    return failed.length === 0 ? 0 : 1;
  } finally {
    // Kept: no close (it might stop the cluster), and no stop request left by whoever started
    // the cluster either, or the next command to finish would stop it.
    if (!keep) await db.close();
    else if (db.cluster) await keepRunning(dirname(db.cluster.dataDir));
  }
}
