import type { IncomingMessage } from 'node:http';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { HttpError } from './send.js';

/**
 * What a handler answers: a status, a JSON body (omit for none) and extra headers.
 *
 * @example
 * return { status: 201, body: { id }, headers: { Location: `/users/${id}` } };
 */
export interface HttpResult {
  /** 200–599. */
  status: number;
  body?: unknown;
  /**
   * Extra headers. They may replace the defaults (`Cache-Control` …) but not `Content-Length`,
   * `X-Request-Id` or `Connection`, which the server sets.
   */
  headers?: Record<string, string>;
}

/** Everything a handler gets about one request. */
export interface RequestContext {
  req: IncomingMessage;
  /** The `:param` segments of the route, percent-decoded. */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** See `clientAddress`: the socket peer, or the forwarded address when proxies are trusted. */
  clientAddress: string;
  requestId: string;
  /** Reads the JSON object body once (later calls return the same promise), with the server's limit. */
  body(): Promise<Record<string, unknown>>;
  /** A request header by case-insensitive name; repeated headers come joined with `, `. */
  header(name: string): string | undefined;
}

/**
 * Handles one route. Throw a `PgwardenError` (or an `HttpError` for a specific status) to answer
 * with an error; anything else thrown becomes a 500 that reveals nothing.
 *
 * @example
 * const login: Handler = async (ctx) => {
 *   const body = await ctx.body();
 *   return { status: 200, body: await auth.login(body, ctx.clientAddress) };
 * };
 */
export type Handler = (ctx: RequestContext) => Promise<HttpResult>;

/**
 * The answer of {@link Router.match}: the handler, or the error to answer with. `route` is the
 * pattern (`/users/:id`), for metrics; on a miss it is set only for a 405.
 */
export type RouteMatch =
  | { found: true; handler: Handler; params: Record<string, string>; route: string }
  | { found: false; error: HttpError; route: string | undefined };

interface Route {
  pattern: string;
  paramNames: readonly string[];
  handler: Handler;
}

interface Node {
  literals: Map<string, Node>;
  param: Node | undefined;
  routes: Map<string, Route>;
}

const methodPattern = /^[A-Z]+$/;
const paramPattern = /^:[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Maps method + path to handlers. A path is `/`-separated segments, each a literal or a
 * `:name` parameter matching one non-empty segment; a literal beats a parameter at the same
 * place. A HEAD request is served by the GET handler. A path that matches no route is a 404
 * (PW052); one that matches only for other methods is a 405 (PW053) with `Allow`.
 *
 * @example
 * const router = new Router()
 *   .add('GET', '/users/:id', async ({ params }) => ({ status: 200, body: { id: params.id } }))
 *   .add('POST', '/login', login);
 */
export class Router {
  readonly #root: Node = newNode();

  /**
   * Adds a route. Throws on a malformed path or a route added twice.
   *
   * @example
   * router.add('DELETE', '/sessions/:sessionId', revokeSession);
   */
  add(method: string, path: string, handler: Handler): this {
    const verb = method.toUpperCase();
    if (!methodPattern.test(verb)) throw invalid(`"${method}" is not an HTTP method`);
    if (!path.startsWith('/')) throw invalid(`route path "${path}" must start with /`);
    let node = this.#root;
    const paramNames: string[] = [];
    for (const segment of path.slice(1).split('/')) {
      if (segment.startsWith(':')) {
        if (!paramPattern.test(segment)) throw invalid(`route path "${path}" has a malformed parameter "${segment}"`);
        const name = segment.slice(1);
        if (paramNames.includes(name)) throw invalid(`route path "${path}" repeats the parameter :${name}`);
        paramNames.push(name);
        node.param ??= newNode();
        node = node.param;
      } else {
        let next = node.literals.get(segment);
        if (!next) node.literals.set(segment, (next = newNode()));
        node = next;
      }
    }
    if (node.routes.has(verb)) throw invalid(`route ${verb} ${path} is already defined`);
    node.routes.set(verb, { pattern: path, paramNames, handler });
    return this;
  }

  /**
   * Finds the handler for a request.
   *
   * @example
   * const m = router.match('GET', '/users/42');
   * if (m.found) await m.handler(ctx); else throw m.error;
   */
  match(method: string, pathname: string): RouteMatch {
    const verb = method.toUpperCase();
    const segments = pathname.slice(1).split('/');
    const candidates: Array<{ node: Node; values: string[] }> = [];
    if (pathname.startsWith('/')) collect(this.#root, segments, 0, [], candidates);
    for (const { node, values } of candidates) {
      const route = routeFor(node, verb);
      if (!route) continue;
      const params = decodeParams(route.paramNames, values);
      if (!params) break; // malformed percent-encoding: no route can match it
      return { found: true, handler: route.handler, params, route: route.pattern };
    }
    if (candidates.length === 0 || candidates.some(({ node }) => routeFor(node, verb)))
      return { found: false, error: new HttpError(ErrorCodes.HTTP_NOT_FOUND, 'no such endpoint'), route: undefined };
    const allowed = new Set<string>();
    for (const { node } of candidates) for (const m of node.routes.keys()) allowed.add(m);
    if (allowed.has('GET')) allowed.add('HEAD');
    const allow = [...allowed].sort().join(', ');
    const error = new HttpError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${verb} is not allowed here`, {
      headers: { Allow: allow },
      detail: `allowed: ${allow}`,
    });
    const first = candidates[0]?.node.routes.values().next();
    return { found: false, error, route: first?.done === false ? first.value.pattern : undefined };
  }
}

function routeFor(node: Node, verb: string): Route | undefined {
  return node.routes.get(verb) ?? (verb === 'HEAD' ? node.routes.get('GET') : undefined);
}

/** Depth-first, literal before parameter, so candidates come out most specific first. */
function collect(
  node: Node,
  segments: readonly string[],
  index: number,
  values: string[],
  out: Array<{ node: Node; values: string[] }>,
): void {
  if (index === segments.length) {
    if (node.routes.size > 0) out.push({ node, values: [...values] });
    return;
  }
  const segment = segments[index] as string;
  const literal = node.literals.get(segment);
  if (literal) collect(literal, segments, index + 1, values, out);
  if (node.param && segment !== '') {
    values.push(segment);
    collect(node.param, segments, index + 1, values, out);
    values.pop();
  }
}

function decodeParams(names: readonly string[], values: readonly string[]): Record<string, string> | undefined {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [i, name] of names.entries()) {
    try {
      params[name] = decodeURIComponent(values[i] ?? '');
    } catch {
      return undefined;
    }
  }
  return params;
}

function newNode(): Node {
  return { literals: new Map(), param: undefined, routes: new Map() };
}

function invalid(message: string): PgwardenError {
  return new PgwardenError(ErrorCodes.INTERNAL, message);
}
