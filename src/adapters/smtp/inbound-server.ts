import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import type { AppDeps } from '../../app/deps.ts';
import { acceptInbound, senderIsFlooding } from '../../app/mail/accept-inbound.ts';

export interface SmtpInboundOptions {
  deps: AppDeps;
  /** Largest message accepted; announced as SIZE and answered with 552 beyond. */
  maxMessageBytes: number;
  tls: { key: string; cert: string } | null;
  auth: { user: string; password: string } | null;
  /** Called after a message is committed, to start processing at once. */
  onAccepted?: () => void;
  /** How long close() waits for open sessions before cutting them. */
  closeTimeoutMs?: number;
}

/** An SMTP reply code with its text; smtp-server sends `responseCode` as the status. */
function reply(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/**
 * The inbound SMTP server: a thin layer over smtp-server that refuses unknown recipients (550),
 * floods (451) and oversize messages (552), and answers 250 only after the raw message is
 * committed to the database. If the commit fails the client gets 451 and keeps the message.
 */
export function createSmtpInbound(options: SmtpInboundOptions): SMTPServer {
  const { deps } = options;
  const accountsOf = new WeakMap<SMTPServerSession, number[]>();
  return new SMTPServer({
    name: 'deskhook',
    banner: 'deskhook ESMTP',
    size: options.maxMessageBytes,
    authOptional: options.auth === null,
    ...(options.auth === null ? { disabledCommands: options.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'] } : options.tls ? {} : { disabledCommands: ['STARTTLS'], allowInsecureAuth: true }),
    ...(options.tls ? { key: readFileSync(options.tls.key), cert: readFileSync(options.tls.cert) } : {}),
    logger: false,
    // A slow or stalled client must not hold a connection for ever.
    socketTimeout: 60_000,
    closeTimeout: options.closeTimeoutMs ?? 30_000,
    onAuth(auth, _session, callback) {
      const expected = options.auth;
      if (expected && auth.username === expected.user && auth.password === expected.password) return callback(null, { user: auth.username });
      return callback(reply(535, '5.7.8 authentication failed'));
    },
    onRcptTo(address: SMTPServerAddress, session, callback) {
      (async () => {
        const account = await deps.store.emailAccounts.getByAddress(address.address.trim().toLowerCase());
        if (!account || account.inbound.type !== 'smtp') throw reply(550, `5.1.1 <${address.address}>: no such mailbox here`);
        const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        if (sender && (await senderIsFlooding(deps, account.id, sender))) {
          throw reply(451, '4.7.1 too many messages from this sender; try again later');
        }
        accountsOf.set(session, [...(accountsOf.get(session) ?? []), account.id]);
      })().then(() => callback(), (err: Error & { responseCode?: number }) => {
        if (err.responseCode) return callback(err);
        deps.logger.error({ err }, 'SMTP recipient check failed');
        callback(reply(451, '4.3.0 temporary failure; try again later'));
      });
    },
    onData(stream: Readable & { sizeExceeded?: boolean }, session, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // Past the limit, keep reading (the client must finish DATA) but stop buffering.
        if (size <= options.maxMessageBytes) chunks.push(chunk);
      });
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        if (stream.sizeExceeded || size > options.maxMessageBytes) {
          return callback(reply(552, `5.3.4 message exceeds the maximum size of ${options.maxMessageBytes} bytes`));
        }
        const raw = Buffer.concat(chunks);
        const accounts = [...new Set(accountsOf.get(session) ?? [])];
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : null;
        const to = session.envelope.rcptTo.map((r) => r.address);
        Promise.all(accounts.map((emailAccountId) => acceptInbound(deps, { emailAccountId, source: 'smtp', sourceKey: null, envelopeFrom: from, envelopeTo: to, raw })))
          .then((stored) => {
            options.onAccepted?.();
            callback(null, `2.0.0 queued as ${stored.map((s) => s.id).join(',')}`);
          }, (err: unknown) => {
            deps.logger.error({ err }, 'storing an inbound email failed; the client was told to retry');
            callback(reply(451, '4.3.0 could not store the message; try again later'));
          });
      });
    },
  });
}
