import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppDeps } from '../src/app/deps.ts';
import { createUser } from '../src/app/auth/users.ts';
import { createEmailAccount } from '../src/app/email-accounts.ts';
import { clientKey } from '../src/adapters/smtp/inbound-server.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { startInbound } from './support/mail.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

const SUPPORT = 'support@stadtwerke.example';
const SALES = 'sales@stadtwerke.example';

// Point 4 of the security review: a flood is limited whoever the sender claims to be.
describe.each(BACKENDS)('inbound mail flood limits and the storage guard on %s', (kind) => {
  let db: TestDatabase;
  let deps: AppDeps;
  let clock: TestClock;
  let inbound: Awaited<ReturnType<typeof startInbound>>;
  const extra: Array<{ close(): Promise<void> }> = [];

  beforeEach(async () => {
    db = await openTestDatabase(kind);
    clock = new TestClock(new Date('2025-03-03T10:00:00Z'));
    deps = makeDeps(db, clock);
    inbound = await startInbound(deps);
    for (const address of [SUPPORT, SALES]) {
      await createEmailAccount(deps, {
        name: address, address, inbound: { type: 'smtp' },
        outbound: { host: '127.0.0.1', port: 9, secure: false, user: null, senderName: null },
      });
    }
  });
  afterEach(async () => {
    await Promise.all(extra.splice(0).map((s) => s.close()));
    await inbound.close();
    await db.cleanup();
  });

  const stored = async () => Number((await sql<{ n: number }>`select count(*) as n from inbound_messages`.execute(db.handle.db)).rows[0]!.n);
  const bounce = (i: number, to = SUPPORT) => inbound.send({
    envelope: { from: '', to: [to] },
    raw: `From: MAILER-DAEMON@mx.example\r\nTo: ${to}\r\nSubject: Undelivered Mail Returned to Sender ${i}\r\nAuto-Submitted: auto-replied\r\n\r\nThis is the mail system.\r\n`,
  });

  it('counts the null sender <>: bounces are accepted within the limit, a flood of them is refused', async () => {
    deps.mail.settings.maxPerSenderPerWindow = 3;
    for (let i = 0; i < 3; i++) expect((await bounce(i)).response).toMatch(/^250 /);
    await expect(bounce(3)).rejects.toMatchObject({ responseCode: 451, response: expect.stringContaining('too many messages from this sender') });
    // Ordinary senders and the null sender at another account are counted separately.
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'fine', text: 'x' });
    expect((await bounce(4, SALES)).response).toMatch(/^250 /);
    expect(await stored()).toBe(5);
  });

  it('limits one client address however many senders it rotates through', async () => {
    deps.mail.settings.maxPerClientPerWindow = 5;
    for (let i = 0; i < 5; i++) await inbound.send({ from: `rotating${i}@example.com`, to: i % 2 ? SUPPORT : SALES, subject: `n${i}`, text: 'x' });
    await expect(inbound.send({ from: 'rotating99@example.com', to: SUPPORT, subject: 'n5', text: 'x' }))
      .rejects.toMatchObject({ responseCode: 451, response: expect.stringContaining('too many messages from your address') });
    expect(await stored()).toBe(5);
    // The next window starts afresh.
    clock.advance(600_000);
    await inbound.send({ from: 'rotating100@example.com', to: SUPPORT, subject: 'later', text: 'x' });
    expect(await stored()).toBe(6);
  });

  it('limits one account whatever the senders and clients, leaving other accounts open', async () => {
    deps.mail.settings.maxPerAccountPerWindow = 4;
    for (let i = 0; i < 4; i++) await inbound.send({ from: `s${i}@example.com`, to: SUPPORT, subject: `n${i}`, text: 'x' });
    await expect(inbound.send({ from: 's9@example.com', to: SUPPORT, subject: 'n4', text: 'x' }))
      .rejects.toMatchObject({ responseCode: 451, response: expect.stringContaining('all senders to this mailbox') });
    await inbound.send({ from: 's9@example.com', to: SALES, subject: 'other account', text: 'x' });
    expect(await stored()).toBe(5);
  });

  it('holds the count across SMTP processes and concurrent sessions (the database keeps it)', async () => {
    deps.mail.settings.maxPerClientPerWindow = 6;
    // A second SMTP server on its own database handle, as another process would be.
    const other = await db.reopen();
    const otherDeps = makeDeps({ ...db, handle: other.handle, store: other.store }, clock);
    otherDeps.mail.settings.maxPerClientPerWindow = 6;
    const second = await startInbound(otherDeps);
    extra.push(second);
    const sends = Array.from({ length: 12 }, (_, i) => (i % 2 ? inbound : second)
      .send({ from: `parallel${i}@example.com`, to: SUPPORT, subject: `p${i}`, text: 'x' })
      .then(() => 'accepted', (err: { responseCode?: number }) => err.responseCode));
    const outcomes = await Promise.all(sends);
    expect(outcomes.filter((o) => o === 'accepted')).toHaveLength(6);
    expect(outcomes.filter((o) => o === 451)).toHaveLength(6);
    expect(await stored()).toBe(6);
  });

  it('past the storage quota answers 452 with a reason, tells the admins once, and accepts again when there is room', async () => {
    const admin = await createUser(deps, { email: 'admin@stadtwerke.example', name: 'Admin', role: 'admin', password: 'long enough pw' });
    const body = 'a'.repeat(4000);
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'one', text: body });
    deps.mail.settings.storageQuotaBytes = (await db.store.inbound.storedBytes()) + 1000;
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'two', text: body });
    for (const subject of ['three', 'four']) {
      await expect(inbound.send({ from: 'max@example.com', to: SUPPORT, subject, text: 'x' }))
        .rejects.toMatchObject({ responseCode: 452, response: expect.stringContaining('mail storage is full') });
    }
    expect(await stored()).toBe(2);
    const notes = (await db.store.notifications.list(admin.id, false, { limit: 10, cursor: null })).items;
    expect(notes).toEqual([expect.objectContaining({ kind: 'mail_storage_full', message: expect.stringContaining('DESKHOOK_MAIL_STORAGE_QUOTA_MB') })]);
    // The admin raises the quota: mail flows again.
    deps.mail.settings.storageQuotaBytes = 10_000_000;
    await inbound.send({ from: 'max@example.com', to: SUPPORT, subject: 'five', text: 'x' });
    expect(await stored()).toBe(3);
  });

  it('keys IPv6 clients by their /64 and IPv4-mapped clients by the IPv4 address', () => {
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('198.51.100.4')).toBe('198.51.100.4');
  });
});
