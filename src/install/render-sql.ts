import { quoteIdent, quoteLiteral } from '../db/client.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { MigrationFile } from './catalog.js';
import { type RoleKey, type RoleNames, roleKeys } from './roles.js';

/** Values substituted into SQL files at install time. */
export interface RenderContext {
  prefix: string;
  roles: RoleNames;
  /** Schema holding pgcrypto, once it is installed. */
  pgcryptoSchema: string | undefined;
}

const placeholder = /\{\{([a-z_]+)(?::([a-z_]+))?\}\}/g;

/**
 * Replaces `{{role:owner}}` (quoted identifier), `{{role_literal:owner}}` (string literal),
 * `{{prefix}}` and `{{pgcrypto}}` (quoted schema of pgcrypto) in a SQL file. Line numbers are
 * kept, so a server error position still points at the right line of the shipped file.
 */
export function renderSql(file: MigrationFile, ctx: RenderContext): string {
  return file.sql.replace(placeholder, (whole, kind: string, arg: string | undefined) => {
    const bad = (why: string): never => {
      throw new PgwardenError(ErrorCodes.INSTALL_CATALOG_INVALID, `${file.module}/${file.name}: ${why} in ${whole}`);
    };
    switch (kind) {
      case 'prefix':
        return ctx.prefix;
      case 'pgcrypto':
        return ctx.pgcryptoSchema ? quoteIdent(ctx.pgcryptoSchema) : bad('pgcrypto is not installed yet');
      case 'role':
      case 'role_literal': {
        if (!arg || !(roleKeys as readonly string[]).includes(arg)) return bad('unknown role');
        const name = ctx.roles[arg as RoleKey];
        return kind === 'role' ? quoteIdent(name) : quoteLiteral(name);
      }
      default:
        return bad('unknown placeholder');
    }
  });
}
