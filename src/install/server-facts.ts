import type pg from 'pg';

/** What the installer and `status` need to know about the server and the connected role. */
export interface ServerFacts {
  serverVersion: string;
  serverVersionNum: number;
  database: string;
  currentUser: string;
  superuser: boolean;
  createRole: boolean;
  canCreateInDatabase: boolean;
  extensions: ExtensionFacts[];
  /** undefined when hidden from the connected role. */
  sharedPreloadLibraries: string[] | undefined;
}

export interface ExtensionFacts {
  name: string;
  /** Packaged on the server (pg_available_extensions). */
  available: boolean;
  /** Created in this database, and where. */
  installedVersion: string | undefined;
  schema: string | undefined;
  /**
   * Listed in shared_preload_libraries (required for pgaudit and pg_stat_statements); undefined
   * when the connected role may not read that setting (it needs pg_read_all_settings).
   */
  preloaded: boolean | undefined;
}

/** The optional and required extensions `status` reports on. */
export const trackedExtensions = ['pgcrypto', 'pgaudit', 'pg_stat_statements'] as const;

/** Lowest and highest PostgreSQL major versions pgwarden is tested on. */
export const supportedMajors = { min: 14, max: 17 } as const;

/** Reads server version, role attributes, privileges and extension availability in one round trip. */
export async function readServerFacts(client: pg.ClientBase): Promise<ServerFacts> {
  const { rows } = await client.query(
    `select pg_catalog.current_setting('server_version') as server_version,
            pg_catalog.current_setting('server_version_num')::int as server_version_num,
            pg_catalog.current_database() as database,
            current_user as current_user,
            r.rolsuper as superuser,
            r.rolcreaterole as create_role,
            pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') as can_create,
            (select setting from pg_catalog.pg_settings where name = 'shared_preload_libraries') as preload,
            (select pg_catalog.json_agg(pg_catalog.json_build_object(
                'name', n.name,
                'available', a.name is not null,
                'installedVersion', e.extversion,
                'schema', s.nspname) order by n.ord)
               from pg_catalog.unnest($1::text[]) with ordinality as n(name, ord)
               left join pg_catalog.pg_available_extensions a on a.name = n.name
               left join pg_catalog.pg_extension e on e.extname = n.name
               left join pg_catalog.pg_namespace s on s.oid = e.extnamespace) as extensions
       from pg_catalog.pg_roles r
      where r.rolname = current_user`,
    [trackedExtensions],
  );
  const row = rows[0];
  const preload: string[] | undefined =
    row.preload === null
      ? undefined
      : String(row.preload)
          .split(',')
          .map((s) => s.trim().replace(/^"|"$/g, ''))
          .filter(Boolean);
  return {
    serverVersion: row.server_version,
    serverVersionNum: row.server_version_num,
    database: row.database,
    currentUser: row.current_user,
    superuser: row.superuser,
    createRole: row.create_role,
    canCreateInDatabase: row.can_create,
    sharedPreloadLibraries: preload,
    extensions: (row.extensions as Array<Omit<ExtensionFacts, 'preloaded'>>).map((e) => ({
      name: e.name,
      available: e.available,
      installedVersion: e.installedVersion ?? undefined,
      schema: e.schema ?? undefined,
      preloaded: preload?.includes(e.name),
    })),
  };
}

/** The server's major version (e.g. 17 for 170004). */
export const serverMajor = (facts: ServerFacts): number => Math.floor(facts.serverVersionNum / 10000);
