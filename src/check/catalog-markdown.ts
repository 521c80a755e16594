import type { CheckDefinition } from './types.js';
import { families } from './types.js';

const familyTitle: Record<string, string> = {
  version: 'Version advisories (VER)',
  cis: 'CIS benchmark over the connection (CIS)',
  host: 'CIS benchmark on the database host (HOST)',
  rls: 'Row-level security lints (RLS)',
  privilege: 'Privilege and schema lints (PRIV)',
  pgwarden: "pgwarden's own controls (PGW)",
};

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n+/g, ' ');

/**
 * The list of every check as Markdown (docs/check.md embeds it; a test keeps the two equal).
 *
 * @example
 * checkCatalogMarkdown(allChecks).startsWith('### Version advisories'); // true
 */
export function checkCatalogMarkdown(checks: readonly CheckDefinition[]): string {
  const out: string[] = [];
  for (const family of families) {
    const list = checks.filter((c) => c.family === family);
    if (list.length === 0) continue;
    out.push(`### ${familyTitle[family]}`, '');
    out.push('| id | severity | title | CIS | STIG | references |', '| --- | --- | --- | --- | --- | --- |');
    for (const c of list) {
      out.push(
        `| ${c.id} | ${c.severity} | ${cell(c.title)} | ${c.cis ?? ''} | ${(c.stig ?? []).join(', ')} | ${cell((c.references ?? []).join(', '))} |`,
      );
    }
    out.push('');
    for (const c of list) {
      out.push(`#### ${c.id}: ${cell(c.title)}`, '', `${c.rationale}`, '', `**Remediation:** ${c.remediation}`, '');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}
