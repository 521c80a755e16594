import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { allChecks, checkCatalogMarkdown } from '../../src/check/index.js';

const docs = new URL('../../docs/check.md', import.meta.url);
const begin = '<!-- checks:begin (generated from src/check/checks; PGWARDEN_UPDATE_SNAPSHOT=1 rewrites it) -->';
const end = '<!-- checks:end -->';

describe('docs/check.md', () => {
  it('lists every check with its severity, CIS and STIG references, rationale and remediation', async () => {
    const text = await readFile(docs, 'utf8');
    const start = text.indexOf(begin);
    const stop = text.indexOf(end);
    expect(start).toBeGreaterThan(0);
    expect(stop).toBeGreaterThan(start);
    const generated = `\n${checkCatalogMarkdown(allChecks)}`;
    if (process.env.PGWARDEN_UPDATE_SNAPSHOT) {
      await writeFile(docs, text.slice(0, start + begin.length) + generated + text.slice(stop));
      return;
    }
    expect(text.slice(start + begin.length, stop)).toBe(generated);
    for (const c of allChecks) expect(text).toContain(`#### ${c.id}:`);
  });
});
