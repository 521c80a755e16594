import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadRules, rulesMarkdown } from '../../../src/monitor/rules/index.js';

const docs = new URL('../../../docs/monitor.md', import.meta.url);
const begin = '<!-- rules:begin (generated from rules/postgres; PGWARDEN_UPDATE_SNAPSHOT=1 rewrites it) -->';
const end = '<!-- rules:end -->';

describe('docs/monitor.md', () => {
  it('lists every built-in rule with its severity, ATT&CK ids, grouping, threshold and window', async () => {
    const text = await readFile(docs, 'utf8');
    const start = text.indexOf(begin);
    const stop = text.indexOf(end);
    expect(start).toBeGreaterThan(0);
    expect(stop).toBeGreaterThan(start);
    const rules = await loadRules();
    const generated = `\n${rulesMarkdown(rules)}`;
    if (process.env.PGWARDEN_UPDATE_SNAPSHOT) {
      await writeFile(docs, text.slice(0, start + begin.length) + generated + text.slice(stop));
      return;
    }
    expect(text.slice(start + begin.length, stop)).toBe(generated);
    for (const r of rules) expect(text).toContain(`\`${r.id}\``);
  });
});
