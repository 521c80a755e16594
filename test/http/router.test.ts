import { describe, expect, it } from 'vitest';
import { ErrorCodes, isPgwardenError } from '../../src/errors/index.js';
import { type Handler, Router } from '../../src/http/index.js';

const h =
  (name: string): Handler =>
  async () => ({ status: 200, body: { name } });

async function nameOf(router: Router, method: string, path: string): Promise<unknown> {
  const m = router.match(method, path);
  if (!m.found) return m.error.code;
  const result = await m.handler({} as never);
  return (result.body as { name: string }).name;
}

describe('Router', () => {
  it('matches literal paths and :param segments, decoding them', () => {
    const router = new Router().add('GET', '/users/:id', h('user')).add('GET', '/users/:id/keys/:keyId', h('key'));
    const m = router.match('GET', '/users/a%20b/keys/k1');
    expect(m).toMatchObject({ found: true, route: '/users/:id/keys/:keyId', params: { id: 'a b', keyId: 'k1' } });
    expect(router.match('GET', '/users/42')).toMatchObject({ found: true, params: { id: '42' }, route: '/users/:id' });
  });

  it('prefers a literal segment over a parameter, and falls back to the parameter for other methods', async () => {
    const router = new Router()
      .add('GET', '/users/me', h('me'))
      .add('GET', '/users/:id', h('by-id'))
      .add('DELETE', '/users/:id', h('delete'));
    expect(await nameOf(router, 'GET', '/users/me')).toBe('me');
    expect(await nameOf(router, 'GET', '/users/7')).toBe('by-id');
    expect(await nameOf(router, 'DELETE', '/users/me')).toBe('delete');
  });

  it('denies unknown paths with PW052', () => {
    const router = new Router().add('GET', '/users/:id', h('user'));
    for (const path of ['/nope', '/users', '/users/', '/users/1/extra', 'users/1', '']) {
      const m = router.match('GET', path);
      expect(m.found, path).toBe(false);
      if (!m.found) {
        expect(m.error.code).toBe(ErrorCodes.HTTP_NOT_FOUND);
        expect(m.route).toBeUndefined();
      }
    }
  });

  it('denies a known path with the wrong method with PW053 and an Allow list', () => {
    const router = new Router().add('GET', '/items/:id', h('get')).add('PUT', '/items/:id', h('put'));
    const m = router.match('POST', '/items/1');
    expect(m.found).toBe(false);
    if (m.found) return;
    expect(isPgwardenError(m.error, ErrorCodes.HTTP_METHOD_NOT_ALLOWED)).toBe(true);
    expect(m.error.headers).toEqual({ Allow: 'GET, HEAD, PUT' });
    expect(m.route).toBe('/items/:id');
  });

  it('serves HEAD with the GET handler', async () => {
    const router = new Router().add('GET', '/x', h('x'));
    expect(await nameOf(router, 'HEAD', '/x')).toBe('x');
  });

  it('treats malformed percent-encoding as no such endpoint', () => {
    const router = new Router().add('GET', '/users/:id', h('user'));
    const m = router.match('GET', '/users/%E0%A4%A');
    expect(m.found ? 'found' : m.error.code).toBe(ErrorCodes.HTTP_NOT_FOUND);
  });

  it('refuses malformed and duplicate routes', () => {
    const router = new Router().add('GET', '/a/:id', h('a'));
    expect(() => router.add('GET', '/a/:other', h('b'))).toThrow(/already defined/);
    expect(() => router.add('GET', 'a', h('b'))).toThrow(/start with/);
    expect(() => router.add('GET', '/b/:', h('b'))).toThrow(/malformed parameter/);
    expect(() => router.add('GET', '/b/:x/:x', h('b'))).toThrow(/repeats/);
    expect(() => router.add('GE T', '/c', h('b'))).toThrow(/method/);
  });
});
