import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { udpCollector } from '../../helpers/collectors.js';
import { SMTPServer } from 'smtp-server';

// Real receivers on 127.0.0.1 for the alert sinks: an HTTP endpoint that records requests and
// can be told to fail, an SMTP server (smtp-server) with STARTTLS and AUTH, and syslog listeners
// for UDP, TCP and TLS with RFC 6587 octet-counted framing. Other monitor tests may reuse them.

/** Polls `check` until it is true; fails after `timeoutMs` (never a blind sleep). */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A self-signed certificate for localhost and 127.0.0.1, made with openssl in a temp dir. */
export function selfSignedCert(): { key: Buffer; cert: Buffer; caFile: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-monitor-cert-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  return {
    key: readFileSync(join(dir, 'key.pem')),
    cert: readFileSync(join(dir, 'cert.pem')),
    caFile: join(dir, 'cert.pem'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** One request the HTTP receiver saw. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body as received (what a signature is computed over). */
  body: string;
  /** The status it was answered with (0: hung or closed). */
  status: number;
}

/** How the receiver misbehaves for the next requests. */
export type FailMode = number | 'hang' | 'close';

/** An HTTP receiver that records every request. */
export interface HttpReceiver {
  readonly port: number;
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Answer the next `n` requests with `mode` (a status, no answer at all, or a closed socket). */
  failNext(n: number, mode: FailMode): void;
  /** Status of normal answers (default 200). */
  status: number;
  /** Runs before a normal answer is sent (e.g. kill the sender's database session). */
  beforeAnswer: ((request: ReceivedRequest) => Promise<void>) | undefined;
  /** Stops listening: connections are refused until `restart`. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts an HTTP receiver on 127.0.0.1.
 *
 * @example
 * const r = await httpReceiver();
 * r.failNext(2, 500);
 */
export async function httpReceiver(): Promise<HttpReceiver> {
  const failures: FailMode[] = [];
  let server: HttpServer;
  let port = 0;
  const receiver: HttpReceiver = {
    port: 0,
    url: '',
    requests: [],
    status: 200,
    beforeAnswer: undefined,
    failNext: (n, mode) => {
      for (let i = 0; i < n; i += 1) failures.push(mode);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    restart: () => listen(port),
    close: () => receiver.stop(),
  };
  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      server = createHttpServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', async () => {
          const request: ReceivedRequest = {
            method: req.method ?? '',
            path: req.url ?? '',
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            status: 0,
          };
          receiver.requests.push(request);
          const mode = failures.shift();
          if (mode === 'hang') return;
          if (mode === 'close') return req.socket.destroy();
          if (mode === undefined) await receiver.beforeAnswer?.(request);
          request.status = mode ?? receiver.status;
          const headers: Record<string, string> = { 'Content-Type': 'text/plain' };
          if (request.status === 429 || request.status === 503) headers['Retry-After'] = '2';
          if (request.status >= 300 && request.status < 400) headers.Location = 'http://127.0.0.1:9/elsewhere';
          res.writeHead(request.status, headers).end(request.status < 300 ? 'ok' : 'no');
        });
      });
      server.once('error', reject);
      server.listen(at, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen(0);
  Object.assign(receiver, { port, url: `http://127.0.0.1:${port}` });
  return receiver;
}

/** One message the SMTP receiver accepted. */
export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** The user that authenticated, if any. */
  user: string | undefined;
  /** Whether the session was encrypted (STARTTLS or implicit TLS). */
  secure: boolean;
}

/**
 * An SMTP server (smtp-server) on 127.0.0.1 offering STARTTLS (or implicit TLS with
 * `implicitTls`), AUTH PLAIN and LOGIN with one account, refusing AUTH before TLS.
 *
 * @example
 * const smtp = await smtpReceiver({ cert, username: 'alerts', password: 'pw' });
 */
export async function smtpReceiver(options: {
  cert: { key: Buffer; cert: Buffer };
  username: string;
  password: string;
  implicitTls?: boolean;
  hideStartTls?: boolean;
  authMethods?: string[];
}): Promise<{ port: number; messages: ReceivedMail[]; failedLogins: number; close: () => Promise<void> }> {
  const messages: ReceivedMail[] = [];
  const state = { failedLogins: 0 };
  // smtp-server's bundled types lose their TlsOptions base (a default import of node:tls), so the
  // key and certificate come in through a spread, which TypeScript does not check for excess.
  const tlsKeys: TlsOptions = { key: options.cert.key, cert: options.cert.cert };
  const server = new SMTPServer({
    ...tlsKeys,
    secure: options.implicitTls ?? false,
    authMethods: options.authMethods ?? ['PLAIN', 'LOGIN'],
    hideSTARTTLS: options.hideStartTls ?? false,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === options.username && auth.password === options.password) {
        return callback(null, { user: auth.username });
      }
      state.failedLogins += 1;
      return callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          user: session.user as string | undefined,
          secure: session.secure,
        });
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    messages,
    get failedLogins() {
      return state.failedLogins;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A syslog listener collecting whole messages (datagrams, or octet-counted frames). */
export interface SyslogListener {
  port: number;
  messages: string[];
  close(): Promise<void>;
}

/** A UDP syslog listener (RFC 5426: one message per datagram). */
export const syslogUdpListener = (): Promise<SyslogListener> => udpCollector();

/** Splits RFC 6587 octet-counted frames (`LEN SP MSG`); returns the messages and the unparsed rest. */
export function parseOctetFrames(data: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let at = 0;
  for (;;) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const lengthText = data.subarray(at, space).toString('ascii');
    if (!/^[1-9][0-9]{0,8}$/.test(lengthText))
      throw new Error(`bad octet-count frame header ${JSON.stringify(lengthText)}`);
    const end = space + 1 + Number(lengthText);
    if (end > data.length) break;
    messages.push(data.subarray(space + 1, end).toString('utf8'));
    at = end;
  }
  return { messages, rest: data.subarray(at) };
}

/** A TCP syslog listener, or TLS with `tls` (RFC 6587 / RFC 5425 octet counting). */
export async function syslogStreamListener(tls?: { key: Buffer; cert: Buffer }): Promise<SyslogListener> {
  const messages: string[] = [];
  const sockets = new Set<Socket>();
  const onSocket = (socket: Socket) => {
    sockets.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      const parsed = parseOctetFrames(Buffer.concat([pending, d]));
      messages.push(...parsed.messages);
      pending = parsed.rest;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server = tls ? createTlsServer(tls, onSocket) : createNetServer(onSocket);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The parts of an RFC 5424 message. */
export interface Rfc5424Message {
  pri: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: Record<string, Record<string, string>>;
  msg: string;
}

/** A strict RFC 5424 parser (header, structured data with escapes, MSG); throws on anything else. */
export function parseRfc5424(line: string): Rfc5424Message {
  const head = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(line);
  if (!head) throw new Error(`not an RFC 5424 header: ${line.slice(0, 80)}`);
  let at = head[0].length;
  const sd: Record<string, Record<string, string>> = {};
  if (line[at] === '-') at += 1;
  else {
    while (line[at] === '[') {
      const id = /^\[([^ \]=]+)/.exec(line.slice(at));
      if (!id) throw new Error('bad SD-ID');
      at += id[0].length;
      const params: Record<string, string> = {};
      while (line[at] === ' ') {
        const name = /^ ([^ =\]"]+)="/.exec(line.slice(at));
        if (!name) throw new Error('bad SD-PARAM');
        at += name[0].length;
        let value = '';
        while (line[at] !== '"') {
          if (at >= line.length) throw new Error('unterminated SD-PARAM');
          if (line[at] === '\\' && ['"', '\\', ']'].includes(line[at + 1]!)) at += 1;
          else if (line[at] === ']') throw new Error('unescaped ] in SD-PARAM');
          value += line[at];
          at += 1;
        }
        at += 1;
        params[name[1]!] = value;
      }
      if (line[at] !== ']') throw new Error('unterminated SD-ELEMENT');
      at += 1;
      sd[id[1]!] = params;
    }
  }
  const msg = line[at] === ' ' ? line.slice(at + 1) : line.slice(at);
  return {
    pri: Number(head[1]),
    version: Number(head[2]),
    timestamp: head[3]!,
    hostname: head[4]!,
    appName: head[5]!,
    procId: head[6]!,
    msgId: head[7]!,
    sd,
    msg,
  };
}
