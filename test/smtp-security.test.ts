import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppDeps } from '../src/app/deps.ts';
import { createEmailAccount } from '../src/app/email-accounts.ts';
import { createSmtpInbound } from '../src/adapters/smtp/inbound-server.ts';
import { openTestDatabase, type TestDatabase } from './support/backends.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

/** The inbound SMTP server's optional AUTH and STARTTLS, for relays that forward to deskhook. */
describe('inbound SMTP with AUTH and STARTTLS', () => {
  let db: TestDatabase;
  let deps: AppDeps;
  let port: number;
  let close: () => Promise<void>;

  beforeAll(async () => {
    db = await openTestDatabase('sqlite');
    deps = makeDeps(db, new TestClock(new Date()));
    await createEmailAccount(deps, { name: 'S', address: 'support@example.com', inbound: { type: 'smtp' } });
    const dir = mkdtempSync(join(tmpdir(), 'deskhook-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const server = createSmtpInbound({
      deps, maxMessageBytes: 100_000, closeTimeoutMs: 200,
      tls: { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') },
      auth: { user: 'relay', password: 'relay-password' },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.server.address() as { port: number }).port;
    close = () => new Promise<void>((r) => server.close(() => r()));
  });
  afterAll(async () => {
    await close();
    await db.cleanup();
  });

  const send = (options: { auth?: { user: string; pass: string }; ignoreTLS?: boolean }) =>
    nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, tls: { rejectUnauthorized: false }, ...options })
      .sendMail({ from: 'erika@example.com', to: 'support@example.com', subject: 'Hallo', text: 'x' });

  it('accepts an authenticated client over STARTTLS', async () => {
    const info = await send({ auth: { user: 'relay', pass: 'relay-password' } });
    expect(info.response).toMatch(/^250/);
  });

  it('refuses a wrong password (535) and a client that does not authenticate (530)', async () => {
    await expect(send({ auth: { user: 'relay', pass: 'wrong' } })).rejects.toMatchObject({ responseCode: 535 });
    await expect(send({})).rejects.toMatchObject({ responseCode: 530 });
  });

  it('announces STARTTLS and does not accept AUTH in plain text', async () => {
    await expect(send({ auth: { user: 'relay', pass: 'relay-password' }, ignoreTLS: true })).rejects.toMatchObject({ responseCode: 538 });
  });
});
