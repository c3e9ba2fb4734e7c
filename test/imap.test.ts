import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AppDeps } from '../src/app/deps.ts';
import { createEmailAccount, updateEmailAccount } from '../src/app/email-accounts.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { EgressPolicy } from '../src/adapters/egress/address-policy.ts';
import { ImapPoller } from '../src/adapters/imap/imap-poller.ts';
import { isLoopbackHost, imapOptions } from '../src/adapters/imap/imap-mailbox.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { dovecotMissing, startDovecot, type Dovecot } from './support/dovecot.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

/**
 * IMAP inbound against a real Dovecot: every message of the folder becomes exactly one stored
 * message and one ticket, whatever restarts, second processes or UIDVALIDITY changes happen.
 */

const CRLF = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'));

const GERMAN = CRLF(`From: Erika Mustermann <erika@example.de>
To: support@deskhook.test
Subject: =?UTF-8?Q?Z=C3=A4hlerstand_f=C3=BCr_M=C3=A4rz?=
Message-ID: <zaehler-1@example.de>
Date: Sat, 28 Nov 2026 09:15:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Guten Tag, mein Z=C3=A4hlerstand am 1. M=C3=A4rz war 12345 kWh (Z=C3=A4hler 1ESY1160123).
Mit freundlichen Gr=C3=BC=C3=9Fen, Erika Mustermann
`);

const ENGLISH = CRLF(`From: John Smith <john.smith@example.com>
To: support@deskhook.test
Subject: Question about my invoice
Message-ID: <invoice-2@example.com>
Date: Sat, 28 Nov 2026 09:20:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello, my last invoice for contract V-2024-0815 looks twice as high as usual.
Could you check it? Thanks, John
`);

const WITH_ATTACHMENT = CRLF(`From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>
To: support@deskhook.test
Subject: =?UTF-8?B?S8O8bmRpZ3VuZyBtZWluZXMgVmVydHJhZ3M=?=
Message-ID: <kuendigung-3@example.de>
Date: Sat, 28 Nov 2026 09:30:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hallo, anbei meine Kündigung zum Monatsende. Bitte bestätigen Sie den Eingang.
--b1
Content-Type: application/pdf; name="kuendigung.pdf"
Content-Disposition: attachment; filename="kuendigung.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDwvUm9vdCAxIDAgUj4+CiUlRU9GCg==
--b1--
`);

const later = (n: number) => CRLF(`From: Erika Mustermann <erika@example.de>
To: support@deskhook.test
Subject: Nachtrag ${n}
Message-ID: <nachtrag-${n}@example.de>
Date: Sat, 28 Nov 2026 10:0${n}:00 +0100
Content-Type: text/plain; charset=utf-8

Noch eine Frage (${n}).
`);

const SUBJECTS = ['Kündigung meines Vertrags', 'Question about my invoice', 'Zählerstand für März'];

interface LogEntry { level: string; msg?: string; obj: Record<string, unknown> }

function capturingLogger(entries: LogEntry[], bindings: Record<string, unknown> = {}): AppDeps['logger'] {
  const at = (level: string) => (obj: object, msg?: string) => { entries.push({ level, msg, obj: { ...bindings, ...obj } }); };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (b) => capturingLogger(entries, { ...bindings, ...b }) };
}

async function until<T>(what: string, probe: () => Promise<T | false | null | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const missing = dovecotMissing();
if (missing) {
  // CI installs Dovecot (.ci/run): there a missing binary is a failure, not a silent skip.
  describe.skipIf(!process.env.CI)('IMAP inbound', () => {
    it('has a Dovecot to test against', () => {
      throw new Error(missing);
    });
  });
}

describe.runIf(!missing)('IMAP inbound', () => {
  let dovecot: Dovecot;
  let folders = 0;
  beforeAll(async () => { dovecot = await startDovecot(); });
  afterAll(async () => { await dovecot?.stop(); });

  it('allows cleartext only to a loopback server; elsewhere it requires TLS or STARTTLS', () => {
    const target = { host: '127.0.0.1', port: 143, secure: false, user: 'u', password: 'p', folder: 'INBOX' };
    expect(imapOptions(target, 1000)).toMatchObject({ secure: false, doSTARTTLS: false, logger: false });
    expect(imapOptions({ ...target, host: 'imap.example.com' }, 1000)).toMatchObject({ secure: false, doSTARTTLS: true });
    expect(imapOptions({ ...target, host: 'imap.example.com', port: 993, secure: true }, 1000)).toMatchObject({ secure: true, doSTARTTLS: undefined });
    expect(['localhost', '127.0.0.2', '::1', '[::1]'].every(isLoopbackHost)).toBe(true);
    expect(['10.0.0.1', 'imap.example.com', '128.0.0.1', 'localhost.example.com'].some(isLoopbackHost)).toBe(false);
  });

  describe.each(BACKENDS)('on %s', (kind) => {
    let db: TestDatabase;
    let clock: TestClock;
    let deps: AppDeps;
    let logs: LogEntry[];
    let folder: string;
    const pollers: ImapPoller[] = [];

    const poller = (holder: string, options: Partial<ConstructorParameters<typeof ImapPoller>[0]> = {}) => {
      const p = new ImapPoller({ deps, holder, pollSeconds: 60, policy: new EgressPolicy(['127.0.0.1/32']), ...options });
      pollers.push(p);
      return p;
    };
    const account = async (overrides: { password?: string; port?: number; folder?: string } = {}) =>
      (await createEmailAccount(deps, {
        name: 'Support', address: `support-${Math.random().toString(36).slice(2, 10)}@deskhook.test`,
        inbound: { type: 'imap', host: '127.0.0.1', port: dovecot.port, secure: false, user: dovecot.user, password: dovecot.password, folder, ...overrides },
      })).id;
    const storedKeys = async (accountId: number) =>
      (await db.handle.db.selectFrom('inbound_messages').select('source_key').where('email_account_id', '=', accountId).orderBy('id').execute()).map((r) => r.source_key);
    const subjects = async (accountId: number) =>
      (await db.store.tickets.search({ emailAccountId: accountId }, { limit: 100, cursor: null })).items.map((t) => t.subject).sort();
    const drain = async () => {
      const all = [];
      for (let batch = await processPendingInbound(deps); batch.length; batch = await processPendingInbound(deps)) all.push(...batch);
      return all;
    };
    /** The same database and secret key seen from another process. */
    const secondProcess = async () => makeDeps(db, clock, { store: (await db.reopen()).store, secretBox: deps.secretBox, logger: deps.logger });

    beforeEach(async () => {
      db = await openTestDatabase(kind);
      clock = new TestClock();
      logs = [];
      deps = makeDeps(db, clock, { logger: capturingLogger(logs) });
      folder = `${kind}${++folders}`;
      for (const raw of [GERMAN, ENGLISH, WITH_ATTACHMENT]) await dovecot.append(raw, folder);
    });
    afterEach(async () => {
      await Promise.all(pollers.splice(0).map((p) => p.stop()));
      await db.cleanup();
    });

    it('stores each new message once, flags it \\Seen and turns it into a ticket', async () => {
      const id = await account();
      const p = poller('proc-1');
      expect(await p.syncAccount(id)).toEqual({ fetched: 3, stored: 3, duplicates: 0, leased: true });
      const results = await drain();
      expect(results.map((r) => r.outcome)).toEqual(['new_ticket', 'new_ticket', 'new_ticket']);
      expect(await subjects(id)).toEqual(SUBJECTS);
      const tickets = (await db.store.tickets.search({ emailAccountId: id }, { limit: 10, cursor: null })).items;
      expect(tickets.find((t) => t.subject === 'Kündigung meines Vertrags')!.attachments).toMatchObject([{ name: 'kuendigung.pdf', contentType: 'application/pdf' }]);
      expect(tickets.find((t) => t.subject === 'Zählerstand für März')).toMatchObject({ from: 'erika@example.de', fromName: 'Erika Mustermann' });
      expect(await storedKeys(id)).toEqual([1, 2, 3].map((uid) => expect.stringMatching(new RegExp(`^imap:${folder}:\\d+:${uid}$`))));

      expect(await dovecot.flags(folder)).toEqual([['\\Seen'], ['\\Seen'], ['\\Seen']]);

      expect(await p.syncAccount(id)).toEqual({ fetched: 0, stored: 0, duplicates: 0, leased: true });
      await dovecot.append(later(1), folder);
      expect(await p.syncAccount(id)).toEqual({ fetched: 1, stored: 1, duplicates: 0, leased: true });
      expect((await drain()).map((r) => r.outcome)).toEqual(['new_ticket']);
      expect(await subjects(id)).toEqual([...SUBJECTS, 'Nachtrag 1'].sort());
    });

    it('leaves a message over the size limit unread in the mailbox and reads the rest', async () => {
      const id = await account();
      const limit = Math.max(GERMAN.length, ENGLISH.length) + 10;
      expect(WITH_ATTACHMENT.length).toBeGreaterThan(limit);
      expect(await poller('proc-1', { maxMessageBytes: limit }).syncAccount(id)).toEqual({ fetched: 2, stored: 2, duplicates: 0, leased: true });
      expect(logs.some((l) => l.level === 'warn' && l.obj.emailAccountId === id && l.obj.uid === 3)).toBe(true);
      expect(await dovecot.flags(folder)).toEqual([['\\Seen'], ['\\Seen'], []]);
      expect((await db.store.imapCursors.get(id))!.lastUid).toBe(3);
    });

    it('is restart-safe: a new process continues from the cursor, and a re-read message is absorbed', async () => {
      const id = await account();
      const first = poller('proc-1');
      expect((await first.syncAccount(id)).stored).toBe(3);
      await first.stop();

      const restarted = poller('proc-2', { deps: await secondProcess() });
      expect(await restarted.syncAccount(id)).toEqual({ fetched: 0, stored: 0, duplicates: 0, leased: true });
      // A crash between committing the message and moving the cursor: the message is read again.
      const cursor = (await db.store.imapCursors.get(id))!;
      await db.store.imapCursors.set(id, { ...cursor, lastUid: cursor.lastUid - 1 }, clock.now().toISOString());
      expect(await restarted.syncAccount(id)).toEqual({ fetched: 1, stored: 0, duplicates: 1, leased: true });
      await drain();
      expect(await subjects(id)).toEqual(SUBJECTS);
      expect(await storedKeys(id)).toHaveLength(3);
    });

    it('reads each message once with two processes polling the same account, and hands over on stop', async () => {
      const id = await account();
      let accepted = 0;
      const a = poller('proc-a', { pollSeconds: 0.3, onAccepted: () => accepted++ });
      const b = poller('proc-b', { deps: await secondProcess(), pollSeconds: 0.3 });
      a.start();
      b.start();
      await until('3 stored', async () => (await storedKeys(id)).length === 3);
      await dovecot.append(later(1), folder);
      await dovecot.append(later(2), folder);
      await until('5 stored', async () => (await storedKeys(id)).length === 5);
      // Whoever does not hold the lease reads nothing.
      const results = [await a.syncAccount(id), await b.syncAccount(id)];
      expect(results.map((r) => r.leased).sort()).toEqual([false, true]);
      const [holder, other] = results[0]!.leased ? [a, b] : [b, a];
      if (holder === a) expect(accepted).toBeGreaterThan(0);

      // The holder stops and releases the lease; the other process takes over at its next poll.
      await holder.stop();
      await dovecot.append(later(3), folder);
      await until('6 stored', async () => (await storedKeys(id)).length === 6);
      await other.stop();

      const keys = await storedKeys(id);
      expect(new Set(keys).size).toBe(6);
      await drain();
      expect(await subjects(id)).toEqual([...SUBJECTS, 'Nachtrag 1', 'Nachtrag 2', 'Nachtrag 3'].sort());
    });

    it('stores each message once even when two readers overlap (a lease lost to a paused process)', async () => {
      const id = await account();
      // The same holder name passes the lease check in both: only sourceKey dedup protects.
      const a = poller('same');
      const b = poller('same', { deps: await secondProcess() });
      const [ra, rb] = await Promise.all([a.syncAccount(id), b.syncAccount(id)]);
      expect(ra.stored + rb.stored).toBe(3);
      expect(ra.fetched + rb.fetched).toBe(ra.stored + rb.stored + ra.duplicates + rb.duplicates);
      expect(await storedKeys(id)).toHaveLength(3);
    });

    it('skips an account whose lease another live process holds, and takes over an expired one', async () => {
      const id = await account();
      const now = clock.now().getTime();
      await db.store.leases.acquire(`imap:${id}`, 'other-process', new Date(now + 60_000).toISOString(), new Date(now).toISOString());
      const p = poller('proc-1');
      expect(await p.syncAccount(id)).toEqual({ fetched: 0, stored: 0, duplicates: 0, leased: false });
      clock.advance(61_000);
      expect(await p.syncAccount(id)).toMatchObject({ stored: 3, leased: true });
    });

    it('creates no duplicate tickets when UIDVALIDITY changes', async () => {
      const id = await account();
      const p = poller('proc-1');
      await p.syncAccount(id);
      await drain();

      // A cursor from another UIDVALIDITY: every UID is re-read, the sourceKeys are the same.
      const cursor = (await db.store.imapCursors.get(id))!;
      await db.store.imapCursors.set(id, { ...cursor, uidValidity: '1', lastUid: 99 }, clock.now().toISOString());
      expect(await p.syncAccount(id)).toEqual({ fetched: 3, stored: 0, duplicates: 3, leased: true });
      expect(await db.store.imapCursors.get(id)).toEqual(cursor);

      // The server renumbers the folder (deleted and rebuilt, as in a migration): new sourceKeys,
      // so the messages are stored again, but threading knows their Message-IDs.
      await dovecot.deleteFolder(folder);
      for (const raw of [GERMAN, ENGLISH, WITH_ATTACHMENT]) await dovecot.append(raw, folder);
      expect(await p.syncAccount(id)).toMatchObject({ fetched: 3, stored: 3 });
      expect((await db.store.imapCursors.get(id))!.uidValidity).not.toBe(cursor.uidValidity);
      expect((await drain()).map((r) => r.outcome)).toEqual(['duplicate', 'duplicate', 'duplicate']);
      expect(await subjects(id)).toEqual(SUBJECTS);
    });

    it('logs a wrong password or a dead server with the account id and keeps serving other accounts', async () => {
      const wrong = await account({ password: 'not-the-password' });
      const refused = await account({ port: 1 });
      const good = await account();
      const probe = poller('probe');
      await expect(probe.syncAccount(wrong)).rejects.toMatchObject({ authenticationFailed: true });
      const noFolder = await account({ folder: 'NoSuchFolder' });
      await expect(probe.syncAccount(noFolder)).rejects.toMatchObject({ mailboxMissing: true });
      await probe.stop();

      const p = poller('proc-1', { pollSeconds: 0.3 });
      p.start();
      await until('the good account read', async () => (await storedKeys(good)).length === 3);
      await until('both failures logged', async () =>
        [wrong, refused, noFolder].every((accountId) => logs.some((l) => l.level === 'error' && l.obj.emailAccountId === accountId)));
      const failure = (accountId: number) => logs.find((l) => l.level === 'error' && l.obj.emailAccountId === accountId)!;
      expect(failure(wrong)).toMatchObject({ obj: { reason: 'authentication failed' } });
      expect(failure(wrong).msg).toContain(`email account ${wrong}`);
      expect(failure(refused)).toMatchObject({ obj: { reason: 'ECONNREFUSED' } });
      expect(failure(noFolder)).toMatchObject({ obj: { reason: 'folder does not exist' } });
      expect(await storedKeys(wrong)).toEqual([]);
      // The password reaches neither the message nor any field of the logged error.
      const logged = JSON.stringify(logs, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message, stack: v.stack } : v));
      expect(logged).not.toContain('not-the-password');

      // Still serving: the next message of the good account arrives.
      await dovecot.append(later(1), folder);
      await until('the next message read', async () => (await storedKeys(good)).length === 4);
      // An edited account is retried at the next poll, whatever pause its failures had earned.
      clock.advance(1000);
      await updateEmailAccount(deps, wrong, { inbound: { type: 'imap', host: '127.0.0.1', port: dovecot.port, secure: false, user: dovecot.user, password: dovecot.password, folder } });
      await until('the repaired account read', async () => (await storedKeys(wrong)).length === 4);
    });

    it('wakes on IDLE instead of waiting for the next poll, and stops cleanly', async () => {
      const id = await account();
      let accepted = 0;
      const p = poller('proc-1', { pollSeconds: 600, onAccepted: () => accepted++ });
      p.start();
      await until('the first poll', async () => (await storedKeys(id)).length === 3);
      const before = Date.now();
      await dovecot.append(later(1), folder);
      await until('the pushed message', async () => (await storedKeys(id)).length === 4, 8_000);
      expect(Date.now() - before).toBeLessThan(8_000);
      await until('onAccepted', async () => accepted === 2);

      const stopping = Date.now();
      await p.stop();
      await p.stop();
      expect(Date.now() - stopping).toBeLessThan(3_000);
      // The lease is free again, and nothing is read after stop.
      const now = clock.now().toISOString();
      expect(await db.store.leases.acquire(`imap:${id}`, 'next', now, now)).toBe(true);
      await dovecot.append(later(2), folder);
      await new Promise((r) => setTimeout(r, 700));
      expect(await storedKeys(id)).toHaveLength(4);
    });
  });
});
