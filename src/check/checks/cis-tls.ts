/**
 * A static reading of an OpenSSL cipher list (ssl_ciphers), shared by CIS-6.10 and its tests.
 * OpenSSL's own expansion depends on its version and build; this reads what the list asks for.
 */

/** Cipher classes that are weak, and the exclusions (`!X`) that remove each. */
const WEAK: ReadonlyArray<{ name: string; matches: RegExp; removedBy: string[] }> = [
  { name: 'MEDIUM', matches: /^MEDIUM$/, removedBy: ['MEDIUM'] },
  { name: 'LOW', matches: /^LOW$/, removedBy: ['LOW'] },
  { name: 'EXPORT', matches: /^(EXP|EXPORT|EXPORT40|EXPORT56)$/, removedBy: ['EXP', 'EXPORT'] },
  { name: 'NULL', matches: /^(NULL|ENULL|COMPLEMENTOFALL)$/, removedBy: ['NULL', 'ENULL'] },
  { name: 'aNULL', matches: /^(ANULL|ADH|AECDH)$/, removedBy: ['ANULL', 'ADH'] },
  { name: 'RC4', matches: /^RC4$/, removedBy: ['RC4'] },
  { name: 'RC2', matches: /^RC2$/, removedBy: ['RC2'] },
  { name: '3DES', matches: /^(3DES|DES-CBC3|CBC3)$/, removedBy: ['3DES'] },
  { name: 'DES', matches: /^DES$/, removedBy: ['DES'] },
  { name: 'MD5', matches: /^MD5$/, removedBy: ['MD5'] },
  { name: 'IDEA', matches: /^IDEA$/, removedBy: ['IDEA'] },
  { name: 'SEED', matches: /^SEED$/, removedBy: ['SEED'] },
];

/** Components of explicit suite names (DES-CBC3-SHA, EXP-RC4-MD5, ADH-AES128-SHA) that make them weak. */
const WEAK_NAME_PART: Record<string, string> = {
  RC4: 'RC4',
  RC2: 'RC2',
  DES: 'DES',
  CBC3: '3DES',
  '3DES': '3DES',
  MD5: 'MD5',
  NULL: 'NULL',
  EXP: 'EXPORT',
  EXP1024: 'EXPORT',
  ADH: 'aNULL',
  AECDH: 'aNULL',
  IDEA: 'IDEA',
  SEED: 'SEED',
};

/** Key-exchange keywords that guarantee forward secrecy. */
const FORWARD_SECRET = /^(ECDHE|EECDH|KECDHE|KEECDH|DHE|EDH|KDHE|KEDH)$/;

/**
 * The outcome of reading a cipher list.
 *
 * @example
 * const { weak } = readCipherList('HIGH:MEDIUM:!aNULL'); // weak: ['MEDIUM']
 */
export interface CipherReading {
  /** Weak classes the list adds and does not exclude. */
  weak: string[];
  /** Whether the list can select suites without forward secrecy (static RSA key exchange). */
  nonForwardSecret: boolean;
}

/**
 * Reads an OpenSSL cipher list: `!X` removes X for good, `-X` removes it until re-added, `+X`
 * only reorders, `A+B` adds the suites in both A and B.
 *
 * @example
 * readCipherList('HIGH:MEDIUM:+3DES:!aNULL'); // { weak: ['MEDIUM'], nonForwardSecret: true }
 */
export function readCipherList(list: string): CipherReading {
  const items = list.split(/[:, ]+/).filter((s) => s !== '');
  const excluded = new Set(items.filter((i) => i.startsWith('!')).map((i) => i.slice(1).toUpperCase()));
  const additive = items.filter((i) => !/^[!+\-@]/.test(i)).map((i) => i.toUpperCase());
  const weak = new Set<string>();
  let nonForwardSecret = false;
  for (const item of additive) {
    // TLS 1.3 suite names: ssl_ciphers does not govern TLS 1.3, whose suites all have forward secrecy.
    if (item.startsWith('TLS_')) continue;
    const parts = item.split('+');
    for (const w of WEAK) {
      if (parts.some((p) => w.matches.test(p)) && !w.removedBy.some((r) => excluded.has(r))) weak.add(w.name);
    }
    // An explicit suite name: judged by its own components.
    if (parts.length === 1 && item.includes('-')) {
      const comps = item.split('-');
      for (const c of comps) {
        if (c === 'DES' && comps.includes('CBC3')) continue;
        const cls = WEAK_NAME_PART[c];
        if (cls && !WEAK.find((w) => w.name === cls)?.removedBy.some((r) => excluded.has(r))) weak.add(cls);
      }
      if (!FORWARD_SECRET.test(comps[0]!)) nonForwardSecret = true;
      continue;
    }
    const constrainsKx = parts.some((p) => FORWARD_SECRET.test(p));
    if (!constrainsKx && !excluded.has('KRSA') && !excluded.has('RSA')) nonForwardSecret = true;
  }
  return { weak: [...weak].sort(), nonForwardSecret };
}
