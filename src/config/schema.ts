import { z } from 'zod';

/** The three install tiers; each includes the one before it. */
export const tierNames = ['basic', 'standard', 'advanced'] as const;
export type TierName = (typeof tierNames)[number];

const roleIdent = /^[a-z_][a-z0-9_]{0,30}$/;

// The URI forms node-postgres understands. Checked here so a typo is a config error naming the
// key (PW100, exit 2), not a crash inside the driver; the message never echoes the value.
function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return ['postgres:', 'postgresql:'].includes(url.protocol) && (url.port === '' || /^\d+$/.test(url.port));
  } catch {
    return false;
  }
}

/**
 * The one schema every config source is validated against. Defaults live here, so the schema is
 * also the documentation of every key (see `pgwarden init`).
 */
export const configSchema = z
  .object({
    database: z
      .object({
        /** libpq URI; wins over `DATABASE_URL` and `PG*`; empty means "not given". */
        url: z
          .string()
          .refine((v) => v === '' || isPostgresUrl(v), {
            message: 'expected a postgresql://user@host:port/database URI',
          })
          .optional(),
        /** Database used on the embedded cluster. */
        name: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/)
          .default('pgwarden'),
        connectTimeoutMs: z.coerce.number().int().positive().default(10_000),
        statementTimeoutMs: z.coerce.number().int().nonnegative().default(60_000),
      })
      .strict()
      .prefault({}),
    embedded: z
      .object({
        /** Where the embedded cluster keeps its data, relative to the working directory. */
        dir: z.string().min(1).default('.pgwarden'),
        /** Fixed port; 0 picks a free loopback port. */
        port: z.coerce.number().int().min(0).max(65535).default(0),
        /** OS user that runs the server when pgwarden runs as root. */
        osUser: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]*$/)
          .default('postgres'),
        /** Another PostgreSQL installation's bin directory instead of the embedded binaries. */
        bindir: z.string().optional(),
      })
      .strict()
      .prefault({}),
    install: z
      .object({
        tier: z.enum(tierNames).default('advanced'),
        /** Prefix of the cluster-wide role names (`pgw_owner`, `pgw_authenticator`, …). */
        rolePrefix: z
          .string()
          .regex(roleIdent, 'lowercase letters, digits and _; at most 31 characters')
          .default('pgw_'),
        /** How long to wait for another installer holding the install lock. */
        lockTimeoutMs: z.coerce.number().int().positive().default(300_000),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** The validated, fully defaulted configuration. */
export type PgwardenConfig = z.output<typeof configSchema>;
/** What a user may write: every key optional. */
export type PgwardenConfigInput = z.input<typeof configSchema>;
