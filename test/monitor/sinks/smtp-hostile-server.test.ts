import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SinkFailedError } from '../../../src/monitor/sinks/index.js';
import { sendMail, type SmtpConnectionOptions } from '../../../src/monitor/sinks/smtp-client.js';

// A hostile or broken SMTP server answers with floods: the client must refuse them after a
// bounded amount of input (100 lines or 8 KiB a reply) instead of buffering, joining and
// redacting megabytes on the event loop. The server here is a raw TCP script, plain text
// (`tls: 'none'`) where the conversation must complete, so every byte is under the test's control.

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

/**
 * A scripted SMTP server: greets, answers EHLO with `ehlo()`, accepts MAIL, RCPT and DATA, and
 * counts the messages it received.
 */
async function scriptedServer(ehlo: () => string): Promise<{ port: number; received: () => number }> {
  let received = 0;
  const server = createServer((socket: Socket) => {
    socket.on('error', () => undefined);
    let inData = false;
    let pending = '';
    socket.write('220 mx.test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let at: number;
      while ((at = pending.indexOf('\r\n')) >= 0) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            received++;
            socket.write('250 queued\r\n');
          }
        } else if (line.startsWith('EHLO')) socket.write(ehlo());
        else if (line === 'DATA') {
          inData = true;
          socket.write('354 go ahead\r\n');
        } else if (line === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, received: () => received };
}

const options = (port: number, tls: SmtpConnectionOptions['tls'] = 'none'): SmtpConnectionOptions => ({
  sink: 'mail',
  host: '127.0.0.1',
  port,
  tls,
  heloName: 'db1.test',
  // Far above the test's bound: a refusal must come from the reply cap, not from a timeout.
  timeoutMs: 60_000,
});
const mail = { from: 'pgwarden@example.com', to: ['sec@example.com'], message: 'Subject: x\r\n\r\nbody' };

/** An EHLO reply of `lines` lines (the last one ends it) of `width` characters each after the code. */
function ehloReply(lines: number, width = 10): string {
  const body = Array.from({ length: lines }, (_, i) => `250${i === lines - 1 ? ' ' : '-'}${'x'.repeat(width)}\r\n`);
  return body.join('');
}

async function failure(promise: Promise<unknown>): Promise<SinkFailedError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SinkFailedError);
    return err as SinkFailedError;
  }
  throw new Error('expected the send to fail');
}

describe('SMTP client against a hostile server', () => {
  it('refuses a 1 MiB reply before STARTTLS with PW605, promptly, without buffering it', async () => {
    // The attack of the review: `a-a-…` lines, the worst case of the old redaction regexes.
    const flood = `${`250-${'a-'.repeat(2000)}\r\n`.repeat(Math.ceil((1024 * 1024) / 4006))}554 go away\r\n`;
    expect(flood.length).toBeGreaterThan(1024 * 1024);
    const { port } = await scriptedServer(() => flood);
    const started = performance.now();
    const err = await failure(sendMail(options(port, 'starttls'), mail));
    const elapsed = performance.now() - started;
    expect(err.code).toBe('PW605');
    expect(err.message).toContain('failed during EHLO (the server sent an overlong reply');
    expect(err.message.length).toBeLessThan(400);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('refuses a 1 MiB greeting of short lines', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.write('220-hello\r\n'.repeat(100_000));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const err = await failure(sendMail(options((server.address() as AddressInfo).port), mail));
    expect(err.code).toBe('PW605');
    expect(err.message).toContain('failed during greeting (the server sent an overlong reply');
  });

  it('accepts a reply of 100 lines and refuses one of 101', async () => {
    const hundred = await scriptedServer(() => ehloReply(100));
    await sendMail(options(hundred.port), mail);
    expect(hundred.received()).toBe(1);
    const more = await scriptedServer(() => ehloReply(101));
    const err = await failure(sendMail(options(more.port), mail));
    expect(err.message).toContain('overlong reply');
    expect(more.received()).toBe(0);
  });

  it('accepts a reply of 8 KiB and refuses one a byte longer', async () => {
    // Four lines of 2 048 bytes each, CRLF included: 8 192 bytes.
    const exact = ehloReply(4, 2_048 - 6);
    expect(exact.length).toBe(8 * 1024);
    const fits = await scriptedServer(() => exact);
    await sendMail(options(fits.port), mail);
    expect(fits.received()).toBe(1);
    const over = await scriptedServer(() => `${exact.slice(0, -2)}x\r\n`);
    const err = await failure(sendMail(options(over.port), mail));
    expect(err.message).toContain('overlong reply');
    expect(over.received()).toBe(0);
  });
});
