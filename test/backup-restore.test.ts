import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  childEnv, killAll, login, removeTempDirs, REPO_ROOT, request, runDeskhook, sleep, startServer, stopServer, tempDir,
  type ApiResponse, type RunningServer,
} from './support/process.ts';

/**
 * docs/operations.md, "Backups and restore", run as it stands: the real `deskhook serve` as a child
 * process gets data through its API (an email account with a mail password and webhooks, tickets
 * with notes, a secret, an event hook, local ERP records, users, an API key); the backup is taken
 * with the documented commands WHILE the server runs and writes; the backup is restored into a new
 * data directory (SQLite) or a new database (PostgreSQL), and a new `deskhook serve` on it must
 * answer everything as before, open every sealed value with the same key, and find no migration to
 * apply.
 */

// ---- The commands of docs/operations.md (keep the two in step) ---------------------------------

/** Online backup of the embedded database, with the driver deskhook ships (run in deskhook's directory). */
const SQLITE_BACKUP_NODE = `mkdir -p -m 700 "$BACKUP"
node -e "require('better-sqlite3')(process.argv[1], { readonly: true }).backup(process.argv[2]).then(() => console.log('backup done'))" \\
  "$DATA/deskhook.sqlite" "$BACKUP/deskhook.sqlite"
cp -p "$DATA/secret.key" "$BACKUP/secret.key"`;

/** The same with the sqlite3 command-line shell, where it is installed. */
const SQLITE_BACKUP_CLI = `mkdir -p -m 700 "$BACKUP"
sqlite3 "$DATA/deskhook.sqlite" ".backup '$BACKUP/deskhook.sqlite'"
cp -p "$DATA/secret.key" "$BACKUP/secret.key"`;

/** Checking a backup: prints `ok` and exits 0, or prints the damage and exits 1. */
const SQLITE_CHECK = `node -e "const r = require('better-sqlite3')(process.argv[1], { readonly: true }).pragma('integrity_check', { simple: true }); console.log(r); process.exit(r === 'ok' ? 0 : 1)" \\
  "$BACKUP/deskhook.sqlite"`;

/** Restore into a new, empty data directory (the server is stopped); then `deskhook migrate`, then start. */
const SQLITE_RESTORE = `mkdir -m 700 "$DATA"
cp "$BACKUP/deskhook.sqlite" "$DATA/deskhook.sqlite"
cp -p "$BACKUP/secret.key" "$DATA/secret.key"`;

/** PostgreSQL: a dump in the custom format while deskhook runs… */
const PG_DUMP = `pg_dump --format=custom --file="$BACKUP/deskhook.dump" "$DATABASE_URL"`;
/** …restored into a new, empty database; then `deskhook migrate` and start with the same DESKHOOK_SECRET_KEY. */
const PG_RESTORE = `pg_restore --no-owner --single-transaction --dbname="$RESTORE_URL" "$BACKUP/deskhook.dump"`;

// ---- Helpers ------------------------------------------------------------------------------------

const run = promisify(execFile);

/** Runs a documented command with `sh -e` in deskhook's directory, node first on the PATH. */
async function shell(script: string, env: Record<string, string>): Promise<string> {
  const { stdout } = await run('sh', ['-ec', script], {
    cwd: REPO_ROOT,
    env: childEnv({ ...env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` }),
    timeout: 60_000,
  });
  return stdout;
}

async function hasCommand(name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function ok(res: ApiResponse, what: string, status = 200): any {
  expect(res.status, `${what}: ${res.text}`).toBe(status);
  return res.json;
}

interface Call { path: string; headers: IncomingHttpHeaders; body: string }

/** What the webhooks, the event hook and executor test runs call: records every request. */
async function startReceiver(): Promise<{ url: string; calls: Call[]; close(): Promise<void> }> {
  const calls: Call[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      calls.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (path.startsWith('/events')) {
        res.writeHead(204).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** True when the Standard Webhooks signature of the call verifies with `secret`. */
function signedWith(call: Call, secret: string): boolean {
  try {
    new Webhook(secret).verify(call.body, {
      'webhook-id': String(call.headers['webhook-id']),
      'webhook-timestamp': String(call.headers['webhook-timestamp']),
      'webhook-signature': String(call.headers['webhook-signature']),
    });
    return true;
  } catch {
    return false;
  }
}

const MAIL_USER = 'deskhook-mailer';

/** The account's outbound SMTP server: it accepts mail only after AUTH with the account's password. */
async function startMailServer(password: string): Promise<{ port: number; received: Array<{ user: string; subject: string; raw: string }>; close(): Promise<void> }> {
  const received: Array<{ user: string; subject: string; raw: string }> = [];
  const server = new SMTPServer({
    authOptional: false, allowInsecureAuth: true, disabledCommands: ['STARTTLS'], logger: false, closeTimeout: 200,
    onAuth(auth, _session, callback) {
      if (auth.username === MAIL_USER && auth.password === password) return callback(null, { user: MAIL_USER });
      return callback(Object.assign(new Error('535 authentication failed'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({ user: String(session.user), subject: /^Subject: (.*)$/m.exec(raw)?.[1] ?? '', raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---- The data an installation has ---------------------------------------------------------------

const ADMIN_EMAIL = 'ops-admin@example.com';
const ADMIN_PASSWORD = `admin-${randomBytes(6).toString('hex')}`;
const AGENT_EMAIL = 'ops-agent@example.com';
const AGENT_PASSWORD = `agent-${randomBytes(6).toString('hex')}`;
const HOOK_TOKEN = `hook-token-${randomBytes(8).toString('hex')}`;
const MAIL_PASSWORD = `mail-${randomBytes(8).toString('hex')}`;
const ACCOUNT_ADDRESS = 'service@stadtwerke.example';

interface Seeded {
  token: string;
  apiKey: string;
  accountId: number;
  /** The signing secrets as the original server revealed them. */
  accountSecret: string;
  hookId: number;
  hookSecret: string;
  ticketIds: number[];
}

function serverEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DESKHOOK_ADMIN_EMAIL: ADMIN_EMAIL, DESKHOOK_ADMIN_PASSWORD: ADMIN_PASSWORD,
    DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32', DESKHOOK_EVENT_POLL_MS: '50',
    // The test's SMTP server takes the account's password without TLS, on loopback only.
    DESKHOOK_MAIL_PLAINTEXT_HOSTS: '127.0.0.1', ...extra,
  };
}

async function seed(base: string, receiver: string, mailPort: number, mail: { received: unknown[] }): Promise<Seeded> {
  const token = ok(await login(base, ADMIN_EMAIL, ADMIN_PASSWORD), 'login').token as string;
  const api = (method: string, path: string, body?: unknown) => request(base, method, `/api/v1${path}`, { token, ...(body !== undefined ? { body } : {}) });
  const adminId = ok(await api('GET', '/auth/me'), 'me').id as number;

  ok(await api('PUT', '/secrets/HOOK_TOKEN', { value: HOOK_TOKEN }), 'secret');
  const hookExecutor = (path: string) => ({ type: 'apiCall', url: `${receiver}${path}`, headers: { Authorization: 'Bearer {{secret.HOOK_TOKEN}}' } });
  const account = ok(await api('POST', '/email-accounts', {
    name: 'Kundenservice', address: ACCOUNT_ADDRESS, inbound: { type: 'smtp' },
    outbound: { host: '127.0.0.1', port: mailPort, secure: false, user: MAIL_USER, password: MAIL_PASSWORD, senderName: 'Stadtwerke' },
    webhooks: { enabled: true, ticketUpdates: hookExecutor('/webhook'), newEmails: hookExecutor('/webhook'), timeoutMs: 5000, failurePolicy: 'notify' },
  }), 'account', 201);
  expect(account.outbound.hasPassword).toBe(true);
  const accountSecret = ok(await api('GET', `/email-accounts/${account.id}/webhooks/signing-secret`), 'account secret').signingSecret as string;

  const hook = ok(await api('POST', '/event-hooks', {
    name: 'Backup probe', events: ['TicketCreated', 'ConversationCreated', 'TicketUpdated'], executor: hookExecutor('/events'), orderingKey: 'ticket',
  }), 'event hook', 201);
  const hookSecret = ok(await api('GET', `/event-hooks/${hook.id}/signing-secret`), 'hook secret').signingSecret as string;

  ok(await api('PUT', '/erp', { cacheTtlSeconds: { contractById: 1234 } }), 'erp settings');
  ok(await api('PUT', '/contracts/V-100234', {
    customerId: 'K-5521', business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.com',
    zip: '12345', city: 'Musterstadt', meterNumber: '1ESY1161234567',
  }), 'contract');
  ok(await api('PUT', '/customers/K-5521', {
    business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.com', contractIds: ['V-100234'],
  }), 'customer');

  ok(await api('POST', '/users', { email: AGENT_EMAIL, name: 'Agent', role: 'agent', password: AGENT_PASSWORD }), 'agent', 201);
  const apiKey = ok(await api('POST', '/api-keys', { userId: adminId, name: 'backup test' }), 'api key', 201).key as string;

  const ticketIds: number[] = [];
  for (const [i, subject] of ['Zählerstand Strom', 'Abschlag zu hoch', 'Umzug zum 1.'].entries()) {
    const ticket = ok(await api('POST', '/tickets', {
      subject, emailAccountId: account.id, from: `kunde${i}@example.org`, fromName: `Kunde ${i}`, to: [ACCOUNT_ADDRESS],
      body: `Guten Tag,\nTicket ${i} mit Umlauten: äöüß.\n`,
    }), 'ticket', 201);
    ticketIds.push(ticket.id);
    ok(await api('POST', `/tickets/${ticket.id}/conversations`, { direction: 'internal', body: `Interne Notiz ${i}: Rückruf vereinbart.` }), 'note', 201);
  }
  ok(await api('PATCH', `/tickets/${ticketIds[0]}`, { priority: 'high', addTags: ['backup', 'strom'], contractId: 'V-100234', customerId: 'K-5521' }), 'patch');
  // A reply: the worker sends it through the account's server, logging in with the sealed password.
  ok(await api('POST', `/tickets/${ticketIds[0]}/conversations`, { direction: 'out', body: 'Guten Tag, vielen Dank für Ihren Zählerstand.' }), 'reply', 201);
  await until('the reply to be sent', () => mail.received.length >= 1);
  await until('the reply to be marked sent', async () => {
    const items = ok(await api('GET', `/tickets/${ticketIds[0]}/conversations`), 'conversations').items as Array<{ direction: string; deliveryStatus: string }>;
    return items.some((c) => c.direction === 'out' && c.deliveryStatus === 'sent');
  });
  // Every event queued so far delivered: the backup then holds settled deliveries.
  await until('event deliveries to settle', async () => {
    const text = (await request(base, 'GET', '/metrics')).text;
    return /^deskhook_event_deliveries_pending 0$/m.test(text);
  });
  return { token, apiKey, accountId: account.id, accountSecret, hookId: hook.id, hookSecret, ticketIds };
}

/** What the API answers about the seeded data; equal before the backup and after the restore. */
async function snapshot(base: string, s: Seeded): Promise<Record<string, unknown>> {
  const get = async (path: string) => ok(await request(base, 'GET', `/api/v1${path}`, { token: s.token }), path);
  const tickets: unknown[] = [];
  for (const id of s.ticketIds) {
    tickets.push({
      ticket: await get(`/tickets/${id}`),
      conversations: await get(`/tickets/${id}/conversations?limit=200`),
      activity: await get(`/tickets/${id}/activity?limit=200`),
    });
  }
  const hook = await get(`/event-hooks/${s.hookId}`);
  return {
    tickets,
    account: await get(`/email-accounts/${s.accountId}`),
    accountSecret: await get(`/email-accounts/${s.accountId}/webhooks/signing-secret`),
    invocations: await get(`/email-accounts/${s.accountId}/invocations?limit=200`),
    // lastSuccessAt moves with every delivery of the write load.
    hook: { ...hook, lastSuccessAt: undefined, modifiedAt: undefined },
    hookSecret: await get(`/event-hooks/${s.hookId}/signing-secret`),
    secrets: await get('/secrets'),
    users: await get('/users'),
    erp: await get('/erp'),
    contract: await get('/contracts/V-100234'),
    customer: await get('/customers/K-5521'),
    search: await get('/customers/search?q=Mustermann'),
  };
}

/** The snapshot holds what the restore has to bring back (so comparing it proves something). */
function expectSubstantial(before: Record<string, any>, events: unknown[]): void {
  expect(before.tickets).toHaveLength(3);
  for (const t of before.tickets) {
    expect(t.conversations.items.some((c: { direction: string; body: string }) => c.direction === 'internal' && c.body.startsWith('Interne Notiz'))).toBe(true);
    expect(t.activity.items.length).toBeGreaterThan(0);
  }
  expect(before.tickets[0].ticket).toMatchObject({ priority: 'high', tags: ['backup', 'strom'], contractId: 'V-100234' });
  expect(before.tickets[0].conversations.items.some((c: { direction: string; deliveryStatus: string }) => c.direction === 'out' && c.deliveryStatus === 'sent')).toBe(true);
  // The notes, the change and the reply each called the account's webhooks.
  expect(before.invocations.items.length).toBeGreaterThanOrEqual(5);
  expect(before.invocations.items.every((i: { outcome: string }) => i.outcome === 'ok')).toBe(true);
  expect(before.secrets.items.map((i: { key: string }) => i.key)).toEqual(['HOOK_TOKEN']);
  expect(before.users.items.map((u: { email: string }) => u.email)).toEqual(expect.arrayContaining([ADMIN_EMAIL, AGENT_EMAIL]));
  expect(before.search.items.map((c: { id: string }) => c.id)).toEqual(['K-5521']);
  expect(before.erp.cacheTtlSeconds.contractById).toBe(1234);
  expect(events.length).toBeGreaterThanOrEqual(10);
}

async function eventFeed(base: string, token: string): Promise<Array<{ id: string }>> {
  const items: Array<{ id: string }> = [];
  let after = '0';
  for (;;) {
    const page = ok(await request(base, 'GET', `/api/v1/events?after=${after}&limit=200`, { token }), 'events');
    items.push(...page.items);
    if (!page.items.length) return items;
    after = page.nextCursor;
  }
}

interface Written { id: number; sentAt: number; ackedAt: number }

/** Creates tickets one after another until stopped: the writes a backup must cope with. */
function writeLoad(base: string, token: string): { written: Written[]; stop(): Promise<void> } {
  const written: Written[] = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      const sentAt = Date.now();
      const res = await request(base, 'POST', '/api/v1/tickets', { token, body: { subject: `written during the backup ${i}` } });
      expect(res.status, res.text).toBe(201);
      written.push({ id: res.json.id, sentAt, ackedAt: Date.now() });
    }
  })();
  return { written, stop: async () => { stopped = true; await done; } };
}

/**
 * The backup is one consistent moment: every ticket acknowledged before it began is in it, none
 * requested after it ended is, and those in it are a prefix of the ones written (no gaps).
 */
function expectSnapshotOfLoad(presentIds: number[], written: Written[], began: number, ended: number): void {
  const ids = written.map((w) => w.id);
  const present = ids.filter((id) => presentIds.includes(id));
  expect(present, 'a prefix of what was written').toEqual(ids.slice(0, present.length));
  for (const w of written) {
    if (w.ackedAt < began) expect(present, `ticket ${w.id} committed before the backup began`).toContain(w.id);
    if (w.sentAt > ended) expect(present, `ticket ${w.id} written after the backup ended`).not.toContain(w.id);
  }
}

async function allTicketIds(base: string, token: string): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  do {
    const page: any = ok(await request(base, 'GET', `/api/v1/tickets?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token }), 'tickets');
    ids.push(...page.items.map((t: { id: number }) => t.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids.sort((a, b) => a - b);
}

/**
 * The restored installation: the same answers, the old credentials, and every sealed value opens
 * (the secret in an executor test run and in the hooks' headers, both signing secrets, the mail
 * password at the SMTP login). Also: new rows continue after the restored ones.
 */
async function verifyRestored(
  server: RunningServer, s: Seeded, before: Record<string, unknown>, eventsBefore: Array<{ id: string }>,
  receiver: { url: string; calls: Call[] }, mail: { received: Array<{ user: string; subject: string }> },
): Promise<void> {
  const base = server.baseUrl;
  const msgs = server.child.logLines().map((l) => l.msg);
  expect(msgs, 'no migration applied at start').not.toContain('database migrated');
  expect(msgs, 'the key was found, not generated').not.toContain('generated the secret key; back it up with the database');
  expect(msgs, 'the users came back').not.toContain('created the first admin');
  expect(ok(await request(base, 'GET', '/readyz'), 'readyz')).toEqual({ status: 'ready' });

  // Credentials from before the backup: passwords, the login token, the API key.
  expect((await login(base, ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200);
  expect((await login(base, AGENT_EMAIL, AGENT_PASSWORD)).status).toBe(200);
  expect((await request(base, 'GET', '/api/v1/auth/me', { token: s.token })).status).toBe(200);
  expect((await request(base, 'GET', '/api/v1/tickets?limit=1', { token: s.apiKey })).status).toBe(200);

  expect(await snapshot(base, s)).toEqual(before);
  const events = await eventFeed(base, s.token);
  expect(events.slice(0, eventsBefore.length), 'every event from before the backup, in order').toEqual(eventsBefore);
  const account = before.account as { outbound: { hasPassword: boolean }; webhooks: { enabled: boolean } };
  expect(account.outbound.hasPassword).toBe(true);
  expect(account.webhooks.enabled).toBe(true);
  const beforeSecret = before.accountSecret as { signingSecret: string };
  expect(beforeSecret.signingSecret).toBe(s.accountSecret);

  const api = (method: string, path: string, body?: unknown) => request(base, method, `/api/v1${path}`, { token: s.token, ...(body !== undefined ? { body } : {}) });

  // The secret opens: an executor test run sends it in a header…
  const probeCalls = receiver.calls.length;
  const probe = ok(await api('POST', '/executors/test', {
    executor: { type: 'apiCall', url: `${receiver.url}/probe`, headers: { Authorization: 'Bearer {{secret.HOOK_TOKEN}}' } }, input: { probe: true },
  }), 'executor test');
  expect(probe.ok, JSON.stringify(probe)).toBe(true);
  const probeCall = receiver.calls.slice(probeCalls).find((c) => c.path === '/probe');
  expect(probeCall?.headers.authorization).toBe(`Bearer ${HOOK_TOKEN}`);
  // …and custom code reads it.
  const code = `export default async (input, ctx) => ({ same: (await ctx.secrets.get('HOOK_TOKEN')) === ${JSON.stringify(HOOK_TOKEN)} });`;
  const custom = ok(await api('POST', '/executors/test', { executor: { type: 'sourceCode', language: 'javascript', code }, input: {} }), 'custom code test');
  expect(custom, JSON.stringify(custom)).toMatchObject({ ok: true, output: { same: true } });

  // The account's webhook: signed with the signing secret from before the backup, secret in the header.
  const hookCalls = receiver.calls.length;
  const test = ok(await api('POST', `/email-accounts/${s.accountId}/webhooks/newEmails/test`), 'webhook test');
  expect(test.outcome, JSON.stringify(test)).toBe('ok');
  const hookCall = receiver.calls.slice(hookCalls).find((c) => c.path === '/webhook');
  expect(hookCall, 'the webhook was called').toBeDefined();
  expect(signedWith(hookCall!, s.accountSecret)).toBe(true);
  expect(hookCall!.headers.authorization).toBe(`Bearer ${HOOK_TOKEN}`);

  // A new ticket: ids go on after the restored ones, and the event hook delivers it, signed as before.
  const maxBefore = Math.max(...(await allTicketIds(base, s.token)));
  const ticket = ok(await api('POST', '/tickets', {
    subject: 'after the restore', emailAccountId: s.accountId, from: 'neu@example.org', to: [ACCOUNT_ADDRESS], body: 'Hallo',
  }), 'new ticket', 201);
  expect(ticket.id).toBeGreaterThan(maxBefore);
  const delivered = await until('the event hook to receive the new ticket', () => receiver.calls.find((c) => {
    if (!c.path.startsWith('/events')) return false;
    const event = JSON.parse(c.body) as { type: string; data: { ticketId?: number } };
    return event.type === 'TicketCreated' && event.data.ticketId === ticket.id;
  }));
  expect(signedWith(delivered, s.hookSecret)).toBe(true);
  expect(delivered.headers.authorization).toBe(`Bearer ${HOOK_TOKEN}`);

  // The mail password opens: a reply reaches the account's server, which demands the login.
  const sentBefore = mail.received.length;
  ok(await api('POST', `/tickets/${s.ticketIds[1]}/conversations`, { direction: 'out', body: 'Antwort nach der Wiederherstellung.' }), 'reply', 201);
  await until('the reply after the restore to be sent', () => mail.received.length > sentBefore);
  expect(mail.received.at(-1)).toMatchObject({ user: MAIL_USER });
  expect(mail.received.at(-1)!.subject).toMatch(new RegExp(`\\[#${s.ticketIds[1]}-[a-z2-7]{8}\\]`));
}

afterAll(async () => {
  await killAll();
  removeTempDirs();
});

it('docs/operations.md shows these commands exactly as they are run here', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8');
  for (const command of [SQLITE_BACKUP_NODE, SQLITE_BACKUP_CLI, SQLITE_CHECK, SQLITE_RESTORE, PG_DUMP, PG_RESTORE]) {
    for (const line of command.split('\n')) expect(doc, `docs/operations.md lacks: ${line}`).toContain(line.trim());
  }
});

// ---- SQLite -------------------------------------------------------------------------------------

describe('embedded SQLite: online backup while serving, restore into a new data directory', () => {
  const DATA = join(tempDir('deskhook-backup-'), 'data');
  const BACKUPS = tempDir('deskhook-backups-');
  const NODE_BACKUP = join(BACKUPS, 'node');
  const CLI_BACKUP = join(BACKUPS, 'sqlite3');
  let sqlite3Cli = false;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let mail: Awaited<ReturnType<typeof startMailServer>>;
  let seeded: Seeded;
  let before: Record<string, unknown>;
  let eventsBefore: Array<{ id: string }>;
  let written: Written[] = [];
  const window = { node: { began: 0, ended: 0 }, cli: { began: 0, ended: 0 } };

  beforeAll(async () => {
    sqlite3Cli = await hasCommand('sqlite3');
    receiver = await startReceiver();
    mail = await startMailServer(MAIL_PASSWORD);
  });
  afterAll(async () => {
    await killAll();
    await receiver?.close();
    await mail?.close();
  });

  it('takes the backup with the documented commands while the server runs and writes', async () => {
    const server = await startServer({ dataDir: DATA, env: serverEnv(), timeoutMs: 60_000 });
    seeded = await seed(server.baseUrl, receiver.url, mail.port, mail);
    before = await snapshot(server.baseUrl, seeded);
    eventsBefore = await eventFeed(server.baseUrl, seeded.token);
    expectSubstantial(before, eventsBefore);

    const load = writeLoad(server.baseUrl, seeded.token);
    await until('the write load to start', () => load.written.length >= 3);
    window.node.began = Date.now();
    expect(await shell(SQLITE_BACKUP_NODE, { DATA, BACKUP: NODE_BACKUP })).toContain('backup done');
    window.node.ended = Date.now();
    if (sqlite3Cli) {
      const sofar = load.written.length;
      await until('more writes', () => load.written.length >= sofar + 3);
      window.cli.began = Date.now();
      await shell(SQLITE_BACKUP_CLI, { DATA, BACKUP: CLI_BACKUP });
      window.cli.ended = Date.now();
    } else {
      console.log('sqlite3 is not installed: the sqlite3 variant of the backup is not run');
    }
    await sleep(300);
    await load.stop();
    written = load.written;
    console.log(`SQLite: ${written.length} tickets written during the backups (node backup ${window.node.ended - window.node.began} ms${sqlite3Cli ? `, sqlite3 backup ${window.cli.ended - window.cli.began} ms` : ''})`);
    // Writes went on before, (possibly) during and after each backup.
    expect(written.some((w) => w.ackedAt < window.node.began)).toBe(true);
    expect(written.some((w) => w.sentAt > (sqlite3Cli ? window.cli.ended : window.node.ended))).toBe(true);

    const exit = await stopServer(server);
    expect(exit, server.child.describe()).toEqual({ code: 0, signal: null });

    for (const dir of sqlite3Cli ? [NODE_BACKUP, CLI_BACKUP] : [NODE_BACKUP]) {
      expect((await shell(SQLITE_CHECK, { BACKUP: dir })).trim()).toBe('ok');
      expect(readFileSync(join(dir, 'secret.key'), 'utf8')).toBe(readFileSync(join(DATA, 'secret.key'), 'utf8'));
      expect(statSync(join(dir, 'secret.key')).mode & 0o777, 'cp -p keeps the key private').toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    }
    // One self-contained file: nothing of it lives in a -wal next to it.
    expect(readdirSync(NODE_BACKUP).filter((f) => f.endsWith('-wal') && statSync(join(NODE_BACKUP, f)).size > 0)).toEqual([]);
  }, 180_000);

  it('restores into a new data directory: `deskhook migrate` finds nothing to do, and everything is intact', async () => {
    const RESTORED = join(tempDir('deskhook-restored-'), 'data');
    await shell(SQLITE_RESTORE, { DATA: RESTORED, BACKUP: NODE_BACKUP });
    expect(statSync(join(RESTORED, 'secret.key')).mode & 0o777).toBe(0o600);

    const migrate = await runDeskhook(['migrate'], childEnv({ DESKHOOK_DATA_DIR: RESTORED }));
    expect(migrate.code, JSON.stringify(migrate)).toBe(0);
    expect(migrate.stdout).toBe('the database is up to date\n');

    const server = await startServer({ dataDir: RESTORED, env: serverEnv(), timeoutMs: 60_000 });
    expectSnapshotOfLoad(await allTicketIds(server.baseUrl, seeded.token), written, window.node.began, window.node.ended);
    await verifyRestored(server, seeded, before, eventsBefore, receiver, mail);
    const exit = await stopServer(server);
    expect(exit, server.child.describe()).toEqual({ code: 0, signal: null });
  }, 180_000);

  it('the sqlite3 variant restores the same way (read without starting a server)', async (ctx) => {
    if (!sqlite3Cli) ctx.skip();
    const RESTORED = join(tempDir('deskhook-restored-'), 'data');
    await shell(SQLITE_RESTORE, { DATA: RESTORED, BACKUP: CLI_BACKUP });
    const migrate = await runDeskhook(['migrate'], childEnv({ DESKHOOK_DATA_DIR: RESTORED }));
    expect(migrate.stdout, JSON.stringify(migrate)).toBe('the database is up to date\n');
    const db = new SQLite(join(RESTORED, 'deskhook.sqlite'), { readonly: true });
    try {
      const ids = (db.prepare('select id from tickets order by id').all() as Array<{ id: number }>).map((r) => r.id);
      for (const id of seeded.ticketIds) expect(ids).toContain(id);
      expectSnapshotOfLoad(ids, written, window.cli.began, window.cli.ended);
      // It was taken after the first one, during the same load: it holds at least as much.
      const nodeDb = new SQLite(join(NODE_BACKUP, 'deskhook.sqlite'), { readonly: true });
      try {
        const nodeIds = (nodeDb.prepare('select id from tickets order by id').all() as Array<{ id: number }>).map((r) => r.id);
        expect(ids.slice(0, nodeIds.length)).toEqual(nodeIds);
      } finally {
        nodeDb.close();
      }
    } finally {
      db.close();
    }
  }, 60_000);

  it('an older deskhook refuses a database a newer one has migrated: a downgrade is a restore of the backup', async () => {
    const RESTORED = join(tempDir('deskhook-restored-'), 'data');
    await shell(SQLITE_RESTORE, { DATA: RESTORED, BACKUP: NODE_BACKUP });
    // What a newer version leaves behind: a migration this version does not know.
    const db = new SQLite(join(RESTORED, 'deskhook.sqlite'));
    db.prepare('insert into kysely_migration (name, timestamp) values (?, ?)').run('9999-from-a-newer-version', new Date().toISOString());
    db.close();
    const env = childEnv({ DESKHOOK_DATA_DIR: RESTORED, PORT: '0', DESKHOOK_SMTP_PORT: '0' });
    for (const args of [['migrate'], ['serve']]) {
      const result = await runDeskhook(args, env);
      expect(result.code, JSON.stringify(result)).not.toBe(0);
      expect(result.stderr).toContain('previously executed migration 9999-from-a-newer-version is missing');
      expect(result.stdout).not.toContain('deskhook is up');
    }
  }, 60_000);

  it('without secret.key the restored database does not start: the wrong key is named, nothing is changed', async () => {
    const RESTORED = join(tempDir('deskhook-restored-'), 'data');
    await shell(`mkdir -m 700 "$DATA" && cp "$BACKUP/deskhook.sqlite" "$DATA/deskhook.sqlite"`, { DATA: RESTORED, BACKUP: NODE_BACKUP });
    const env = childEnv({ DESKHOOK_DATA_DIR: RESTORED, PORT: '0', DESKHOOK_SMTP_PORT: '0' });
    const result = await runDeskhook(['serve'], env);
    expect(result.code, JSON.stringify(result)).not.toBe(0);
    expect(result.stderr).toContain('is not the key this database was sealed with');
    expect(result.stdout).not.toContain('deskhook is up');
    // The key it made for a moment is gone again: copying the right secret.key in is all it takes.
    expect(existsSync(join(RESTORED, 'secret.key'))).toBe(false);
    await shell(`cp -p "$BACKUP/secret.key" "$DATA/secret.key"`, { DATA: RESTORED, BACKUP: NODE_BACKUP });
    const server = await startServer({ dataDir: RESTORED, env: serverEnv(), timeoutMs: 60_000 });
    const api = (method: string, path: string) => request(server.baseUrl, method, `/api/v1${path}`, { token: seeded.token });
    expect((await api('GET', `/email-accounts/${seeded.accountId}/webhooks/signing-secret`)).json.signingSecret).toBe(seeded.accountSecret);
    await stopServer(server);
  }, 120_000);
});

// ---- PostgreSQL ---------------------------------------------------------------------------------

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL: pg_dump while serving, pg_restore into a new database', () => {
  const suffix = randomBytes(5).toString('hex');
  const ORIGINAL = `dh_backup_${suffix}`;
  const RESTORED = `dh_restored_${suffix}`;
  const SECRET_KEY = randomBytes(32).toString('base64');
  const BACKUP = tempDir('deskhook-pg-backup-');
  const urlOf = (database: string) => {
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${database}`;
    return url.toString();
  };
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let mail: Awaited<ReturnType<typeof startMailServer>>;
  let seeded: Seeded;
  let before: Record<string, unknown>;
  let eventsBefore: Array<{ id: string }>;
  let written: Written[] = [];
  let began = 0;
  let ended = 0;

  beforeAll(async () => {
    receiver = await startReceiver();
    mail = await startMailServer(MAIL_PASSWORD);
    await admin(`create database ${ORIGINAL}`);
  });
  afterAll(async () => {
    await killAll();
    await receiver?.close();
    await mail?.close();
    await admin(`drop database if exists ${ORIGINAL} with (force)`);
    await admin(`drop database if exists ${RESTORED} with (force)`);
  });

  it('dumps with pg_dump while the server runs and writes', async () => {
    const server = await startServer({
      dataDir: tempDir(), env: serverEnv({ DATABASE_URL: urlOf(ORIGINAL), DESKHOOK_SECRET_KEY: SECRET_KEY }), timeoutMs: 60_000,
    });
    seeded = await seed(server.baseUrl, receiver.url, mail.port, mail);
    before = await snapshot(server.baseUrl, seeded);
    // On PostgreSQL the feed shows an event once no older transaction in the cluster is still open
    // (docs/events.md, the pull feed): another test's transaction may hold it back for a moment.
    eventsBefore = await until('the seeded events in the feed', async () => {
      const feed = await eventFeed(server.baseUrl, seeded.token);
      return feed.length >= 10 ? feed : null;
    });
    expectSubstantial(before, eventsBefore);

    const load = writeLoad(server.baseUrl, seeded.token);
    await until('the write load to start', () => load.written.length >= 3);
    began = Date.now();
    await shell(PG_DUMP, { BACKUP, DATABASE_URL: urlOf(ORIGINAL) });
    ended = Date.now();
    await sleep(300);
    await load.stop();
    written = load.written;
    console.log(`PostgreSQL: ${written.length} tickets written during the dump (pg_dump ${ended - began} ms)`);
    expect(written.some((w) => w.sentAt > ended), 'writes went on after the dump').toBe(true);
    const exit = await stopServer(server);
    expect(exit, server.child.describe()).toEqual({ code: 0, signal: null });
    expect(statSync(join(BACKUP, 'deskhook.dump')).size).toBeGreaterThan(0);
  }, 180_000);

  it('restores with pg_restore into a new database: migrate finds nothing to do, and everything is intact with the same key', async () => {
    await admin(`create database ${RESTORED}`);
    await shell(PG_RESTORE, { BACKUP, RESTORE_URL: urlOf(RESTORED) });
    const env = { DATABASE_URL: urlOf(RESTORED), DESKHOOK_SECRET_KEY: SECRET_KEY };
    const migrate = await runDeskhook(['migrate'], childEnv({ ...env, DESKHOOK_DATA_DIR: tempDir() }));
    expect(migrate.code, JSON.stringify(migrate)).toBe(0);
    expect(migrate.stdout).toBe('the database is up to date\n');

    const server = await startServer({ dataDir: tempDir(), env: serverEnv(env), timeoutMs: 60_000 });
    expect(server.child.logLines().find((l) => l.msg === 'deskhook is up')).toMatchObject({ database: 'postgres' });
    expectSnapshotOfLoad(await allTicketIds(server.baseUrl, seeded.token), written, began, ended);
    await verifyRestored(server, seeded, before, eventsBefore, receiver, mail);
    const exit = await stopServer(server);
    expect(exit, server.child.describe()).toEqual({ code: 0, signal: null });
  }, 180_000);
});
