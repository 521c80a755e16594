import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { securityHeaders } from '../http/index.js';

/**
 * The page's Content-Security-Policy: only the dashboard's own script, styles and API; no inline
 * script, no framing, no other origin. Hostile alert text that somehow became markup could still
 * neither run nor call out.
 *
 * @example
 * res.setHeader('Content-Security-Policy', dashboardCsp);
 */
export const dashboardCsp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * Headers of every page and asset response (the API's JSON gets the http toolkit's own).
 *
 * @example
 * res.writeHead(200, { ...pageHeaders, 'Content-Type': 'text/html; charset=utf-8' });
 */
export const pageHeaders: Readonly<Record<string, string>> = Object.freeze({
  ...securityHeaders,
  'Content-Security-Policy': dashboardCsp,
  // not no-referrer: under it browsers may send `Origin: null` on the page's own POSTs, which the
  // API's same-origin check refuses; same-origin still sends nothing to any other site
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  // the page and its assets may be kept, but are checked against their ETag on every load
  'Cache-Control': 'no-cache',
});

const types: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * Serves the dashboard's static files (index.html, the ES modules, the stylesheet) from memory:
 * only the files found in the assets folder at first use, by exact name, so no path can climb
 * out of it.
 *
 * @example
 * const assets = new DashboardAssets('/', new URL('./assets/', import.meta.url));
 * if (await assets.serve(req, res)) return;
 */
export class DashboardAssets {
  readonly #basePath: string;
  readonly #dir: URL;
  #loaded: Promise<Map<string, Asset>> | undefined;

  constructor(basePath: string, dir: URL) {
    this.#basePath = basePath;
    this.#dir = dir;
  }

  /** Whether the request is for the page or an asset (GET/HEAD only). */
  handles(req: IncomingMessage): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = pathOf(req);
    return (
      path === this.#basePath ||
      path === `${this.#basePath}index.html` ||
      path.startsWith(`${this.#basePath}assets/`) ||
      (this.#basePath !== '/' && path === this.#basePath.slice(0, -1))
    );
  }

  /**
   * Answers a request {@link handles} accepted: the file with its CSP and ETag, a 304 when the
   * browser's copy is current, a redirect from the base path without its slash, else a 404.
   */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req);
    if (this.#basePath !== '/' && path === this.#basePath.slice(0, -1)) {
      res.writeHead(308, { ...pageHeaders, Location: this.#basePath, 'Content-Length': '0' });
      res.end();
      return;
    }
    const name = path.startsWith(`${this.#basePath}assets/`) ? path.slice(this.#basePath.length + 7) : 'index.html';
    const asset = (await this.#assets()).get(name);
    if (!asset) {
      const body = JSON.stringify({ error: { code: 'PW052', message: 'no such file' } });
      res.writeHead(404, {
        ...pageHeaders,
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, { ...pageHeaders, ETag: asset.etag });
      res.end();
      return;
    }
    res.writeHead(200, {
      ...pageHeaders,
      'Content-Type': asset.type,
      'Content-Length': String(asset.body.length),
      ETag: asset.etag,
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  /**
   * Puts the asset handler in front of a server's existing request listener (the one
   * `createHttpService` installed), which keeps every other path. Needed because the http
   * toolkit's handlers answer JSON only.
   *
   * @example
   * const service = createHttpService({ router, … });
   * assets.attach(service.server);
   */
  attach(server: Server): void {
    const downstream = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.handles(req)) {
        for (const listener of downstream) listener.call(server, req, res);
        return;
      }
      this.serve(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, { ...pageHeaders, 'Content-Length': '0' });
        res.end();
      });
    });
  }

  #assets(): Promise<Map<string, Asset>> {
    this.#loaded ??= loadAssets(this.#dir).catch((err: unknown) => {
      this.#loaded = undefined;
      throw err;
    });
    return this.#loaded;
  }
}

async function loadAssets(dir: URL): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  const root = fileURLToPath(dir);
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const type = types[extname(entry.name)];
    if (!entry.isFile() || !type) continue;
    const body = await readFile(new URL(entry.name, dir));
    out.set(entry.name, {
      body,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    });
  }
  return out;
}

function pathOf(req: IncomingMessage): string {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}
