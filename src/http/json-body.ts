import type { IncomingMessage } from 'node:http';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { HttpError } from './send.js';

/** Limits of {@link readJsonBody}. */
export interface ReadJsonBodyOptions {
  /** Largest body accepted, in bytes. */
  limitBytes: number;
  /** Deepest nesting of objects and arrays accepted (default 32; the top-level object is 1). */
  maxDepth?: number;
}

/** Keys that turn into prototype pollution once a parsed body is merged into another object. */
const forbiddenKeys = new Set(['__proto__', 'constructor', 'prototype']);
const jsonContentType = /^application\/json[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*(?:utf-8|"utf-8"|utf8)[ \t]*)?$/i;

/**
 * Reads and parses a JSON object body. Refuses, without echoing any of the body:
 * another Content-Type (PW051, 415); more than `limitBytes`, announced or sent (PW050, 413, as
 * soon as the limit is passed: the rest is never held in memory); invalid UTF-8 or JSON, a
 * top level that is not an object, nesting past `maxDepth`, or a key `__proto__`,
 * `constructor` or `prototype` at any depth (PW051, 400).
 *
 * @example
 * const body = await readJsonBody(req, { limitBytes: 16 * 1024 });
 * const email = typeof body.email === 'string' ? body.email : undefined;
 */
export async function readJsonBody(
  req: IncomingMessage,
  options: ReadJsonBodyOptions,
): Promise<Record<string, unknown>> {
  const { limitBytes, maxDepth = 32 } = options;
  if (!jsonContentType.test(req.headers['content-type'] ?? ''))
    throw new HttpError(ErrorCodes.HTTP_BAD_REQUEST_BODY, 'the request body must be JSON', {
      status: 415,
      hint: 'send Content-Type: application/json',
    });
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) {
    // Not reading what the client announced; the server closes the connection after answering.
    req.resume();
    throw tooLarge(limitBytes);
  }
  const raw = await readLimited(req, limitBytes);
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes the body; never pass it on.
    throw badBody('the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badBody('the request body must be a JSON object');
  checkShape(value, maxDepth);
  return value as Record<string, unknown>;
}

function readLimited(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  if (req.readableEnded) return Promise.reject(new PgwardenError(ErrorCodes.INTERNAL, 'request body already read'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (fn: () => void): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAborted);
      req.off('close', onAborted);
      fn();
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limitBytes) chunks.push(chunk);
      // Stop keeping bytes at once; what is still in flight drains to nowhere until the server
      // closes the connection after its 413.
      else settle(() => reject(tooLarge(limitBytes)));
    };
    const onEnd = (): void => settle(() => resolve(Buffer.concat(chunks, size)));
    const onAborted = (): void => settle(() => reject(badBody('the request body was not received completely')));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAborted);
    req.on('close', onAborted);
  });
}

function checkShape(root: object, maxDepth: number): void {
  // Iterative: a deeply nested body must not be able to overflow the stack.
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, depth } = item;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > maxDepth) throw badBody(`the request body is nested deeper than ${maxDepth} levels`);
    if (Array.isArray(value)) {
      for (const child of value as unknown[]) stack.push({ value: child, depth: depth + 1 });
      continue;
    }
    for (const [key, child] of Object.entries(value)) {
      if (forbiddenKeys.has(key)) throw badBody(`the request body uses the reserved key "${key}"`);
      stack.push({ value: child, depth: depth + 1 });
    }
  }
}

function tooLarge(limitBytes: number): HttpError {
  return new HttpError(ErrorCodes.HTTP_BODY_TOO_LARGE, `the request body is larger than ${limitBytes} bytes`, {
    status: 413,
  });
}

function badBody(message: string): HttpError {
  return new HttpError(ErrorCodes.HTTP_BAD_REQUEST_BODY, message, { status: 400 });
}
