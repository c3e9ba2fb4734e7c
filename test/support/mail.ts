import nodemailer, { type SendMailOptions } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { AppDeps } from '../../src/app/deps.ts';
import { createSmtpInbound } from '../../src/adapters/smtp/inbound-server.ts';

export interface Catcher {
  port: number;
  received: Array<{ envelope: { from: string; to: string[] }; raw: Buffer; parsed: ParsedMail }>;
  /** The SMTP answer to the next DATA commands: `null` accepts. */
  failWith: { code: number; message: string } | null;
  close(): Promise<void>;
}

/** A real SMTP server on 127.0.0.1 standing in for an account's outbound mail server. */
export async function startCatcher(): Promise<Catcher> {
  const catcher: Catcher = { port: 0, received: [], failWith: null, close: async () => undefined };
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false, closeTimeout: 200,
    onAuth: (_a, _s, cb) => cb(null, { user: 'x' }),
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        if (catcher.failWith) return callback(Object.assign(new Error(catcher.failWith.message), { responseCode: catcher.failWith.code }));
        const raw = Buffer.concat(chunks);
        catcher.received.push({
          envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
          raw, parsed: await simpleParser(raw),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  catcher.port = (server.server.address() as { port: number }).port;
  catcher.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return catcher;
}

/** deskhook's inbound SMTP server on a free port, and a client that talks to it. */
export async function startInbound(deps: AppDeps, options: { maxMessageBytes?: number; pool?: boolean } = {}) {
  const server = createSmtpInbound({ deps, maxMessageBytes: options.maxMessageBytes ?? 5_000_000, tls: null, auth: null, closeTimeoutMs: 200 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  const client = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: options.pool ?? false, maxConnections: 1, maxMessages: Infinity });
  return {
    port,
    send: (mail: SendMailOptions) => client.sendMail(mail),
    close: () => {
      client.close();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
