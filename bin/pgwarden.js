#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/cli/bin.js (built by `npm run build`, run on `npm ci`).
import { main } from '../dist/cli/bin.js';

const code = await main(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
});
process.exit(code);
