import { PgwardenError } from '../../src/errors/index.js';

/** The PgwardenError `fn` throws; fails the test when it throws nothing or something else. */
export function caught(fn: () => unknown): PgwardenError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PgwardenError) return err;
    throw err;
  }
  throw new Error('expected a PgwardenError');
}

/** The PgwardenError `promise` rejects with; fails the test when it resolves or rejects with something else. */
export async function rejected(promise: Promise<unknown>): Promise<PgwardenError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PgwardenError) return err;
    throw err;
  }
  throw new Error('expected a PgwardenError');
}
