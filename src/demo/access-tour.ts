import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createAuthService, parseMasterKey } from '../auth/index.js';
import { configSchema } from '../config/index.js';
import type { JSONWebKeySet } from 'jose';
import { ContextKey, sealContext } from '../context/context-seal.js';
import type { ContextHandle } from '../context/index.js';
import { registerContextKey } from '../context/context-keys.js';
import { expressContext } from '../context/middleware/express.js';
import { createContextPool } from '../context/request-context.js';
import { createTokenVerifier } from '../context/verify/index.js';
import { type ConnectionConfig, quoteIdent, quoteLiteral, withClient } from '../db/client.js';
import { scramVerifier } from '../db/scram.js';
import { applyRls, type ProtectOptions } from '../rls/index.js';
import { type DemoSection, section } from './report.js';

const ACME = '00000000-0000-4000-8000-00000000000a';
const GLOBEX = '00000000-0000-4000-8000-00000000000b';
const ACME_PROJECT = '00000000-0000-4000-8000-000000000a01';

/** What the tour protects: projects readable per tenant, invoices writable with invoices.write. */
const protectedTables: ProtectOptions[] = [
  { table: 'app.projects', tenantColumn: 'tenant_id', grant: ['select'] },
  {
    table: 'app.invoices',
    tenantColumn: 'tenant_id',
    permission: { write: 'invoices.write' },
    grant: ['select', 'insert', 'update', 'delete'],
  },
];

interface Reply {
  status: number;
  body: Record<string, unknown> & { rows?: Record<string, unknown>[] };
  challenge: string | null;
}

/**
 * The zero-trust part of the tour: the sample app's tables protected with the RLS toolkit, a
 * small HTTP API behind the request middleware, two tenants' users with real tokens, and the
 * attacks that must fail.
 */
export async function accessTour(
  db: ConnectionConfig,
  roles: { authenticator: string; app_user: string },
  add: (s: DemoSection) => void,
  masterKey: string,
): Promise<void> {
  // The identity tour's service settings and master key (its signing keys are sealed with it).
  const config = configSchema.parse({ auth: { masterKey, issuer: 'pgwarden-demo', totpIssuer: 'pgwarden-demo' } });
  const contextKey = ContextKey.fromMasterKey(parseMasterKey(masterKey));
  const adminPool = new pg.Pool({ ...db, max: 2, application_name: 'pgwarden-demo' });
  adminPool.on('error', () => undefined);
  const appPassword = randomBytes(18).toString('base64url');
  let appPool: pg.Pool | undefined;
  let server: Server | undefined;
  try {
    const auth = await createAuthService(config, adminPool, '.'); // cwd unused: the key is in the config
    const ann = { email: 'ann@acme.example', password: 'copper kettle meadow 31', tenant: ACME };
    const ben = { email: 'ben@globex.example', password: 'willow signal harbor 8', tenant: GLOBEX };

    add(
      await section('Access: the sample app behind row-level security', async (s) => {
        await withClient(db, async (c) => {
          const result = await applyRls(c, {
            tables: protectedTables,
          });
          s.line(`pgwarden rls applied ${result.applied.length} changes in one transaction:`);
          for (const step of result.applied.slice(0, 6)) s.line(`  ${step.object}: ${step.summary}`);
          if (result.applied.length > 6) s.line(`  … and ${result.applied.length - 6} more`);
          const again = await applyRls(c, {
            tables: protectedTables,
          });
          s.check(again.applied.length === 0, 'applying the same protection again changes nothing');
          const { rows } = await c.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
            `select relname, relrowsecurity, relforcerowsecurity from pg_class
              where oid in ('app.projects'::regclass, 'app.invoices'::regclass)`,
          );
          s.check(
            rows.every((r) => r.relrowsecurity && r.relforcerowsecurity),
            'app.projects and app.invoices: RLS enabled and forced, default deny',
          );
          await c.query(`select auth.rbac_define_role('accountant', array['invoices.write'], 'may change invoices')`);
          await c.query(
            `alter role ${quoteIdent(roles.authenticator)} password ${quoteLiteral(scramVerifier(appPassword))}`,
          );
          await registerContextKey(c, contextKey);
        });
        const a = await auth.register(ann);
        const b = await auth.register(ben);
        await withClient(db, (c) =>
          c.query(`select auth.rbac_grant($1, $2, 'accountant', 'pgwarden-demo')`, [a.userId, ACME]),
        );
        s.check(
          a.created && b.created,
          'ann (Acme, role accountant: invoices.write) and ben (Globex, no role) registered',
        );
      }),
    );

    // The API: the application's pool logs in as the authenticator; nothing else.
    appPool = new pg.Pool({ ...db, user: roles.authenticator, password: appPassword, max: 4 });
    appPool.on('error', () => undefined);
    const jwks = await auth.jwks();
    const verifier = createTokenVerifier({
      keys: { jwks: jwks as unknown as JSONWebKeySet },
      issuer: config.auth.issuer,
      audience: config.auth.audience,
    });
    const contextPool = createContextPool({ pool: appPool, key: contextKey, verifier });
    const pgw = expressContext({ contextPool, realm: 'demo' });
    server = createServer((req, res) => {
      pgw.middleware(req as never, res as never, (err?: unknown) => {
        if (err) return pgw.errorHandler(err as Error, req as never, res as never, () => undefined);
        void route(req as never, res).catch((e: unknown) =>
          pgw.errorHandler(e as Error, req as never, res as never, () => undefined),
        );
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const call = async (method: string, path: string, token?: string, body?: unknown): Promise<Reply> => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return {
        status: res.status,
        body: text ? (JSON.parse(text) as Reply['body']) : {},
        challenge: res.headers.get('www-authenticate'),
      };
    };

    const annLogin = await auth.login(ann);
    const benLogin = await auth.login(ben);
    if (annLogin.kind !== 'session' || benLogin.kind !== 'session') throw new Error('demo logins need no MFA');

    add(
      await section('Access: two tenants through the HTTP API', async (s) => {
        s.line(
          `API on ${base}: GET /invoices, POST /invoices, GET /me (request middleware, pool as ${roles.authenticator})`,
        );
        const annList = await call('GET', '/invoices', annLogin.accessToken);
        const benList = await call('GET', '/invoices', benLogin.accessToken);
        const tenantsOf = (r: Reply) => new Set((r.body.rows ?? []).map((x) => String(x.tenant_id)));
        s.check(
          annList.status === 200 && annList.body.rows?.length === 25 && [...tenantsOf(annList)].join() === ACME,
          `ann sees Acme's ${annList.body.rows?.length ?? 0} invoices and none of Globex's`,
        );
        s.check(
          benList.status === 200 && benList.body.rows?.length === 25 && [...tenantsOf(benList)].join() === GLOBEX,
          `ben sees Globex's ${benList.body.rows?.length ?? 0} invoices and none of Acme's`,
        );
        const own = await call('POST', '/invoices', annLogin.accessToken, {
          tenant_id: ACME,
          project_id: ACME_PROJECT,
          number: 'ACME-9001',
          amount_cents: 4200,
        });
        s.check(own.status === 201, `ann (accountant) creates an Acme invoice: ${own.status}`);
        const cross = await call('POST', '/invoices', annLogin.accessToken, {
          tenant_id: GLOBEX,
          project_id: ACME_PROJECT,
          number: 'GLBX-6666',
          amount_cents: 1,
        });
        s.check(
          cross.status === 403,
          `ann writing into Globex is refused by the policy: ${cross.status} ${String(cross.body.code)}`,
        );
        const noRole = await call('POST', '/invoices', benLogin.accessToken, {
          tenant_id: GLOBEX,
          project_id: '00000000-0000-4000-8000-000000000b01',
          number: 'GLBX-9001',
          amount_cents: 1,
        });
        s.check(noRole.status === 403, `ben (no invoices.write) cannot create invoices: ${noRole.status}`);
        const anonymous = await call('GET', '/invoices');
        s.check(
          anonymous.status === 401 && anonymous.challenge?.startsWith('Bearer') === true,
          `no token: 401, WWW-Authenticate: ${anonymous.challenge ?? ''}`,
        );
        const [h, p] = annLogin.accessToken.split('.');
        const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${p}.`;
        const before = appPool!.totalCount;
        const noneReply = await call('GET', '/invoices', none);
        s.check(
          noneReply.status === 401 && appPool!.totalCount === before && h !== undefined,
          `alg=none token: ${noneReply.status} ${String(noneReply.body.error)}, no database connection taken`,
        );
      }),
    );

    add(
      await section('Access: forging the context, revoking a session', async (s) => {
        // An attacker with a raw SQL session as the application's login writes a context by hand.
        const raw = new pg.Client({ ...db, user: roles.authenticator, password: appPassword });
        await raw.connect();
        try {
          await raw.query('begin');
          const forged = sealContext(
            new ContextKey(randomBytes(32)),
            {
              role: roles.app_user,
              sub: 'attacker',
              tenant: GLOBEX,
              roles: ['accountant'],
              aal: 'aal2',
              sid: null,
              iat: null,
              claims: {},
            },
            (raw as pg.Client & { processID: number }).processID,
            Math.floor(Date.now() / 1000) + 60,
          );
          await raw.query(
            `select set_config('pgwarden.context', $1, true), set_config('pgwarden.context_mac', $2, true),
                    set_config('role', $3, true)`,
            [forged.context, forged.mac, roles.app_user],
          );
          const { rows } = await raw.query<{ t: string | null; n: string }>(
            'select auth.tenant_id() t, (select count(*) from app.invoices) n',
          );
          s.check(
            rows[0]!.t === null && rows[0]!.n === '0',
            'a context typed in SQL with a wrong MAC: auth.tenant_id() is NULL, 0 invoices visible',
          );
          await raw.query('rollback');
        } finally {
          await raw.end();
        }
        const me = await call('GET', '/me', benLogin.accessToken);
        s.check(me.status === 200, `ben's token works: GET /me → ${me.status} (tenant ${String(me.body.tenant)})`);
        await auth.logout(await auth.authenticate(benLogin.accessToken));
        const after = await call('GET', '/me', benLogin.accessToken);
        s.check(
          after.status === 401,
          `ben logs out; the same, unexpired token on the next request: ${after.status} (${String(after.body.code)})`,
        );
      }),
    );
  } finally {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await appPool?.end();
    await adminPool.end();
  }

  async function route(req: IncomingMessage & { pgwarden: ContextHandle }, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    const { db: q } = req.pgwarden;
    if (req.method === 'GET' && req.url === '/invoices') {
      const { rows } = await q.query(
        'select id, tenant_id, number, amount_cents, status from app.invoices order by number',
      );
      return send(200, { rows });
    }
    if (req.method === 'GET' && req.url === '/me') {
      const { rows } = await q.query('select auth.sub() sub, auth.tenant_id() tenant, auth.roles() roles');
      return send(200, rows[0]);
    }
    if (req.method === 'POST' && req.url === '/invoices') {
      let text = '';
      for await (const chunk of req) text += String(chunk);
      const b = JSON.parse(text) as Record<string, unknown>;
      const { rows } = await q.query(
        `insert into app.invoices (tenant_id, project_id, number, amount_cents) values ($1, $2, $3, $4) returning id`,
        [b.tenant_id, b.project_id, b.number, b.amount_cents],
      );
      return send(201, rows[0]);
    }
    send(404, { error: 'not_found' });
  }
}
