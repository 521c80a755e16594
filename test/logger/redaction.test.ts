import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger/index.js';

describe('createLogger', () => {
  it('never writes a secret, at the top level or nested three deep', () => {
    let out = '';
    const sink = new Writable({
      write(chunk, _enc, done) {
        out += chunk;
        done();
      },
    });
    const log = createLogger({ level: 'info', destination: sink });
    log.info(
      {
        password: 'p-top',
        db: { connectionString: 'postgresql://u:p-url@h/db', nested: { token: 't-deep', deeper: { secret: 's-3' } } },
        headers: { authorization: 'Bearer abc' },
      },
      'event',
    );
    for (const secret of ['p-top', 'p-url', 't-deep', 's-3', 'Bearer abc']) expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
  });
});
