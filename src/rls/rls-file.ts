import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { issueLines, type ProtectOptions, specError, tableOptionsSchema } from './table-spec.js';

/** Policy file names looked up, in order, in the working directory. */
export const rlsFileNames = ['pgwarden.rls.yaml', 'pgwarden.rls.yml', 'pgwarden.rls.json'] as const;

/** A parsed policy file: the whole truth about which tables and views pgwarden protects. */
export interface RlsFile {
  path: string;
  tables: ProtectOptions[];
  views: string[];
  /** Drop pgwarden's policies from tables the file does not list (default true). */
  prune: boolean;
}

const fileSchema = z
  .object({
    version: z.literal(1).optional(),
    prune: z.boolean().optional(),
    tables: z.record(z.string().min(1), tableOptionsSchema).optional(),
    views: z.array(z.string().min(1)).optional(),
  })
  .strict();

/**
 * Parses the text of a policy file (YAML, or JSON, which is YAML too). Throws PW357 listing every
 * problem with its key path.
 *
 * @example
 * const file = parseRlsFile(`
 * tables:
 *   app.invoices:
 *     tenantColumn: tenant_id
 *     permission: { read: invoices.read, write: invoices.write }
 * views: [app.open_invoices]
 * `, 'pgwarden.rls.yaml');
 */
export function parseRlsFile(text: string, path: string): RlsFile {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw specError([`cannot parse: ${(err as Error).message.split('\n')[0]}`], path);
  }
  const parsed = fileSchema.safeParse(data ?? {});
  if (!parsed.success) throw specError(issueLines(parsed.error.issues), path);
  const tables = Object.entries(parsed.data.tables ?? {}).map(([table, options]) => ({ table, ...options }));
  return { path, tables, views: parsed.data.views ?? [], prune: parsed.data.prune ?? true };
}

/**
 * Reads the policy file at `path` (relative to `cwd`), or the first of `rlsFileNames` in `cwd`.
 * PW357 when there is none or it is invalid.
 */
export async function readRlsFile(cwd: string, path?: string): Promise<RlsFile> {
  const candidates = path ? [resolve(cwd, path)] : rlsFileNames.map((name) => resolve(cwd, name));
  for (const candidate of candidates) {
    let text: string;
    try {
      text = await readFile(candidate, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !path) continue;
      throw new PgwardenError(ErrorCodes.RLS_SPEC_INVALID, `cannot read the policy file ${candidate}`, {
        detail: (err as Error).message,
        hint: 'check the path given with --file',
      });
    }
    return parseRlsFile(text, candidate);
  }
  throw new PgwardenError(ErrorCodes.RLS_SPEC_INVALID, `no policy file in ${cwd}`, {
    detail: `looked for ${rlsFileNames.join(', ')}`,
    hint: 'write pgwarden.rls.yaml (see docs/rls.md) or name one with --file',
  });
}
