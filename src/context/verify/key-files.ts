import { readFile, stat } from 'node:fs/promises';
import type { JSONWebKeySet } from 'jose';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { AsymmetricAlgorithm, LocalJwksKeys, PemKey } from './verify-options.js';

/** A key file is small; anything larger is not one. */
const MAX_KEY_FILE_BYTES = 1024 * 1024;

const configError = (message: string, path: string) =>
  new PgwardenError(ErrorCodes.JWT_CONFIG_INVALID, message, { detail: path });

/**
 * Verification keys from a local file: a JWKS (`{"keys": [...]}`) or a single public JWK, or an
 * SPKI PEM public key (then `alg` is required). The keys are checked like inline ones when the
 * verifier is created: private key material, `none` and weak keys are refused there.
 *
 * @example
 * const verifier = createTokenVerifier({ keys: await readVerifierKeys('/etc/api/jwks.json'), issuer, audience });
 */
export async function readVerifierKeys(path: string, alg?: AsymmetricAlgorithm): Promise<LocalJwksKeys | PemKey> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw configError('the key file does not exist or is not a file', path);
  if (info.size > MAX_KEY_FILE_BYTES) throw configError('the key file is too large to be a key file', path);
  const text = (await readFile(path, 'utf8')).trim();
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw configError('the key file is not valid JSON', path);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw configError('the key file must hold a JWKS or a JWK object', path);
    }
    const jwks = ('keys' in parsed ? parsed : { keys: [parsed] }) as JSONWebKeySet;
    return { jwks };
  }
  if (text.startsWith('-----BEGIN')) {
    if (!alg) throw configError('a PEM key file needs its algorithm (alg)', path);
    return { pem: text, alg };
  }
  throw configError('the key file holds neither a JWKS, a JWK nor a PEM public key', path);
}
