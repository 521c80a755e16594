import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { redactText } from '../alerts/index.js';
import { SinkFailedError } from './sink.js';

/** How the SMTP client reaches the server. */
export interface SmtpConnectionOptions {
  /** The sink's name (in errors). */
  sink: string;
  host: string;
  port: number;
  /** `starttls` (required, the default), `implicit` (TLS from the first byte, port 465) or `none`. */
  tls: 'starttls' | 'implicit' | 'none';
  /** PEM CA certificates to trust instead of the system's. The certificate is always verified. */
  ca?: string | Buffer;
  username?: string;
  password?: string;
  /** The EHLO name. */
  heloName: string;
  /** Per step: connect, TLS handshake, each reply. */
  timeoutMs: number;
}

/** The envelope and the RFC 5322 message (CRLF line ends, not dot-stuffed). */
export interface SmtpMail {
  from: string;
  to: readonly string[];
  message: string;
}

interface Reply {
  code: number;
  lines: string[];
  /** Bytes it took on the wire, counted against the unread-input cap. */
  bytes: number;
}

// RFC 5321 §4.5.3.1.5 bounds a reply line to 512 octets; a real EHLO answer is a few dozen
// lines. These bounds are generous, and what a hostile server sends beyond them is refused
// instead of buffered, joined and scanned (a 256 KiB reply used to block the event loop for seconds).
const MAX_REPLY_LINES = 100;
const MAX_UNREAD_BYTES = 8 * 1024;
// What of a server's text is kept for an error message, redacted after slicing.
const QUOTE_BYTES = 2 * 1024;

/** Redacts the start of a server-supplied text for an error message (bounded work whatever its size). */
const quote = (text: string) => redactText(text.slice(0, QUOTE_BYTES)).slice(0, 200);

/**
 * A line-oriented SMTP conversation over one socket. Replies are parsed as they arrive
 * (`250-…` continues, `250 …` ends); `read` waits for the next, bounded by the step timeout.
 */
class Conversation {
  #socket: Socket | undefined;
  #buffer = '';
  #lines: string[] = [];
  /** Bytes of the reply in progress, and of the complete replies nobody read yet. */
  #replyBytes = 0;
  #queuedBytes = 0;
  readonly #replies: Reply[] = [];
  #waiter: ((r: Reply | Error) => void) | undefined;
  #failure: Error | undefined;
  readonly #onData = (chunk: Buffer) => this.#receive(chunk.toString('latin1'));
  readonly #onError = (err: Error) => this.#fail(err);
  readonly #onClose = () =>
    this.#fail(Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' }));

  constructor(private readonly o: SmtpConnectionOptions) {}

  attach(socket: Socket): void {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  detach(): Socket {
    const s = this.#socket!;
    s.off('data', this.#onData);
    s.off('error', this.#onError);
    s.off('close', this.#onClose);
    this.#socket = undefined;
    return s;
  }

  /** Bytes received after the last complete reply (must be none before a STARTTLS upgrade). */
  get pendingInput(): boolean {
    return this.#buffer.length > 0 || this.#lines.length > 0 || this.#replies.length > 0;
  }

  #receive(text: string): void {
    // After a failure nothing more is parsed: the conversation is over.
    if (this.#failure) return;
    this.#buffer += text;
    let at: number;
    while ((at = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, at).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(at + 1);
      const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!m) return this.#fail(new Error('the server sent a malformed reply'));
      this.#lines.push(m[3]!);
      this.#replyBytes += at + 1;
      if (this.#lines.length > MAX_REPLY_LINES || this.#unread > MAX_UNREAD_BYTES) return this.#overlong();
      if (m[2] !== '-') {
        this.#deliver({ code: Number(m[1]), lines: this.#lines, bytes: this.#replyBytes });
        this.#lines = [];
        this.#replyBytes = 0;
      }
    }
    if (this.#buffer.length > 4096) this.#fail(new Error('the server sent an overlong reply line'));
    else if (this.#unread + this.#buffer.length > MAX_UNREAD_BYTES) this.#overlong();
  }

  get #unread(): number {
    return this.#replyBytes + this.#queuedBytes;
  }

  /** Refuses a flood: the socket is dropped so nothing more is received. */
  #overlong(): void {
    this.#fail(
      new Error(
        `the server sent an overlong reply (more than ${MAX_REPLY_LINES} lines or ${MAX_UNREAD_BYTES / 1024} KiB unread)`,
      ),
    );
    this.#socket?.destroy();
  }

  #deliver(reply: Reply): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter(reply);
    else {
      this.#queuedBytes += reply.bytes;
      this.#replies.push(reply);
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(err);
  }

  read(what: string): Promise<Reply> {
    const queued = this.#replies.shift();
    if (queued) {
      this.#queuedBytes -= queued.bytes;
      return Promise.resolve(queued);
    }
    if (this.#failure) return Promise.reject(this.#networkError(what, this.#failure));
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        this.#socket?.destroy();
        reject(this.#networkError(what, Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      }, this.o.timeoutMs);
      this.#waiter = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(this.#networkError(what, r));
        else resolve(r);
      };
    });
  }

  /** Sends a line (never logged or quoted: AUTH lines carry the credential) and checks the reply. */
  async command(line: string, expect: readonly number[], what: string): Promise<Reply> {
    this.#socket!.write(`${line}\r\n`, 'latin1');
    return this.expect(await this.read(what), expect, what);
  }

  expect(reply: Reply, expect: readonly number[], what: string): Reply {
    if (expect.includes(reply.code)) return reply;
    const text = quote(reply.lines.join(' '));
    // RFC 5321 §4.2.1: 5yz is a permanent failure, 4yz transient.
    throw new SinkFailedError(this.o.sink, `${this.where} refused ${what}: ${reply.code} ${text}`, {
      permanent: reply.code >= 500 && reply.code < 600,
      status: reply.code,
    });
  }

  write(data: string): void {
    this.#socket!.write(data, 'utf8');
  }

  get where(): string {
    return `smtp ${this.o.host}:${this.o.port}`;
  }

  #networkError(what: string, err: Error): SinkFailedError {
    const code = (err as { code?: string }).code;
    const reason = code ?? quote(err.message);
    return new SinkFailedError(this.o.sink, `${this.where} failed during ${what} (${reason})`, { cause: err });
  }

  close(): void {
    this.#socket?.destroy();
  }
}

function tlsOptions(o: SmtpConnectionOptions) {
  // SNI takes names only; an IP address is still checked against the certificate.
  return { host: o.host, servername: isIP(o.host) ? undefined : o.host, ca: o.ca, rejectUnauthorized: true };
}

function connectSocket(o: SmtpConnectionOptions, conv: Conversation): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const fail = (err: Error) => {
      socket.destroy();
      const code = (err as { code?: string }).code ?? quote(err.message);
      reject(new SinkFailedError(o.sink, `${conv.where} could not connect (${code})`, { cause: err }));
    };
    const socket: Socket =
      o.tls === 'implicit'
        ? tlsConnect({ ...tlsOptions(o), port: o.port }, () => done())
        : netConnect({ host: o.host, port: o.port }, () => done());
    const timer = setTimeout(() => fail(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), o.timeoutMs);
    const done = () => {
      clearTimeout(timer);
      socket.off('error', onError);
      // Until the conversation attaches its own listener: an unheard 'error' would crash Node.
      socket.on('error', () => undefined);
      resolve(socket);
    };
    const onError = (err: Error) => {
      clearTimeout(timer);
      fail(err);
    };
    socket.once('error', onError);
  });
}

function upgrade(o: SmtpConnectionOptions, conv: Conversation, plain: Socket): Promise<TLSSocket> {
  plain.on('error', () => undefined); // reported through the TLS socket wrapping it
  return new Promise<TLSSocket>((resolve, reject) => {
    const secure = tlsConnect({ ...tlsOptions(o), socket: plain }, () => {
      clearTimeout(timer);
      secure.off('error', onError);
      secure.on('error', () => undefined);
      resolve(secure);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      secure.destroy();
      const code = (err as { code?: string }).code ?? 'handshake failed';
      reject(new SinkFailedError(o.sink, `${conv.where} TLS handshake failed (${code})`, { cause: err }));
    };
    const timer = setTimeout(() => onError(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), o.timeoutMs);
    secure.once('error', onError);
  });
}

const extensions = (reply: Reply) => reply.lines.slice(1).map((l) => l.toUpperCase());

async function authenticate(o: SmtpConnectionOptions, conv: Conversation, ehlo: Reply, secure: boolean) {
  if (o.username === undefined) return;
  if (!secure) {
    throw new SinkFailedError(o.sink, `${conv.where}: refusing to send credentials without TLS`, { permanent: true });
  }
  const auth = extensions(ehlo).find((l) => l.startsWith('AUTH ') || l.startsWith('AUTH=')) ?? '';
  const methods = auth.slice(5).split(/\s+/);
  const user = o.username;
  const password = o.password ?? '';
  if (methods.includes('PLAIN')) {
    const token = Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64');
    await conv.command(`AUTH PLAIN ${token}`, [235], 'AUTH');
  } else if (methods.includes('LOGIN')) {
    await conv.command('AUTH LOGIN', [334], 'AUTH');
    await conv.command(Buffer.from(user, 'utf8').toString('base64'), [334], 'AUTH');
    await conv.command(Buffer.from(password, 'utf8').toString('base64'), [235], 'AUTH');
  } else {
    throw new SinkFailedError(o.sink, `${conv.where} offers no AUTH method pgwarden supports (PLAIN, LOGIN)`, {
      permanent: true,
    });
  }
}

/**
 * RFC 5321 transparency: a line starting with "." gets another, and the message ends with
 * CRLF.CRLF. Bare LF and CR become CRLF first.
 *
 * @example
 * dotStuff('a\r\n.b'); // 'a\r\n..b\r\n.\r\n'
 */
export function dotStuff(message: string): string {
  const crlf = message.replace(/\r\n|\r|\n/g, '\r\n').replace(/\r\n$/, '');
  return `${crlf.replace(/^\./gm, '..')}\r\n.\r\n`;
}

/**
 * Sends one message: EHLO, STARTTLS (unless `tls` is `implicit` or explicitly `none`; a server
 * that does not offer it is refused), EHLO again, AUTH PLAIN or LOGIN (only over TLS), MAIL FROM,
 * RCPT TO, DATA, QUIT. Each step has `timeoutMs`. Failures throw SinkFailedError: 5xx replies
 * permanent, 4xx and network errors transient. No command line is ever quoted (AUTH carries the
 * password).
 *
 * @example
 * await sendMail({ sink: 'mail', host: 'smtp.example', port: 587, tls: 'starttls', username: 'u', password,
 *   heloName: 'db1.example', timeoutMs: 30_000 }, { from: 'pgwarden@example.com', to: ['sec@example.com'], message });
 */
export async function sendMail(o: SmtpConnectionOptions, mail: SmtpMail): Promise<void> {
  const conv = new Conversation(o);
  try {
    let socket = await connectSocket(o, conv);
    conv.attach(socket);
    conv.expect(await conv.read('greeting'), [220], 'the connection');
    let ehlo = await conv.command(`EHLO ${o.heloName}`, [250], 'EHLO');
    let secure = o.tls === 'implicit';
    if (o.tls === 'starttls') {
      if (!extensions(ehlo).some((l) => l === 'STARTTLS')) {
        throw new SinkFailedError(o.sink, `${conv.where} does not offer STARTTLS`, {
          permanent: true,
          status: ehlo.code,
        });
      }
      await conv.command('STARTTLS', [220], 'STARTTLS');
      // Anything the server sent after its 220 was injected before encryption: refuse it.
      if (conv.pendingInput) throw new SinkFailedError(o.sink, `${conv.where} sent data after STARTTLS`);
      socket = await upgrade(o, conv, conv.detach());
      conv.attach(socket);
      secure = true;
      ehlo = await conv.command(`EHLO ${o.heloName}`, [250], 'EHLO');
    }
    await authenticate(o, conv, ehlo, secure);
    await conv.command(`MAIL FROM:<${mail.from}>`, [250], 'MAIL FROM');
    for (const to of mail.to) await conv.command(`RCPT TO:<${to}>`, [250, 251], 'RCPT TO');
    await conv.command('DATA', [354], 'DATA');
    conv.write(dotStuff(mail.message));
    conv.expect(await conv.read('the message'), [250], 'the message');
    await conv.command('QUIT', [221], 'QUIT').catch(() => undefined);
  } finally {
    conv.close();
  }
}
