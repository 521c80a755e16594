import { defineConfig } from 'vitest/config';

// One PostgreSQL cluster per run (test/helpers/global-setup.ts); each test file clones a
// template database installed by pgwarden's own installer. PGWARDEN_PG_BINDIR runs the same
// suite on another installation (CI: Debian's PostgreSQL 15 with pgaudit and pgTAP).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
