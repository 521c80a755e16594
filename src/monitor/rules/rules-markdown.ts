import type { Rule } from './rule-schema.js';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();

/** "count ≥ 10, distinct user ≥ 11 …" for a rule (and its `after` part). */
export function describeThreshold(rule: Rule): string {
  const parts: string[] = [];
  if (
    rule.threshold.count > 1 ||
    (Object.keys(rule.threshold.distinct).length === 0 && Object.keys(rule.threshold.sum).length === 0)
  )
    parts.push(rule.threshold.count === 1 ? 'every event' : `${rule.threshold.count} events`);
  for (const [field, n] of Object.entries(rule.threshold.distinct)) parts.push(`${n} distinct ${field}`);
  for (const [field, n] of Object.entries(rule.threshold.sum))
    parts.push(`sum of ${field} ≥ ${n.toLocaleString('en')}`);
  let text = `${parts.join(', ')} within ${rule.window}`;
  if (rule.after)
    text += `, after ${rule.after.count} earlier matching events${rule.after.window ? ` within ${rule.after.window}` : ''}`;
  return text;
}

/**
 * The built-in rules as Markdown (docs/monitor.md embeds it; a test keeps it in step): one table
 * row per rule with its severity, ATT&CK techniques, group-by, threshold and window, then each
 * rule's description.
 *
 * @example
 * const md = rulesMarkdown(await loadRules());
 */
export function rulesMarkdown(rules: readonly Rule[]): string {
  const sorted = [...rules].sort((a, b) => a.origin.localeCompare(b.origin) || a.id.localeCompare(b.id));
  const lines: string[] = [
    '| Rule | Severity | ATT&CK | Counted per | Fires at | Suppress |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of sorted)
    lines.push(
      `| \`${r.id}\` | ${r.severity} | ${r.attack.join(', ')} | ${r.groupBy.length ? r.groupBy.map((g) => `\`${g}\``).join(', ') : 'all events'} | ${cell(describeThreshold(r))} | ${r.suppress} |`,
    );
  lines.push('');
  let family = '';
  for (const r of sorted) {
    const file = r.origin.split('/').pop() ?? r.origin;
    if (file !== family) {
      family = file;
      lines.push(`### ${file}`, '');
    }
    lines.push(`- **\`${r.id}\`: ${cell(r.title)}.** ${cell(r.description)}`);
    if (r.falsePositives.length) lines.push(`  Known false positives: ${r.falsePositives.map(cell).join('; ')}.`);
  }
  lines.push('');
  return lines.join('\n');
}
