// Copies the files the built package serves as they are (the dashboard's page, script and
// styles) next to the compiled code, since tsc copies only what it compiles.
import { cp, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';

const pairs = [['src/dashboard/assets', 'dist/dashboard/assets']];
for (const [from, to] of pairs) {
  if (!existsSync(from)) continue;
  await rm(to, { recursive: true, force: true });
  await mkdir(to, { recursive: true });
  await cp(from, to, { recursive: true });
}
