import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint } from 'jose';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { SecretBox } from './secret-box.js';

/** JWS algorithms pgwarden signs access tokens with. */
export type SigningAlgorithm = 'EdDSA' | 'ES256';

/**
 * The public half of a signing key as published in the JWKS: no private members, ever. (A type
 * alias, not an interface, so it fits where a `Record<string, unknown>` is stored.)
 */
export type PublicSigningJwk = {
  kty: 'OKP' | 'EC';
  crv: 'Ed25519' | 'P-256';
  x: string;
  /** EC keys only. */
  y?: string;
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
};

/** A new signing key. Seal `privatePkcs8` with `sealPrivateKey` before storing it. */
export interface SigningKey {
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key. */
  kid: string;
  alg: SigningAlgorithm;
  publicJwk: PublicSigningJwk;
  /** PKCS#8 DER of the private key. */
  privatePkcs8: Buffer;
}

const generate = promisify(generateKeyPair);

/**
 * Generates a JWT signing key pair: Ed25519 for `EdDSA`, P-256 for `ES256`. The key id is the
 * public key's JWK thumbprint, so the same key always has the same id.
 *
 * @example
 * const key = await generateSigningKey('EdDSA');
 * await storeKey(key.kid, key.publicJwk, sealPrivateKey(box, key));
 */
export async function generateSigningKey(alg: SigningAlgorithm): Promise<SigningKey> {
  let pair: { publicKey: KeyObject; privateKey: KeyObject };
  if (alg === 'EdDSA') pair = await generate('ed25519');
  else if (alg === 'ES256') pair = await generate('ec', { namedCurve: 'P-256' });
  else throw new PgwardenError(ErrorCodes.INTERNAL, 'signing keys are EdDSA or ES256');
  const exported = pair.publicKey.export({ format: 'jwk' });
  const base = {
    kty: exported.kty as PublicSigningJwk['kty'],
    crv: exported.crv as PublicSigningJwk['crv'],
    x: exported.x as string,
    ...(exported.y === undefined ? {} : { y: exported.y }),
  };
  const kid = await calculateJwkThumbprint(base, 'sha256');
  return {
    kid,
    alg,
    publicJwk: { ...base, kid, alg, use: 'sig' },
    privatePkcs8: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
}

/**
 * Seals a signing key's private half for storage, bound to its kid (aad `jwt-key:<kid>`), so a
 * sealed key moved to another key's row does not open.
 *
 * @example
 * const sealed = sealPrivateKey(new SecretBox(masterKey, 'jwt-signing-key'), key);
 */
export function sealPrivateKey(box: SecretBox, key: Pick<SigningKey, 'kid' | 'privatePkcs8'>): Buffer {
  return box.seal(key.privatePkcs8, `jwt-key:${key.kid}`);
}

/**
 * Opens a private key sealed by `sealPrivateKey` for the given kid, giving back its PKCS#8 DER.
 * Throws `AUTH_MASTER_KEY` if it was sealed with another master key, altered, or sealed for
 * another kid.
 *
 * @example
 * const pkcs8 = openPrivateKey(box, row.privateKeySealed, row.kid);
 * const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
 */
export function openPrivateKey(box: SecretBox, sealed: Uint8Array, kid: string): Buffer {
  return box.open(sealed, `jwt-key:${kid}`);
}

/**
 * A verification key from a stored public JWK. Refuses a JWK with private members.
 *
 * @example
 * const keys = (kid: string) => {
 *   const jwk = publicJwks.get(kid);
 *   return jwk && publicKeyFromJwk(jwk);
 * };
 */
export function publicKeyFromJwk(jwk: PublicSigningJwk): KeyObject {
  if ('d' in jwk) {
    throw new PgwardenError(ErrorCodes.INTERNAL, 'a public JWK must not carry the private member "d"');
  }
  return createPublicKey({ key: publicMembers(jwk), format: 'jwk' });
}

/**
 * The JWKS document (`/.well-known/jwks.json`) for the given keys. Only public members are copied,
 * whatever the input carries.
 *
 * @example
 * response.json(toJwks([current, previous])); // { keys: [{ kty: 'OKP', crv: 'Ed25519', x, kid, alg, use }] }
 */
export function toJwks(keys: Iterable<PublicSigningJwk | Pick<SigningKey, 'publicJwk'>>): { keys: PublicSigningJwk[] } {
  const out: PublicSigningJwk[] = [];
  for (const key of keys) {
    const jwk = 'publicJwk' in key ? key.publicJwk : key;
    out.push({ ...publicMembers(jwk), kid: jwk.kid, alg: jwk.alg, use: 'sig' });
  }
  return { keys: out };
}

function publicMembers(jwk: PublicSigningJwk): Pick<PublicSigningJwk, 'kty' | 'crv' | 'x' | 'y'> {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y === undefined ? {} : { y: jwk.y }) };
}
