/** Template database holding a full advanced-tier install; test files clone it. */
export const templateDatabase = 'pgwarden_template';
/** Role prefix of the template install (the default). */
export const testRolePrefix = 'pgw_';
/** Password of the authenticator login in the test cluster (set once by global-setup). */
export const authenticatorTestPassword = 'pgwarden-test-authenticator';
