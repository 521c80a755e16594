import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type ErrorCode, ErrorCodes, PgwardenError } from '../../errors/index.js';
import { decodeBase64, MAX_NOTE_BYTES } from './note.js';
import {
  type PreviousCheckpoint,
  type Witness,
  WitnessConflictError,
  type WitnessReceipt,
  witnessStatus,
} from './witness.js';

/** The most consistency proof lines a submission may carry (c2sp.org/tlog-witness). */
export const MAX_PROOF_LINES = 63;
const MAX_BODY_BYTES = MAX_NOTE_BYTES + 8 * 1024;
const SIZE_TYPE = 'text/x.tlog.size';

/**
 * The `add-checkpoint` request body of c2sp.org/tlog-witness: `old <size>`, one base64 proof
 * hash per line, a blank line, then the signed checkpoint.
 *
 * @example
 * await fetch(`${url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint(note, previous) });
 */
export function formatAddCheckpoint(note: string, previous: PreviousCheckpoint | null): string {
  const proof = previous?.proof ?? [];
  const lines = [`old ${previous?.oldSize ?? 0}`, ...proof.map((h) => Buffer.from(h).toString('base64'))];
  return `${lines.join('\n')}\n\n${note}`;
}

/**
 * Parses an `add-checkpoint` request body. Throws `AUDIT_CHECKPOINT_MALFORMED` (HTTP 400).
 *
 * @example
 * const { note, previous } = parseAddCheckpoint(body);
 */
export function parseAddCheckpoint(body: string): { note: string; previous: PreviousCheckpoint } {
  const end = body.indexOf('\n\n');
  if (end < 0) badRequest('the body has no blank line before the checkpoint');
  const [oldLine = '', ...proofLines] = body.slice(0, end).split('\n');
  const old = /^old (0|[1-9][0-9]{0,15})$/.exec(oldLine);
  if (!old) badRequest('the first line is not "old <size>"');
  if (proofLines.length > MAX_PROOF_LINES) badRequest(`more than ${MAX_PROOF_LINES} proof lines`);
  const proof = proofLines.map((line) => {
    const hash = decodeBase64(line);
    if (hash?.length !== 32) badRequest('a proof line is not a base64 SHA-256 hash');
    return new Uint8Array(hash);
  });
  return { note: body.slice(end + 2), previous: { oldSize: Number(old[1]), proof } };
}

/** A running HTTP witness. */
export interface HttpWitnessServer {
  readonly server: Server;
  /** `http://127.0.0.1:<port>` once listening. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves a witness over HTTP: `POST /add-checkpoint` (tlog-witness body) answers 200 with the
 * cosignature lines, 409 with `text/x.tlog.size` when the old size is not the held one, 409 for
 * rollback or equivocation, 422 for a bad consistency proof, 404 for an unknown origin and 403
 * without a trusted log signature. Other refusals carry the pgwarden error as JSON. `GET /live`
 * answers 200.
 *
 * @example
 * const served = await serveWitness(new DirectoryWitness({ dir, logs: [policy], keys: [key] }), { port: 0 });
 * console.log(served.url);
 */
export async function serveWitness(
  witness: Witness,
  options: { host?: string; port?: number } = {},
): Promise<HttpWitnessServer> {
  const server = createServer((req, res) => {
    void handle(witness, req, res);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(witness: Witness, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const path = new URL(req.url ?? '/', 'http://witness').pathname;
    if (path === '/live' && req.method === 'GET') return send(res, 200, 'text/plain', 'ok\n');
    if (path !== '/add-checkpoint') throw new PgwardenError(ErrorCodes.HTTP_NOT_FOUND, 'no such endpoint');
    if (req.method !== 'POST') throw new PgwardenError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, 'use POST');
    const { note, previous } = parseAddCheckpoint(await readBody(req));
    const receipt = await witness.submit(note, previous);
    send(res, 200, 'text/plain; charset=utf-8', receipt.cosignatures.map((l) => `${l}\n`).join(''));
  } catch (err) {
    if (err instanceof WitnessConflictError) return send(res, 409, SIZE_TYPE, `${err.heldSize}\n`);
    const status = err instanceof PgwardenError ? httpStatus(err) : 500;
    const body =
      err instanceof PgwardenError && status < 500
        ? err.toJSON()
        : { code: ErrorCodes.INTERNAL, message: 'internal error' };
    send(res, status, 'application/json', JSON.stringify(body));
  }
}

function httpStatus(err: PgwardenError): number {
  if (err.code === ErrorCodes.HTTP_NOT_FOUND) return 404;
  if (err.code === ErrorCodes.HTTP_METHOD_NOT_ALLOWED) return 405;
  if (err.code === ErrorCodes.HTTP_BODY_TOO_LARGE) return 413;
  return witnessStatus(err);
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new PgwardenError(ErrorCodes.HTTP_BODY_TOO_LARGE, 'the submission is too large');
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.concat(chunks));
  } catch {
    badRequest('the submission is not valid UTF-8');
  }
}

/**
 * A client for a witness served by `serveWitness` (or any c2sp.org/tlog-witness server). Maps
 * answers back to pgwarden errors: 409 with a size → `WitnessConflictError`, other refusals →
 * the witness's error code.
 *
 * @example
 * const witness = new HttpWitnessClient({ url: 'https://witness.example', name: 'witness.example/w1' });
 * const receipt = await witness.submit(note, { oldSize, proof });
 */
export class HttpWitnessClient implements Witness {
  readonly name: string;
  readonly #url: string;
  readonly #timeoutMs: number;

  constructor(options: { url: string; name?: string; timeoutMs?: number }) {
    this.#url = options.url.replace(/\/+$/, '');
    this.name = options.name ?? this.#url;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async submit(signedCheckpoint: string, previous: PreviousCheckpoint | null): Promise<WitnessReceipt> {
    let res: Response;
    try {
      res = await fetch(`${this.#url}/add-checkpoint`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: formatAddCheckpoint(signedCheckpoint, previous),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new PgwardenError(ErrorCodes.AUDIT_WITNESS_FAILED, 'the witness could not be reached', {
        detail: this.#url,
        cause,
      });
    }
    const body = await res.text();
    if (res.status === 200) {
      const cosignatures = body.split('\n').filter((l) => l.length > 0);
      const size = Number(signedCheckpoint.split('\n', 2)[1]);
      return { witness: this.name, size, cosignatures };
    }
    if (res.status === 409 && (res.headers.get('content-type') ?? '').startsWith(SIZE_TYPE)) {
      throw new WitnessConflictError(Number(body.trim()));
    }
    throw refusal(res.status, body, this.#url);
  }
}

function refusal(status: number, body: string, url: string): PgwardenError {
  let code: ErrorCode = ErrorCodes.AUDIT_WITNESS_FAILED;
  let message = `the witness refused the checkpoint (HTTP ${status})`;
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    const known = Object.values(ErrorCodes) as string[];
    if (typeof parsed.code === 'string' && parsed.code.startsWith('PW40') && known.includes(parsed.code)) {
      code = parsed.code as ErrorCode;
    }
    if (typeof parsed.message === 'string') message = `the witness refused the checkpoint: ${parsed.message}`;
  } catch {
    // Not ours: keep the status-based error.
  }
  if (code === ErrorCodes.AUDIT_WITNESS_FAILED && status === 422) code = ErrorCodes.AUDIT_CONSISTENCY_PROOF;
  return new PgwardenError(code, message, { detail: `${url} answered ${status}` });
}

function badRequest(message: string): never {
  throw new PgwardenError(ErrorCodes.AUDIT_CHECKPOINT_MALFORMED, message, {
    hint: 'the body is "old <size>", base64 proof lines, a blank line, then the signed checkpoint',
  });
}
