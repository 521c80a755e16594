import type { CheckDefinition, Finding } from '../types.js';
import { exposedRule, exposedSchemas, outcome } from './rls-scope.js';

// Names of columns that usually hold secrets or regulated personal data, as word sequences.
const sensitiveTerms: readonly string[][] = [
  'password',
  'passwd',
  'passphrase',
  'pwd',
  'secret',
  'token',
  'api_key',
  'apikey',
  'private_key',
  'access_key',
  'ssn',
  'social_security',
  'credit_card',
  'card_number',
  'cc_number',
  'cvv',
  'cvc',
  'iban',
  'tax_id',
  'taxid',
  'national_id',
  'passport_number',
  'driver_license',
  'drivers_license',
  'bank_account',
  'account_number',
  'routing_number',
  'dob',
  'date_of_birth',
  'birth_date',
  'birthdate',
  'recovery_code',
  'backup_code',
  'otp',
].map((t) => t.split('_'));

// A word next to the match that says the column holds something else: a hash, an id, a kind, a
// count, a date, a masked or encrypted form.
const qualifiersAfter = new Set([
  'hash', 'hashed', 'digest', 'salt', 'id', 'ids', 'type', 'kind', 'count', 'len', 'length', 'hint', 'expires',
  'expiry', 'version', 'last4', 'prefix', 'suffix', 'mask', 'masked', 'encrypted', 'enc', 'ciphertext',
  'fingerprint', 'policy', 'reset', 'required', 'changed', 'updated', 'at', 'status', 'enabled', 'ref',
]); // prettier-ignore
const qualifiersBefore = new Set(['hashed', 'encrypted', 'enc', 'masked', 'has', 'is', 'last']);

/** The words of a column name: snake_case, kebab-case and camelCase split, lower-cased. */
const wordsOf = (name: string): string[] =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');

/**
 * The sensitive term a column name contains, or undefined.
 *
 * @example
 * sensitiveTerm('api_key'); // 'api_key'
 * sensitiveTerm('password_hash'); // undefined
 */
export function sensitiveTerm(name: string): string | undefined {
  const words = wordsOf(name);
  for (const term of sensitiveTerms) {
    for (let i = 0; i + term.length <= words.length; i++) {
      if (!term.every((w, k) => words[i + k] === w)) continue;
      const after = words[i + term.length];
      const before = words[i - 1];
      if ((after && qualifiersAfter.has(after)) || (before && qualifiersBefore.has(before))) continue;
      return term.join('_');
    }
  }
  return undefined;
}

interface ColumnRow {
  table: string;
  column: string;
  ident: string;
  type: string;
}

/**
 * PRIV-008: sensitive-looking columns stored as text or JSON in exposed schemas.
 *
 * @example
 * const checks = [sensitiveColumnCheck]; // scanDatabase(conn, { checks })
 */
export const sensitiveColumnCheck: CheckDefinition = {
  id: 'PRIV-008',
  family: 'privilege',
  section: 'Privileges and schema',
  title: 'Sensitive-looking columns in exposed schemas are not stored in clear',
  severity: 'medium',
  source: 'sql',
  references: ['splinter 0023_sensitive_columns_exposed', 'ASVS 5.0 V14.1.1', 'ASVS 5.0 V14.2.4'],
  rationale: `Columns named like secrets or regulated personal data (password, secret, token, api_key, ssn, credit_card, card_number, cvv, iban, tax_id, dob/date_of_birth, …) in a text, character or JSON type hold the value in clear: every role that can read the row, every backup and every replica sees it. bytea columns are taken as encrypted, and names that say the value is a hash, an id, a type, a count or an encrypted form (password_hash, token_id, encrypted_ssn) are not reported. ${exposedRule} Partitions are reported through their parent.`,
  remediation:
    'Store secrets as hashes (passwords: argon2id, as pgwarden auth does) or encrypt the column (pgcrypto / pgwarden column encryption, into bytea), and restrict who may select it.',
  evaluate: async (ctx) => {
    const schemas = await exposedSchemas(ctx);
    const rows = await ctx.query<ColumnRow>(
      'priv.text-columns',
      `select pg_catalog.format('%I.%I', n.nspname, c.relname) as "table", a.attname::text as column,
              pg_catalog.quote_ident(a.attname) as ident, pg_catalog.format_type(a.atttypid, a.atttypmod) as type
         from pg_catalog.pg_attribute a
         join pg_catalog.pg_class c on c.oid = a.attrelid
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         join pg_catalog.pg_type t on t.oid = a.atttypid
         left join pg_catalog.pg_type b on b.oid = t.typbasetype and t.typtype = 'd'
        where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = any($1::text[])
          and a.attnum > 0 and not a.attisdropped
          and (coalesce(b.typcategory, t.typcategory) = 'S'
               or coalesce(b.oid, t.oid) in ('pg_catalog.json'::regtype, 'pg_catalog.jsonb'::regtype))
        order by n.nspname, c.relname, a.attnum`,
      [schemas],
    );
    const findings: Finding[] = [];
    for (const r of rows) {
      const term = sensitiveTerm(r.column);
      if (!term) continue;
      findings.push({
        object: `column ${r.table}.${r.ident}`,
        message: `${r.table}.${r.ident} (${r.type}) is named like sensitive data (${term}) and stored in clear`,
        evidence: { type: r.type, matched: term },
      });
    }
    return outcome(findings, { exposedSchemas: schemas, textColumns: rows.length });
  },
};
