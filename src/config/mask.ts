import type { PgwardenConfig } from './schema.js';

const secretKey = /(password|secret|token|key)$/i;

/** Replaces the password in a libpq URI with `***`, keeping the rest readable. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of [...parsed.searchParams.keys()]) {
      if (secretKey.test(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.toString();
  } catch {
    // Not a URL we can parse (a keyword/value string): hide it whole rather than risk a leak.
    return '***';
  }
}

/**
 * A copy of the config safe to print: URLs lose their password, secret-looking keys become `***`.
 *
 * @example
 * console.log(JSON.stringify(maskConfig(config), null, 2));
 */
export function maskConfig(config: PgwardenConfig): PgwardenConfig {
  const walk = (value: unknown, key: string): unknown => {
    if (typeof value === 'string') {
      if (key === 'url') return maskUrl(value);
      return secretKey.test(key) ? '***' : value;
    }
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return walk(config, '') as PgwardenConfig;
}
