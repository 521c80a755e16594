/**
 * Puts a password into the one form every check, hash and verify sees: Unicode NFKC, nothing else.
 * No trimming and no case folding (NIST SP 800-63B-4 §3.1.1.2: spaces and case are part of the
 * secret), so `é` typed as one code point or as `e` + combining accent verifies the same, while
 * `Secret` and `secret ` stay different passwords.
 *
 * @example
 * normalizePassword('pa\u0301ss') === normalizePassword('p\u00e1ss'); // true
 * normalizePassword('pass ') === 'pass '; // true: the space is kept
 */
export function normalizePassword(pw: string): string {
  return pw.normalize('NFKC');
}

/**
 * The length of a string in Unicode code points, which is how password length rules count:
 * an emoji or a CJK character is one character, not two UTF-16 units.
 *
 * @example
 * codePointLength('🔒ab'); // 3
 */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n += 1;
  return n;
}
