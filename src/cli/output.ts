import { ErrorCodes, type PgwardenError } from '../errors/index.js';

/** Where a command writes, and how. Commands never touch process.stdout directly. */
export interface Output {
  json: boolean;
  color: boolean;
  out(line?: string): void;
  err(line?: string): void;
  /**
   * A transient status line on stderr, rewritten in place (empty text clears it). Only on a
   * terminal: absent when stderr is a pipe or a file, where progress is plain lines.
   */
  status?: (text: string) => void;
}

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
} as const;
export type Style = keyof typeof codes;

/** Wraps text in an ANSI style unless color is off (NO_COLOR, not a TTY, or --json). */
export function paint(output: Output, style: Style, text: string): string {
  if (!output.color) return text;
  const [open, close] = codes[style];
  return `\u001b[${open}m${text}\u001b[${close}m`;
}

/** Prints a value as pretty JSON on stdout (the `--json` form of every command). */
export function printJson(output: Output, value: unknown): void {
  output.out(JSON.stringify(value, null, 2));
}

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** Prints an error as one line with its code, then detail and hint; or as JSON with --json. */
export function printError(output: Output, error: PgwardenError): void {
  if (output.json) {
    output.out(JSON.stringify({ ok: false, error: error.toJSON() }, null, 2));
    return;
  }
  output.err(`${paint(output, 'red', `error ${error.code}`)}: ${error.message}`);
  if (error.detail) for (const line of error.detail.split('\n')) output.err(`  ${paint(output, 'dim', line)}`);
  if (error.hint) output.err(`  hint: ${error.hint}`);
  if (error.code === ErrorCodes.INTERNAL && error.cause instanceof Error && error.cause.stack) {
    output.err(paint(output, 'dim', error.cause.stack));
  }
}
