import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { Blocklist } from './blocklist.js';
import { codePointLength, normalizePassword } from './normalize.js';

/** One rule a new password breaks. */
export type PasswordViolation = 'too_short' | 'too_long' | 'blocklisted' | 'context_word';

/**
 * The password rules (NIST SP 800-63B-4 §3.1.1.2, OWASP ASVS 5 §6.2). There are deliberately no
 * composition rules (no "one digit, one symbol") and no expiry: length, a blocklist and
 * context words only.
 */
export interface PasswordPolicy {
  /** Minimum length in code points after NFKC. NIST asks for 15 when the password is the only factor. */
  minLength: number;
  /** Maximum length in code points after NFKC; at least 64 (NIST), 128 accepted by default. */
  maxLength: number;
  /** Common and breached passwords to refuse; `Blocklist.fromEntries([])` for none. */
  blocklist: Blocklist;
  /** Words of this product or site that a password must not contain. */
  productWords: readonly string[];
}

/** `checkPassword`'s policy argument: only the blocklist is required, the rest defaults. */
export type PasswordPolicyOptions = Partial<Omit<PasswordPolicy, 'blocklist'>> & Pick<PasswordPolicy, 'blocklist'>;

/** What is known about the account, so a password cannot be built from it (ASVS 6.2.11). */
export interface PasswordContext {
  email?: string | undefined;
  displayName?: string | undefined;
  /** More words to refuse, e.g. the organisation's or the tenant's name. */
  extraWords?: readonly string[] | undefined;
}

/** The outcome of `checkPassword`. */
export type PasswordCheckResult = { ok: true } | { ok: false; violations: PasswordViolation[] };

/** Default minimum length (code points). */
export const DEFAULT_PASSWORD_MIN_LENGTH = 8;
/** Default maximum length (code points). */
export const DEFAULT_PASSWORD_MAX_LENGTH = 256;
/** Default product words. */
export const DEFAULT_PRODUCT_WORDS: readonly string[] = Object.freeze(['pgwarden']);
/** Context words shorter than this (in code points) are ignored, so a name like "Al" does not ban "al". */
export const MIN_CONTEXT_WORD_LENGTH = 3;
/** The smallest maximum length a policy may set (NIST: verifiers SHALL accept at least 64). */
const MIN_ALLOWED_MAX_LENGTH = 64;
/**
 * NFKC can shrink text (a letter plus three combining marks becomes one code point), so a password
 * is only normalised when it is not absurdly long; beyond this factor it is too long outright.
 */
const RAW_LENGTH_FACTOR = 8;

/**
 * The defaults, without a blocklist (loading one is asynchronous).
 *
 * @example
 * const policy = { ...defaultPasswordPolicy, blocklist: await loadDefaultBlocklist() };
 */
export const defaultPasswordPolicy = Object.freeze({
  minLength: DEFAULT_PASSWORD_MIN_LENGTH,
  maxLength: DEFAULT_PASSWORD_MAX_LENGTH,
  productWords: DEFAULT_PRODUCT_WORDS,
});

/**
 * Fills in the defaults and validates a policy; throws PW100 when it is unusable.
 *
 * @example
 * const policy = resolvePasswordPolicy({ blocklist, minLength: 15 });
 */
export function resolvePasswordPolicy(options: PasswordPolicyOptions): PasswordPolicy {
  const policy: PasswordPolicy = {
    minLength: options.minLength ?? DEFAULT_PASSWORD_MIN_LENGTH,
    maxLength: options.maxLength ?? DEFAULT_PASSWORD_MAX_LENGTH,
    blocklist: options.blocklist,
    productWords: options.productWords ?? DEFAULT_PRODUCT_WORDS,
  };
  const problems: string[] = [];
  if (!Number.isInteger(policy.minLength) || policy.minLength < 1) problems.push('minLength must be an integer >= 1');
  if (!Number.isInteger(policy.maxLength) || policy.maxLength < Math.max(policy.minLength, MIN_ALLOWED_MAX_LENGTH)) {
    problems.push(`maxLength must be an integer >= minLength and >= ${MIN_ALLOWED_MAX_LENGTH}`);
  }
  if (problems.length > 0) {
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'the password policy is invalid', {
      detail: problems.join('; '),
    });
  }
  return policy;
}

/**
 * Checks a new password against the policy and returns every rule it breaks. Length counts code
 * points after NFKC; the blocklist and context words compare lowercased text.
 *
 * @example
 * const result = checkPassword('correct horse battery staple', { email: 'ann@example.com' }, { blocklist });
 * if (!result.ok) console.log(result.violations); // e.g. ['blocklisted']
 */
export function checkPassword(
  password: string,
  context: PasswordContext,
  options: PasswordPolicyOptions,
): PasswordCheckResult {
  const policy = resolvePasswordPolicy(options);
  if (password.length > policy.maxLength * RAW_LENGTH_FACTOR) return { ok: false, violations: ['too_long'] };
  const normalized = normalizePassword(password);
  const length = codePointLength(normalized);
  const violations: PasswordViolation[] = [];
  if (length < policy.minLength) violations.push('too_short');
  if (length > policy.maxLength) violations.push('too_long');
  if (policy.blocklist.has(normalized)) violations.push('blocklisted');
  const folded = normalized.toLowerCase();
  if (contextWords(context, policy.productWords).some((word) => folded.includes(word))) {
    violations.push('context_word');
  }
  return violations.length === 0 ? { ok: true } : { ok: false, violations };
}

/**
 * Like `checkPassword`, but throws PW301 (AUTH_PASSWORD_REJECTED) naming the broken rules in
 * `detail` (`rules: too_short, blocklisted`). Neither message, detail nor hint contains the password.
 *
 * @example
 * assertPasswordAcceptable(newPassword, { email: user.email, displayName: user.name }, { blocklist });
 */
export function assertPasswordAcceptable(
  password: string,
  context: PasswordContext,
  options: PasswordPolicyOptions,
): void {
  const result = checkPassword(password, context, options);
  if (result.ok) return;
  const policy = resolvePasswordPolicy(options);
  throw new PgwardenError(ErrorCodes.AUTH_PASSWORD_REJECTED, 'the new password does not meet the password policy', {
    detail: `rules: ${result.violations.join(', ')}`,
    hint: result.violations.map((v) => adviceFor(v, policy)).join('; '),
  });
}

function adviceFor(violation: PasswordViolation, policy: PasswordPolicy): string {
  switch (violation) {
    case 'too_short':
      return `use at least ${policy.minLength} characters; a passphrase of several words works well`;
    case 'too_long':
      return `use at most ${policy.maxLength} characters`;
    case 'blocklisted':
      return 'choose a password that is not on the list of common or leaked passwords';
    case 'context_word':
      return 'do not build the password from your email address, your name or the name of this service';
  }
}

/** Lowercased NFKC words the password must not contain, each at least MIN_CONTEXT_WORD_LENGTH long. */
function contextWords(context: PasswordContext, productWords: readonly string[]): string[] {
  const fold = (s: string) => normalizePassword(s).toLowerCase();
  const words: string[] = [];
  const email = fold(context.email?.trim() ?? '');
  if (email.length > 0) {
    words.push(email);
    const at = email.lastIndexOf('@');
    const local = at > 0 ? email.slice(0, at) : '';
    words.push(local);
    // Sub-addressing: ann+shop@example.com is still Ann's address.
    const plus = local.indexOf('+');
    if (plus > 0) words.push(local.slice(0, plus));
  }
  if (context.displayName) words.push(...fold(context.displayName).split(/[^\p{L}\p{N}]+/u));
  for (const word of [...productWords, ...(context.extraWords ?? [])]) words.push(fold(word));
  return words.filter((word) => codePointLength(word) >= MIN_CONTEXT_WORD_LENGTH);
}
