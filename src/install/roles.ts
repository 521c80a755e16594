/** pgwarden's group roles by their unprefixed key: six made by core, auth_service by auth. */
export const roleKeys = [
  'owner',
  'authenticator',
  'anon',
  'app_user',
  'auditor',
  'security_admin',
  'auth_service',
] as const;
export type RoleKey = (typeof roleKeys)[number];
export type RoleNames = Record<RoleKey, string>;

/**
 * The cluster-wide role names for a prefix.
 *
 * @example
 * roleNames('pgw_').authenticator; // 'pgw_authenticator'
 */
export function roleNames(prefix: string): RoleNames {
  return Object.fromEntries(roleKeys.map((k) => [k, `${prefix}${k}`])) as RoleNames;
}
