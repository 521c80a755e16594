import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardCsp } from '../../src/dashboard/index.js';
import { DashboardClient, type DashboardFixture, dashboardFixture } from './helpers/dashboard-fixture.js';

const assetsDir = new URL('../../src/dashboard/assets/', import.meta.url);

let d: DashboardFixture;
beforeAll(async () => {
  d = await dashboardFixture();
});
afterAll(async () => {
  await d?.close();
});

/** A raw request, so the path reaches the server exactly as written (fetch would normalise `..`). */
function raw(url: string, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(url), { path, method }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the page', () => {
  it('serves index.html with the strict CSP, framing refused, nosniff and a revalidated cache', async () => {
    const res = await fetch(d.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    expect(res.headers.get('content-security-policy')).toBe(dashboardCsp);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    const html = await res.text();
    expect(html).toContain('<script type="module" src="assets/app.js"></script>');
  });

  it('answers 304 when the browser already holds the current file', async () => {
    const first = await fetch(new URL('assets/app.js', d.url));
    expect(first.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const again = await fetch(new URL('assets/app.js', d.url), {
      headers: { 'If-None-Match': first.headers.get('etag')! },
    });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  it('has no inline script, no inline style or handler, and loads nothing from another origin', async () => {
    const files = (await readdir(assetsDir)).filter((f) => /\.(html|js|css)$/.test(f));
    expect(files).toEqual(expect.arrayContaining(['index.html', 'app.js', 'app.css']));
    for (const name of files) {
      const text = await readFile(new URL(name, assetsDir), 'utf8');
      // the SVG namespace is a name, not a resource
      const urls = text.replace('http://www.w3.org/2000/svg', '').match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi);
      expect(urls, name).toBeNull();
      expect(text, name).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
      if (name.endsWith('.html')) {
        expect(text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
        expect(text).not.toMatch(/\son[a-z]+=|style=/i);
        expect(text).not.toMatch(/@import|url\(/);
      }
    }
  });

  it('serves only the files of the assets folder: no path climbs out, unknown names are 404', async () => {
    for (const path of ['/assets/../package.json', '/assets/..%2f..%2fpackage.json', '/assets/nope.js', '/assets/'])
      expect((await raw(d.url, path)).status, path).toBe(404);
    expect((await raw(d.url, '/assets/app.css', 'HEAD')).status).toBe(200);
    const post = await fetch(d.url, { method: 'POST' });
    expect(post.status).toBe(404);
  });

  it('keeps /live, /ready and /metrics of the HTTP service working beside the page', async () => {
    expect((await fetch(new URL('live', d.url))).status).toBe(200);
    const metrics = await (await fetch(new URL('metrics', d.url))).text();
    expect(metrics).toContain('pgwarden_http_requests_total');
  });
});

describe('a base path', () => {
  it('serves the page and the API under it only, with the cookie scoped to it', async () => {
    const server = await d.another({ basePath: '/soc' });
    try {
      const bare = await raw(server.url, '/soc');
      expect(bare.status).toBe(308);
      expect(bare.headers.location).toBe('/soc/');
      expect((await fetch(new URL('/soc/', server.url))).status).toBe(200);
      expect((await fetch(new URL('/soc/assets/app.js', server.url))).status).toBe(200);
      expect((await raw(server.url, '/')).status).toBe(404);
      expect((await fetch(new URL('/api/session', server.url))).status).toBe(404);
      const u = await d.user('auditor');
      const c = new DashboardClient(`${server.url}/soc/`);
      const res = await fetch(new URL('/soc/api/login', server.url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'test' },
        body: JSON.stringify({ email: u.email, password: u.password }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('set-cookie')).toContain('; Path=/soc/;');
      await c.login(u.email, u.password);
      expect((await c.get('api/overview')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
