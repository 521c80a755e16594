import { open, stat } from 'node:fs/promises';

/** Enough of the log to hold the lines explaining a failed start. */
const MAX_TAIL_BYTES = 64 * 1024;

/**
 * The last `count` non-empty lines of some output, for error details.
 *
 * @example
 * tailLines('a\nb\nc\n', 2); // 'b\nc'
 */
export function tailLines(text: string, count: number): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join('\n');
}

/**
 * The size of a file, 0 when it does not exist; marks where this start's log lines begin.
 *
 * @example
 * const offset = await fileSize('/var/tmp/pgwarden/server.log');
 */
export async function fileSize(path: string): Promise<number> {
  return stat(path).then(
    (stats) => stats.size,
    () => 0,
  );
}

/**
 * What was appended to a file after `offset` (at most its last 64 KiB), so an error shows this
 * start's log lines and not an older run's.
 *
 * @example
 * const text = await readSince('/var/tmp/pgwarden/server.log', offset);
 */
export async function readSince(path: string, offset: number): Promise<string> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const { size } = await handle.stat();
    // A smaller file was truncated or replaced: everything in it is new.
    const from = Math.max(size < offset ? 0 : offset, size - MAX_TAIL_BYTES);
    const buffer = Buffer.alloc(size - from);
    await handle.read(buffer, 0, buffer.length, from);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}
