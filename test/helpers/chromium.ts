import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's Chromium on this machine, if installed (never downloaded). */
export function findChromium(): string | undefined {
  try {
    const found = execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
    if (found) return found;
  } catch {
    // not on PATH
  }
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
}

/** CI installs Chromium: there a missing browser is a failure, not a skip. */
export const expectChromium = Boolean(process.env.CI || process.env.PGWARDEN_EXPECT_CHROMIUM);
