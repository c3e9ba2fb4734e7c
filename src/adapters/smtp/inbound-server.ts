import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import type { Readable } from 'node:stream';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import type { AppDeps } from '../../app/deps.ts';
import { acceptInbound, checkInboundLimits, storageIsFull } from '../../app/mail/accept-inbound.ts';

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

/**
 * The flood-limit key of a client: its IPv4 address (also when it arrives IPv4-mapped), or the
 * /64 prefix of an IPv6 address, since one IPv6 host typically owns a whole /64.
 */
export function clientKey(remoteAddress: string | undefined): string | null {
  if (!remoteAddress) return null;
  const a = remoteAddress.toLowerCase();
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  if (!isIPv6(a)) return a;
  const [head = '', tail] = a.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** An SMTP reply code with its text; smtp-server sends `responseCode` as the status. */
function reply(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/**
 * The inbound SMTP server: a thin layer over smtp-server that refuses unknown recipients (550),
 * floods (451: per sender, client address and account), a full mail store (452) and oversize
 * messages (552), and answers 250 only after the raw message is
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
        // `MAIL FROM:<>` (bounces, auto-replies) is counted as the null sender, not let through.
        const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const refusal = await checkInboundLimits(deps, { emailAccountId: account.id, sender, clientAddress: clientKey(session.remoteAddress) });
        if (refusal) throw reply(refusal.code, refusal.text);
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
        // SPF is checked against the connecting address and HELO when the message is processed.
        const remote = session.remoteAddress ?? '';
        const clientAddress = remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote || null;
        storageIsFull(deps)
          .then((full) => {
            if (full) throw reply(452, '4.3.1 mail storage is full (the administrator has been told); try again later');
            return Promise.all(accounts.map((emailAccountId) => acceptInbound(deps, { emailAccountId, source: 'smtp', sourceKey: null, envelopeFrom: from, envelopeTo: to, raw, clientAddress, helo: session.hostNameAppearsAs || null })));
          })
          .then((stored) => {
            options.onAccepted?.();
            callback(null, `2.0.0 queued as ${stored.map((s) => s.id).join(',')}`);
          }, (err: Error & { responseCode?: number }) => {
            if (err.responseCode) return callback(err);
            deps.logger.error({ err }, 'storing an inbound email failed; the client was told to retry');
            callback(reply(451, '4.3.0 could not store the message; try again later'));
          });
      });
    },
  });
}
