import pg from 'pg';
import { parseMasterKey } from '../auth/crypto/index.js';
import {
  historyKey,
  initLedger,
  proveEntry,
  sealLedger,
  verifyLedger,
  verifyProofBundle,
} from '../audit/ledger/index.js';
import { captureWal, setupWalCapture } from '../audit/capture/index.js';
import { parseNote } from '../audit/checkpoint/index.js';
import { type ConnectionConfig, quoteIdent } from '../db/client.js';
import { type DemoSection, section } from './report.js';

/**
 * The audit part of the tour: row audit on the sample invoices, the ledger sealed and signed
 * (Ed25519 + ML-DSA-65), a superuser's edit found by `verify` at its position, and an inclusion
 * proof checked offline.
 */
export async function auditTour(
  db: ConnectionConfig,
  ownerRole: string,
  add: (s: DemoSection) => void,
  masterKeyText: string,
): Promise<void> {
  const masterKey = parseMasterKey(masterKeyText);
  const c = new pg.Client({ ...db, application_name: 'pgwarden-demo' });
  await c.connect();
  try {
    let pinned = '';
    add(
      await section('Audit trail', async (s) => {
        await c.query(`select audit.enable('app.invoices', '{}', '{iban,customer_tax_id}')`);
        await c.query(`update app.invoices set status = 'paid', iban = 'DE89370400440532013000' where status = 'open'`);
        const { rows } = await c.query(
          `select op, table_name, record_id, changed_columns, new_data->>'iban' as iban, db_role
             from audit.row_changes where table_name = 'invoices' order by id`,
        );
        for (const r of rows.slice(0, 3)) {
          s.line(
            `${r.op} app.${r.table_name} ${String(r.record_id).slice(0, 8)}… changed ${r.changed_columns.join(', ')} iban=${r.iban} by ${r.db_role}`,
          );
        }
        s.check(
          rows.length > 0 && rows.every((r) => r.op === 'UPDATE'),
          `${rows.length} invoice updates recorded, one per row`,
        );
        s.check(
          rows.every((r) => r.iban === '[redacted]'),
          'the redacted IBAN is recorded as [redacted], never in clear',
        );
        const denied = await c
          .query(`begin; set local role ${quoteIdent(ownerRole)}; delete from audit.row_changes; commit`)
          .then(
            () => 'allowed',
            async (e: { code?: string }) => {
              await c.query('rollback');
              return e.code;
            },
          );
        s.check(
          denied === '42501' || denied === 'PW421',
          `even pgwarden's owner role cannot delete audit rows (${denied})`,
        );
        // WAL capture: the same records, decoded from the write-ahead log after commit.
        const wal = await setupWalCapture(c).then(
          () => true,
          (e: Error) => {
            s.line(`WAL capture is not available on this server (${e.message}); app.projects stays on trigger capture`);
            return false;
          },
        );
        if (wal) {
          await c.query(`select audit.enable('app.projects', '{}', '{}', 'wal')`);
          await c.query(
            `update app.projects set name = name || ' (archived)' where id in (select id from app.projects limit 2)`,
          );
          const applied = await captureWal(c);
          const { rows: decoded } = await c.query(
            `select op, changed_columns, capture, db_role from audit.row_changes where table_name = 'projects' order by id`,
          );
          s.line(
            `WAL capture: ${applied?.rows ?? 0} project update(s) decoded from the log after commit, changed ${decoded[0]?.changed_columns?.join(', ') ?? '-'} by ${decoded[0]?.db_role ?? '-'}`,
          );
          s.check(
            decoded.length === 2 && decoded.every((r) => r.capture === 'wal' && r.op === 'UPDATE'),
            "WAL capture recorded the 2 project updates off the writers' path (capture = wal)",
          );
        }
      }),
    );
    add(
      await section('Tamper-evident ledger', async (s) => {
        const { origin } = await initLedger(c, { masterKey });
        pinned = historyKey(masterKey, origin).vkey;
        const sealed = await sealLedger(c, { masterKey });
        const note = parseNote(sealed.checkpoint ?? '');
        s.line(`sealed ${sealed.sealed} rows and events; checkpoint of size ${sealed.treeSize} for ${origin}`);
        s.line(
          `signed by: ${note.signatures.map((g) => (g.signature.length > 100 ? 'ML-DSA-65' : 'Ed25519')).join(' + ')}`,
        );
        s.check(note.signatures.length === 2, 'the checkpoint carries a hybrid Ed25519 + ML-DSA-65 signature');
        const clean = await verifyLedger(c, { historyKey: pinned });
        s.check(
          clean.status === 'ok',
          `verify: ${clean.status.toUpperCase()}, ${clean.treeSize} entries against the signed checkpoints`,
        );

        // A superuser switches the triggers off and quietly changes one recorded amount.
        const target = (
          await c.query(
            `select r.id, l.position from audit.row_changes r join ledger.entries l on l.source = 1 and l.source_id = r.id
              where r.table_name = 'invoices' order by r.id desc limit 1`,
          )
        ).rows[0];
        await c.query('begin');
        await c.query('set local session_replication_role = replica');
        await c.query(
          `update audit.row_changes set new_data = jsonb_set(new_data, '{amount_cents}', '1') where id = $1`,
          [target.id],
        );
        await c.query('commit');
        const report = await verifyLedger(c, { historyKey: pinned });
        s.line(`a superuser edited audit row ${target.id}; verify: ${report.status.toUpperCase()}`);
        for (const f of report.findings) s.line(`  ${f.kind} at position ${f.position}: ${f.detail}`);
        s.check(
          report.status === 'tampered' && report.firstBadPosition === Number(target.position),
          `verify names the edited row at ledger position ${target.position}`,
        );
        const alert = (
          await c.query(`select severity from logs.notification_log where event_type = 'ledger.tamper_detected'`)
        ).rows[0];
        s.check(alert?.severity === 'critical', 'the finding is a critical security event');
      }),
    );
    add(
      await section('Inclusion proof, checked offline', async (s) => {
        const id = (await c.query(`select min(id) as id from audit.row_changes where table_name = 'invoices'`)).rows[0]
          .id;
        const bundle = await proveEntry(c, { source: 'row_change', id: String(id) });
        s.line(
          `proof of audit row ${id}: position ${bundle.position} in a tree of ${bundle.treeSize}, ${bundle.proof.length} hashes`,
        );
        // No database from here on: only the bundle and the pinned history key.
        const check = verifyProofBundle(JSON.parse(JSON.stringify(bundle)), { historyKey: pinned });
        s.check(check.position === bundle.position, 'the proof checks out offline against the signed checkpoint');
        const forged = { ...bundle, leaf: bundle.leaf.replace('"paid"', '"void"') };
        const refused = (() => {
          try {
            verifyProofBundle(forged, { historyKey: pinned });
            return false;
          } catch {
            return true;
          }
        })();
        s.check(refused, 'the same proof with the record changed is refused (PW434)');
      }),
    );
  } finally {
    await c.end();
  }
}
