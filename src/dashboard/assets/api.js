// The dashboard's calls to its own API (same origin, relative paths, so any base path works).
// The CSRF token lives only in this object's memory; the session cookie is HttpOnly.
/* global fetch */

/** An API answer other than 2xx, with the server's code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function createApi() {
  let csrfToken = null;
  async function call(path, method = 'GET', body = undefined) {
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
      init.body = JSON.stringify(body ?? {});
    }
    const res = await fetch(`api/${path}`, init);
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const error = data && data.error ? data.error : {};
      throw new ApiError(res.status, error.code ?? 'PW000', error.message ?? `request failed (${res.status})`);
    }
    return data;
  }
  return {
    setCsrf(token) {
      csrfToken = typeof token === 'string' ? token : null;
    },
    get: (path) => call(path),
    post: (path, body) => call(path, 'POST', body),
  };
}
