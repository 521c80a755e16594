/** One verified claim in the tour. */
export interface DemoCheck {
  ok: boolean;
  text: string;
}

/** One capability shown by the tour. */
export interface DemoSection {
  title: string;
  /** What was done and seen, line by line. */
  lines: string[];
  checks: DemoCheck[];
  ms: number;
}

/** Builds a section: runs `body`, timing it; a thrown error becomes a failed check, not a crash. */
export async function section(
  title: string,
  body: (s: { line(text: string): void; check(ok: boolean, text: string): void }) => Promise<void>,
): Promise<DemoSection> {
  const out: DemoSection = { title, lines: [], checks: [], ms: 0 };
  const started = performance.now();
  try {
    await body({
      line: (t) => out.lines.push(t),
      check: (ok, text) => out.checks.push({ ok, text }),
    });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    out.checks.push({
      ok: false,
      text: `unexpected error ${e.code ?? ''} ${e.message ?? String(err)}`.trim(),
    });
  }
  out.ms = performance.now() - started;
  return out;
}
