import { createServer, type Server } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppDeps } from '../src/app/deps.ts';
import { createEmailAccount } from '../src/app/email-accounts.ts';
import type { OutboundMail, SmtpTransport } from '../src/app/ports/mail.ts';
import { EgressPolicy } from '../src/adapters/egress/address-policy.ts';
import { ImapPoller } from '../src/adapters/imap/imap-poller.ts';
import { NodemailerMailer } from '../src/adapters/mail-out/nodemailer-mailer.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

const PASSWORD = 'smtp-secret-4711';

/** A real SMTP server on 127.0.0.1 that offers AUTH but no STARTTLS, recording what it saw. */
async function plaintextServer() {
  const seen = { connections: 0, auth: [] as Array<{ user: string | undefined; password: string | null | undefined }>, messages: 0 };
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'], allowInsecureAuth: true, authOptional: true, logger: false, closeTimeout: 200,
    onConnect: (_s, cb) => { seen.connections++; cb(); },
    onAuth: (auth, _s, cb) => { seen.auth.push({ user: auth.username, password: auth.password }); cb(null, { user: auth.username }); },
    onData: (stream, _s, cb) => { stream.resume(); stream.on('end', () => { seen.messages++; cb(); }); },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  return { port, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const mail: OutboundMail = {
  from: { name: null, address: 'service@stadtwerke.example' }, to: ['erika@example.com'], cc: [], subject: 'Ihr Anliegen',
  text: 'Guten Tag', html: null, messageId: 'm1@stadtwerke.example', inReplyTo: null, references: [], headers: {},
};

// Point 5 of the security review: credentials never travel in clear, and the accounts' mail
// servers pass the same address policy as HTTP egress.
describe('outbound SMTP with credentials', () => {
  let server: Awaited<ReturnType<typeof plaintextServer>>;
  const mailers: NodemailerMailer[] = [];
  const mailer = (options: ConstructorParameters<typeof NodemailerMailer>[0]) => {
    const m = new NodemailerMailer({ connectionTimeoutMs: 3000, ...options });
    mailers.push(m);
    return m;
  };
  beforeEach(async () => { server = await plaintextServer(); });
  afterEach(async () => {
    mailers.splice(0).forEach((m) => m.close());
    await server.close();
  });
  const transport = (): SmtpTransport => ({ host: '127.0.0.1', port: server.port, secure: false, user: 'service', password: PASSWORD });
  const loopbackAllowed = new EgressPolicy(['127.0.0.1/32']);

  it('refuses to send a password to a server without STARTTLS: the server never sees AUTH', async () => {
    const result = await mailer({ policy: loopbackAllowed }).send(transport(), mail);
    expect(result).toMatchObject({ ok: false, permanent: true, message: expect.stringContaining('only sent over TLS') });
    expect(result.ok ? '' : result.message).toContain('DESKHOOK_MAIL_PLAINTEXT_HOSTS');
    expect(result.ok ? '' : result.message).not.toContain(PASSWORD);
    expect(server.seen.connections).toBe(1);
    expect(server.seen.auth).toEqual([]);
    expect(server.seen.messages).toBe(0);
  });

  it('sends in clear to a host the admin names in DESKHOOK_MAIL_PLAINTEXT_HOSTS', async () => {
    const result = await mailer({ policy: loopbackAllowed, plaintextHosts: ['127.0.0.1'] }).send(transport(), mail);
    expect(result).toMatchObject({ ok: true });
    expect(server.seen.auth).toEqual([{ user: 'service', password: PASSWORD }]);
    expect(server.seen.messages).toBe(1);
  });

  it('without credentials, plaintext is fine (nothing secret travels)', async () => {
    const result = await mailer({ policy: loopbackAllowed }).send({ ...transport(), user: null, password: null }, mail);
    expect(result).toMatchObject({ ok: true });
    expect(server.seen.messages).toBe(1);
  });

  it('refuses an account pointed at a loopback or private address unless DESKHOOK_EGRESS_ALLOW allows it', async () => {
    const strict = mailer({ plaintextHosts: ['127.0.0.1'] });
    const loop = await strict.send(transport(), mail);
    expect(loop).toMatchObject({ ok: false, permanent: true, message: expect.stringContaining('127.0.0.1 is a loopback address') });
    expect(loop.ok ? '' : loop.message).toContain('DESKHOOK_EGRESS_ALLOW');
    expect(server.seen.connections).toBe(0);
    // A public-looking name that resolves to an internal address is refused by what it resolves to.
    const rebinding = mailer({ lookup: async () => [{ address: '10.1.2.3', family: 4 }] });
    const named = await rebinding.send({ ...transport(), host: 'smtp.stadtwerke.example' }, mail);
    expect(named).toMatchObject({ ok: false, permanent: true, message: expect.stringContaining('10.1.2.3 is a private address (host smtp.stadtwerke.example)') });
    // Metadata addresses need their exact entry even when a broad range is allowed.
    const metadata = await mailer({ policy: new EgressPolicy(['169.254.0.0/16']) }).send({ ...transport(), host: '169.254.169.254' }, mail);
    expect(metadata).toMatchObject({ ok: false, message: expect.stringContaining('cloud metadata') });
  });
});

describe.each(BACKENDS)('IMAP accounts and the egress policy on %s', (kind) => {
  let db: TestDatabase;
  let deps: AppDeps;
  let listener: Server;
  let port: number;
  let connections = 0;
  const pollers: ImapPoller[] = [];

  beforeEach(async () => {
    db = await openTestDatabase(kind);
    deps = makeDeps(db, new TestClock(new Date()));
    connections = 0;
    // Stands in for an internal service: it must never be connected to.
    listener = createServer((socket) => { connections++; socket.destroy(); });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
    port = (listener.address() as { port: number }).port;
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    await db.cleanup();
  });

  const imapAccount = async (host: string) => (await createEmailAccount(deps, {
    name: 'Support', address: `support-${Math.random().toString(36).slice(2, 8)}@stadtwerke.example`,
    inbound: { type: 'imap', host, port, secure: false, user: 'u', password: 'imap-secret', folder: 'INBOX' },
  })).id;

  it('does not connect to an internal address the policy does not allow, and says why', async () => {
    const poller = new ImapPoller({ deps, holder: 'h1', pollSeconds: 60 });
    pollers.push(poller);
    const id = await imapAccount('127.0.0.1');
    await expect(poller.syncAccount(id)).rejects.toMatchObject({ code: 'egress_refused', message: expect.stringContaining('127.0.0.1 is a loopback address') });
    const named = await imapAccount('imap.stadtwerke.example');
    const resolving = new ImapPoller({ deps, holder: 'h2', pollSeconds: 60, lookup: async () => [{ address: '192.168.7.7', family: 4 }] });
    pollers.push(resolving);
    await expect(resolving.syncAccount(named)).rejects.toMatchObject({ code: 'egress_refused', message: expect.stringContaining('192.168.7.7 is a private address') });
    expect(connections).toBe(0);
  });

  it('connects when DESKHOOK_EGRESS_ALLOW covers the address', async () => {
    const poller = new ImapPoller({ deps, holder: 'h3', pollSeconds: 60, policy: new EgressPolicy(['127.0.0.1/32']) });
    pollers.push(poller);
    const id = await imapAccount('127.0.0.1');
    // The stand-in hangs up at once: the sync fails, but only after the policy let it connect.
    await expect(poller.syncAccount(id)).rejects.toBeDefined();
    expect(connections).toBe(1);
  });
});
