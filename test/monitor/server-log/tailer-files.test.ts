import { appendFile, chmod, copyFile, mkdir, mkdtemp, rename, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPgwardenError } from '../../../src/errors/index.js';
import { memoryPositionStore, type UntimedEvent } from '../../../src/monitor/event.js';
import { ServerLogTailer, type ServerLogTailerOptions } from '../../../src/monitor/sources/server-log/index.js';

// Synthetic jsonlog/stderr lines appended to real files, the way PostgreSQL's logging collector
// appends (O_APPEND): what a tailer must survive when logrotate or an admin moves them.
const jsonLine = (n: number) =>
  `{"timestamp":"2026-11-23 06:49:27.889 UTC","user":"app","dbname":"app","pid":7,"remote_host":"10.0.0.1","error_severity":"LOG","message":"statement: select 'seq-${String(n).padStart(4, '0')}'"}\n`;
const lines = (from: number, count: number) => Array.from({ length: count }, (_, i) => jsonLine(from + i)).join('');
const seqOf = (events: readonly UntimedEvent[]) =>
  events
    .map((e) => /seq-(\d+)/.exec(e.statement ?? '')?.[1])
    .filter((s) => s !== undefined)
    .map(Number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

let dir: string;
const dirs: string[] = [];
let tailers: ServerLogTailer[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgw-tail-'));
  dirs.push(dir);
});
afterEach(async () => {
  for (const t of tailers) await t.close();
  tailers = [];
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function tailer(events: UntimedEvent[], options: Partial<ServerLogTailerOptions> = {}) {
  const t = new ServerLogTailer({
    directory: dir,
    format: 'jsonlog',
    positions: memoryPositionStore(),
    startAt: 'beginning',
    onEvents: async (batch) => {
      events.push(...batch);
    },
    ...options,
  });
  tailers.push(t);
  return t;
}

describe('ServerLogTailer on a directory', () => {
  it('loses and repeats no line across 20 rotations of every kind and a restart [F-08]', async () => {
    const events: UntimedEvent[] = [];
    const positions = memoryPositionStore();
    let t = tailer(events, { positions });
    let live = join(dir, 'postgresql.json');
    let n = 1;
    const write = async (file: string, count: number) => {
      await appendFile(file, lines(n, count));
      n += count;
    };
    await write(live, 5);
    for (let rotation = 1; rotation <= 20; rotation++) {
      await t.poll();
      const kind = rotation % 3;
      if (kind === 0) {
        // The server opens a file with a new name (time- or size-based rotation).
        live = join(dir, `postgresql-${String(rotation).padStart(2, '0')}.json`);
        await write(live, 4);
      } else if (kind === 1) {
        // logrotate "create": rename, the server writes on into the renamed file until told to reopen.
        const renamed = `${live}.${rotation}`;
        await rename(live, renamed);
        await write(renamed, 2);
        await t.poll();
        await write(renamed, 1);
        await write(live, 4);
      } else {
        // logrotate "copytruncate": the copy is not followed; the same inode starts again at 0.
        await copyFile(live, `${live}.${rotation}.copy`);
        await truncate(live, 0);
        await write(live, 3);
      }
      if (rotation === 10) {
        await t.close();
        t = tailer(events, { positions });
      }
      await write(live, 2);
    }
    await t.poll();
    await t.poll();
    expect(seqOf(events)).toEqual(range(1, n - 1));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('reads a file truncated in place from byte 0 with new event ids', async () => {
    const events: UntimedEvent[] = [];
    const t = tailer(events);
    const file = join(dir, 'pg.json');
    await writeFile(file, lines(1, 3));
    await t.poll();
    await truncate(file, 0);
    await appendFile(file, lines(4, 1));
    await t.poll();
    expect(seqOf(events)).toEqual([1, 2, 3, 4]);
    const [first, , , fourth] = events;
    expect(first?.id).toMatch(/^log:\d+-\d+:0$/);
    expect(fourth?.id).toMatch(/^log:\d+-\d+\.1:0$/);
  });

  it('notices a file emptied and refilled past the old offset between two polls', async () => {
    const events: UntimedEvent[] = [];
    const t = tailer(events);
    const file = join(dir, 'pg.json');
    await writeFile(file, lines(1, 2));
    await t.poll();
    await writeFile(file, lines(3, 5)); // same inode, longer than before
    await t.poll();
    expect(seqOf(events)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('reads a file deleted while being read to its end', async () => {
    const events: UntimedEvent[] = [];
    const t = tailer(events, { maxBytesPerPoll: 600 });
    const file = join(dir, 'pg.json');
    await writeFile(file, lines(1, 10));
    await t.poll();
    expect(seqOf(events).length).toBeLessThan(10);
    await unlink(file);
    for (let i = 0; i < 10; i++) await t.poll();
    expect(seqOf(events)).toEqual(range(1, 10));
  });

  it('does not emit a partial last line until it is complete, across a restart', async () => {
    const events: UntimedEvent[] = [];
    const positions = memoryPositionStore();
    const file = join(dir, 'pg.json');
    const whole = lines(1, 2);
    const cut = whole.length - 30;
    await writeFile(file, whole.slice(0, cut));
    const first = tailer(events, { positions });
    await first.poll();
    expect(seqOf(events)).toEqual([1]);
    await first.close();
    await appendFile(file, whole.slice(cut));
    const second = tailer(events, { positions });
    await second.poll();
    expect(seqOf(events)).toEqual([1, 2]);
    expect(events[1]?.id.endsWith(`:${Buffer.byteLength(jsonLine(1))}`)).toBe(true);
  });

  it('offers a batch the handler rejected again, then moves on', async () => {
    const events: UntimedEvent[] = [];
    let fail = true;
    const t = tailer(events, {
      onEvents: async (batch) => {
        if (fail) throw new Error('sink down');
        events.push(...batch);
      },
    });
    await writeFile(join(dir, 'pg.json'), lines(1, 3));
    await expect(t.poll()).rejects.toThrow('sink down');
    fail = false;
    await t.poll();
    await t.poll();
    expect(seqOf(events)).toEqual([1, 2, 3]);
  });

  it('skips what the files held at the first start when startAt is end', async () => {
    const events: UntimedEvent[] = [];
    const file = join(dir, 'pg.json');
    await writeFile(file, lines(1, 3));
    const t = tailer(events, { startAt: 'end' });
    await t.poll();
    await appendFile(file, lines(4, 2));
    await t.poll();
    expect(seqOf(events)).toEqual([4, 5]);
  });

  it('releases a held stderr record once the file stays quiet for a poll', async () => {
    const events: UntimedEvent[] = [];
    const t = tailer(events, { format: 'stderr' });
    await writeFile(
      join(dir, 'pg.log'),
      '2026-11-23 06:49:27.889 UTC [7] 42601 [6b03e1f7.7:1] 10.0.0.1 u=app d=app a=psql [6b03e1f7.7] ERROR:  syntax error at or near "selec" at character 1\n' +
        '2026-11-23 06:49:27.889 UTC [7] 42601 [6b03e1f7.7:2] 10.0.0.1 u=app d=app a=psql [6b03e1f7.7] STATEMENT:  selec 1\n',
    );
    expect(await t.poll()).toBe(0);
    expect(await t.poll()).toBe(1);
    expect(events[0]).toMatchObject({ type: 'pg.error', statement: 'selec 1', fields: { category: 'syntax_probe' } });
  });

  it('reports lag and the last read time', async () => {
    const events: UntimedEvent[] = [];
    const t = tailer(events, { maxBytesPerPoll: 300, clock: () => 42 });
    await writeFile(join(dir, 'pg.json'), lines(1, 4));
    await t.poll();
    expect(t.lagBytes()).toBeGreaterThan(0);
    expect(t.lastReadAt).toBe(42);
    for (let i = 0; i < 5; i++) await t.poll();
    expect(t.lagBytes()).toBe(0);
  });

  it('refuses a directory it cannot read with PW603 and a hint', async () => {
    const t = tailer([], { directory: join(dir, 'missing') });
    const error: unknown = await t.poll().catch((e: unknown) => e);
    expect(isPgwardenError(error, 'PW603')).toBe(true);
    expect((error as { hint?: string }).hint).toContain('log_directory');
  });

  it('reports through onState when the directory is missing and again when it is back', async () => {
    const states: string[] = [];
    const t = tailer([], { directory: join(dir, 'later'), onState: (s) => states.push(s.kind), pollIntervalMs: 20 });
    await t.start();
    expect(states).toEqual(['unavailable']);
    await mkdir(join(dir, 'later'));
    await expect.poll(() => states, { timeout: 5_000 }).toEqual(['unavailable', 'available']);
  });

  it('reads nothing from files it is not allowed to open, and says why', async () => {
    if (process.getuid?.() === 0) return; // root reads everything
    const file = join(dir, 'pg.json');
    await writeFile(file, lines(1, 1));
    await chmod(file, 0o000);
    const error: unknown = await tailer([])
      .poll()
      .catch((e: unknown) => e);
    expect(isPgwardenError(error, 'PW603')).toBe(true);
  });
});
