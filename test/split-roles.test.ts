import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Redis } from 'ioredis';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, login, removeTempDirs, request, sleep, startServer, stopServer, tempDir, type ApiResponse, type Child, type RunningServer, withAdminClient } from './support/process.ts';

/**
 * The split deployment, end to end: separate `deskhook serve --role api` (two), `--role smtp` (one)
 * and `--role worker` (two) processes on one fresh PostgreSQL database and one Redis.
 *
 * - While only the api and smtp processes run, an email accepted by the smtp process stays
 *   unprocessed, a ticket's TicketCreated stays undelivered and no schedule event is published:
 *   api and smtp processes do no worker duties.
 * - Then the workers start; 20 emails go in through the smtp process. Each becomes a ticket that
 *   both api processes list, tagged by the account's synchronous newEmails webhook; every hook call
 *   comes from a worker process (the receiver looks up which process owns the calling socket).
 * - The event hook gets exactly one TicketCreated per ticket (deduplicated by `webhook-id`; the
 *   duplicates are counted and must be 0), both workers delivered some (the deliveries log's
 *   `worker`, cross-checked against the process owning the socket), and CronMinute arrives once
 *   per 5-minute period although two workers look for due periods every 250 ms.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const EMAILS = 20;
const HOOK_TAG = 'from-hook';
const ACCOUNT_ADDRESS = 'service@split.example';

afterAll(async () => {
  await killAll();
  removeTempDirs();
});

/**
 * The process (looked for among `pids` first) that owns the TCP socket 127.0.0.1:peerPort connected to our
 * 127.0.0.1:localPort, from /proc (Linux): which deskhook process made a request.
 */
function socketOwner(localPort: number, peerPort: number, pids: readonly number[]): number | null {
  // /proc/net/tcp is read in chunks, and a table that changes meanwhile can skip a row: look again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const pid = socketOwnerOnce(localPort, peerPort, pids);
    if (pid !== null) return pid;
  }
  return null;
}

function socketOwnerOnce(localPort: number, peerPort: number, pids: readonly number[]): number | null {
  let inode: string | null = null;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = parseInt(f[1]!.split(':')[1]!, 16);
      const remote = parseInt(f[2]!.split(':')[1]!, 16);
      if (local === peerPort && remote === localPort && f[9] !== '0') {
        inode = f[9]!;
        break;
      }
    }
    if (inode) break;
  }
  if (!inode) return null;
  const target = `socket:[${inode}]`;
  // The known processes first; then any (a process may send before the test has learnt its pid).
  const others = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => p !== process.pid && !pids.includes(p));
  for (const pid of [...pids, ...others]) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

interface Received {
  id: string;
  body: any;
  /** The deskhook process that sent it, or null when it could not be found. */
  pid: number | null;
  /** The Standard Webhooks signature matched the secret the api process gave out. */
  verified: boolean;
  at: number;
}

/**
 * A receiver on 127.0.0.1: records each request (its `webhook-id`, body, sender process and
 * whether its signature verifies) and answers `answer` after `delayMs`.
 */
class Receiver {
  readonly received: Received[] = [];
  /** Whose sockets to look for; filled in as the processes start. */
  readonly pids: number[] = [];
  secret: string | null = null;

  private constructor(private readonly server: Server, readonly url: string, private readonly answer: string, private readonly delayMs: number) {}

  static async start(answer: string, delayMs: number): Promise<Receiver> {
    let receiver: Receiver | null = null;
    const server = createServer((req, res) => {
      const r = receiver!;
      // While the request is in, its connection exists in the sender: look it up now.
      const pid = socketOwner(req.socket.localPort!, req.socket.remotePort!, r.pids);
      let raw = '';
      req.setEncoding('utf8').on('data', (chunk: string) => { raw += chunk; });
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      req.on('end', () => {
        r.received.push({ id: String(req.headers['webhook-id']), body: safeJson(raw), pid, verified: r.verify(req, raw), at: Date.now() });
        setTimeout(() => {
          if (res.destroyed) return;
          res.writeHead(200, { 'content-type': 'application/json' }).end(r.answer);
        }, r.delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new Receiver(server, `http://127.0.0.1:${(server.address() as { port: number }).port}/`, answer, delayMs);
    return receiver;
  }

  private verify(req: IncomingMessage, raw: string): boolean {
    if (!this.secret) return false;
    try {
      new Webhook(this.secret).verify(raw, {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      });
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** How many times each value occurs. */
function tally<T>(values: Iterable<T>): Map<T, number> {
  const out = new Map<T, number>();
  for (const v of values) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}

/** What a process logged at level error or worse (pino: 50 and up). */
const errorLines = (child: Child) => child.logLines().filter((l) => typeof l.level === 'number' && l.level >= 50);
/** `host:pid:random` → pid. */
const holderPid = (worker: string | null) => (worker ? Number(worker.split(':').at(-2)) : null);
/** The 5-minute period (UTC, as CronMinute's `scheduledFor`) that `ms` falls in. */
const fiveMinutePeriod = (ms: number) => new Date(Math.floor(ms / 300_000) * 300_000).toISOString().slice(0, 16);

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, describeState: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms: ${describeState()}`);
    await sleep(200);
  }
}

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL + Redis: separate api, smtp and worker processes', () => {
  const database = `dh_split_${randomBytes(6).toString('hex')}`;
  const redisPrefix = `dh-split-${randomBytes(6).toString('hex')}:`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: true });
  redis.on('error', () => undefined);
  const cleanups: (() => Promise<unknown>)[] = [];

  const admin = withAdminClient;

  const ourRedisKeys = async (): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    if (redis.status === 'ready') {
      const keys = await ourRedisKeys().catch(() => []);
      if (keys.length) await redis.del(...keys).catch(() => undefined);
    }
    await redis.quit().catch(() => redis.disconnect());
    await admin((c) => c.query(`drop database if exists ${database} with (force)`));
  }, 30_000);

  it('mail in through smtp, tickets through both apis, hooks, events and cron in the workers only', async () => {
    const started = Date.now();
    const mark = (label: string, since = started) => `${label} ${((Date.now() - since) / 1000).toFixed(1)} s`;
    const timings: string[] = [];

    await redis.connect();
    await admin((c) => c.query(`create database ${database}`));
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${database}`;
    const databaseUrl = url.toString();
    // The test's own view of the database, for what no API shows (the raw inbound queue).
    const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    // The drop at the end ends its connections, should one still be open.
    db.on('error', () => undefined);
    cleanups.push(() => db.end());

    // The team's newEmails webhook (tags every new ticket) and its event receiver.
    const hookReceiver = await Receiver.start(JSON.stringify({ ticket: { addTags: [HOOK_TAG] } }), 0);
    cleanups.push(() => hookReceiver.close());
    const eventReceiver = await Receiver.start('{"ok":true}', 100);
    cleanups.push(() => eventReceiver.close());
    const addPid = (pid: number) => {
      hookReceiver.pids.push(pid);
      eventReceiver.pids.push(pid);
    };

    const adminEmail = 'split-admin@example.com';
    const adminPassword = `pw-${randomBytes(8).toString('hex')}`;
    const env = {
      DATABASE_URL: databaseUrl,
      DESKHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
      REDIS_URL,
      DESKHOOK_REDIS_PREFIX: redisPrefix,
      DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32',
      DESKHOOK_DATABASE_POOL_SIZE: '4',
      DESKHOOK_SCHEDULER_INTERVAL_MS: '250',
      DESKHOOK_EVENT_POLL_MS: '50',
      DESKHOOK_EVENT_CONCURRENCY: '4',
      DESKHOOK_CRON_TIMEZONE: 'UTC',
    };
    const servers: RunningServer[] = [];
    cleanups.push(() => Promise.all(servers.map((s) => s.child.kill())));
    const start = async (role: 'api' | 'smtp' | 'worker', extra: Record<string, string> = {}) => {
      const server = await startServer({ dataDir: tempDir(), args: ['--role', role], env: { ...env, ...extra }, timeoutMs: 40_000 });
      servers.push(server);
      addPid(server.child.pid);
      return server;
    };
    const upLine = (s: RunningServer) => s.child.logLines().find((l) => l.msg === 'deskhook is up');

    // api A first: it migrates the fresh database and creates the admin.
    const a = await start('api', { DESKHOOK_ADMIN_EMAIL: adminEmail, DESKHOOK_ADMIN_PASSWORD: adminPassword });
    const session = await login(a.baseUrl, adminEmail, adminPassword);
    expect(session.status, session.text).toBe(200);
    const token = session.json.token as string;
    const call = (s: RunningServer, method: string, path: string, body?: unknown): Promise<ApiResponse> =>
      request(s.baseUrl, method, path, { token, ...(body !== undefined ? { body } : {}) });

    // B and S start while A is configured.
    const others = Promise.all([start('api'), start('smtp')]);
    const account = await call(a, 'POST', '/api/v1/email-accounts', {
      name: 'Split service', address: ACCOUNT_ADDRESS, inbound: { type: 'smtp' },
      webhooks: { enabled: true, newEmails: { type: 'apiCall', url: hookReceiver.url }, timeoutMs: 5000, failurePolicy: 'notify' },
    });
    expect(account.status, account.text).toBe(201);
    const accountId = account.json.id as number;
    const hook = await call(a, 'POST', '/api/v1/event-hooks', {
      name: 'split receiver', events: ['TicketCreated', 'CronMinute'], executor: { type: 'apiCall', url: eventReceiver.url },
    });
    expect(hook.status, hook.text).toBe(201);
    const hookId = hook.json.id as number;
    const [b, s] = await others;
    timings.push(mark('api A, api B and smtp S up after'));

    for (const api of [a, b]) expect(upLine(api), api.child.describe()).toMatchObject({ role: 'api', database: 'postgres', smtpPort: null });
    expect(upLine(s), s.child.describe()).toMatchObject({ role: 'smtp', database: 'postgres', smtpPort: s.smtpPort });
    // B sees what was configured through A, and both api processes use the shared Redis.
    const accountSecret = await call(b, 'GET', `/api/v1/email-accounts/${accountId}/webhooks/signing-secret`);
    expect(accountSecret.status, accountSecret.text).toBe(200);
    hookReceiver.secret = accountSecret.json.signingSecret as string;
    const hookSecret = await call(b, 'GET', `/api/v1/event-hooks/${hookId}/signing-secret`);
    expect(hookSecret.status, hookSecret.text).toBe(200);
    eventReceiver.secret = hookSecret.json.signingSecret as string;
    for (const api of [a, b]) {
      const stats = await call(api, 'GET', '/api/v1/erp/stats');
      expect(stats.status, stats.text).toBe(200);
      expect(stats.json).toMatchObject({ shared: true });
    }
    // The smtp process serves no API.
    expect((await call(s, 'GET', '/api/v1/tickets')).status).toBe(404);

    const mailer = nodemailer.createTransport({ host: '127.0.0.1', port: s.smtpPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 4, maxMessages: Infinity });
    cleanups.push(async () => mailer.close());
    const send = (n: number | 'early') => mailer.sendMail({
      from: `Kunde ${n} <kunde-${n}@customer.example>`, to: ACCOUNT_ADDRESS,
      subject: `Split roles ${n}`, text: `Hallo,\ndas ist Nachricht ${n}.\n`,
    });

    // --- Only api and smtp processes run: nothing of a worker's happens. ---
    const early = await send('early');
    expect(early.response, 'the smtp process accepted the email').toMatch(/^250 /);
    const apiTicket = await call(a, 'POST', '/api/v1/tickets', { subject: 'Created through the API', from: 'api-customer@customer.example' });
    expect(apiTicket.status, apiTicket.text).toBe(201);
    await sleep(3_000);
    const inboundBefore = await db.query<{ status: string; attempts: number; locked_until: Date | null }>('select status, attempts, locked_until from inbound_messages');
    expect(inboundBefore.rows, 'accepted, and nobody claimed it').toEqual([{ status: 'received', attempts: 0, locked_until: null }]);
    const ticketsBefore = await call(b, 'GET', '/api/v1/tickets?limit=200');
    expect(ticketsBefore.json.items.map((t: any) => t.id)).toEqual([apiTicket.json.id]);
    const pendingBefore = await call(b, 'GET', `/api/v1/event-hooks/${hookId}/deliveries?limit=200`);
    expect(pendingBefore.json.items).toHaveLength(1);
    expect(pendingBefore.json.items[0]).toMatchObject({ eventType: 'TicketCreated', ticketId: apiTicket.json.id, status: 'pending', attemptCount: 0, attempts: [] });
    expect((await call(b, 'GET', '/api/v1/events?type=CronMinute')).json.items, 'no schedule event without a worker').toEqual([]);
    expect(hookReceiver.received, 'no webhook call without a worker').toEqual([]);
    expect(eventReceiver.received, 'no event delivery without a worker').toEqual([]);
    timings.push(mark('quiet phase without workers done after'));

    // --- The two workers start; the waiting work is done at once. ---
    const workersAt = Date.now();
    const [w1, w2] = await Promise.all([start('worker'), start('worker')]);
    const workersUpAt = Date.now();
    timings.push(mark('both workers up after', workersAt));
    for (const w of [w1, w2]) expect(upLine(w), w.child.describe()).toMatchObject({ role: 'worker', database: 'postgres', smtpPort: null });
    expect((await call(w1, 'GET', '/api/v1/tickets')).status, 'a worker serves no API').toBe(404);
    const workerPids = new Set([w1.child.pid, w2.child.pid]);
    const names = new Map([[a.child.pid, 'A'], [b.child.pid, 'B'], [s.child.pid, 'S'], [w1.child.pid, 'W1'], [w2.child.pid, 'W2']]);
    const nameOf = (pid: number | null) => (pid === null ? 'unknown' : names.get(pid) ?? `pid ${pid}`);

    // --- 20 emails through the smtp process, four connections at a time. ---
    const sendAt = Date.now();
    const sent = await Promise.all(Array.from({ length: EMAILS }, (_, n) => send(n)));
    for (const info of sent) expect(info.response).toMatch(/^250 /);
    timings.push(mark(`${EMAILS} emails accepted in`, sendAt));

    const expectedTickets = EMAILS + 2; // the 20, the early email and the API ticket
    let listedB: any[] = [];
    await waitFor('all tickets tagged and every event delivered', 40_000, async () => {
      listedB = (await call(b, 'GET', '/api/v1/tickets?limit=200')).json.items;
      if (listedB.length < expectedTickets) return false;
      if (listedB.filter((t) => t.tags.includes(HOOK_TAG)).length < EMAILS + 1) return false;
      const created = new Set(eventReceiver.received.filter((r) => r.body?.type === 'TicketCreated').map((r) => r.id));
      if (created.size < expectedTickets) return false;
      if (!eventReceiver.received.some((r) => r.body?.type === 'CronMinute')) return false;
      const pending = await call(b, 'GET', `/api/v1/event-hooks/${hookId}/deliveries?status=pending&limit=200`);
      return pending.json.items.length === 0;
    }, () => `${listedB.length} tickets listed, ${listedB.filter((t) => t.tags.includes(HOOK_TAG)).length} tagged, ${hookReceiver.received.length} hook calls, ${eventReceiver.received.length} event receipts`);
    timings.push(mark('everything processed and delivered', sendAt));
    // Let both workers' cron tickers look again a few more times (every 250 ms) before counting.
    await sleep(Math.max(0, 3_000 - (Date.now() - Math.max(...eventReceiver.received.filter((r) => r.body?.type === 'CronMinute').map((r) => r.at)))));
    // One consistent view of the deliveries log and the receipts (a 5-minute boundary may have
    // just published the next CronMinute): every delivery succeeded and was received, nothing else.
    let deliveries: any[] = [];
    let received: Received[] = [];
    await waitFor('a settled deliveries log', 20_000, async () => {
      deliveries = [];
      let cursor: string | null = null;
      do {
        const page: ApiResponse = await call(b, 'GET', `/api/v1/event-hooks/${hookId}/deliveries?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(page.status, page.text).toBe(200);
        deliveries.push(...page.json.items);
        cursor = page.json.nextCursor;
      } while (cursor);
      received = [...eventReceiver.received];
      const ids = new Set(received.map((r) => r.id));
      return deliveries.every((d) => d.status === 'succeeded') && deliveries.length === ids.size && deliveries.every((d) => ids.has(d.eventId));
    }, () => `${deliveries.filter((d) => d.status !== 'succeeded').length} of ${deliveries.length} deliveries not succeeded, ${received.length} receipts`);
    const settledAt = Date.now();

    // Tickets: both api processes list the same 22, each email ticket tagged by the hook.
    const listedA = (await call(a, 'GET', '/api/v1/tickets?limit=200')).json.items as any[];
    listedB = (await call(b, 'GET', '/api/v1/tickets?limit=200')).json.items;
    expect(listedB).toHaveLength(expectedTickets);
    expect(listedA.map((t) => [t.id, t.tags])).toEqual(listedB.map((t) => [t.id, t.tags]));
    const emailTickets = listedB.filter((t) => t.id !== apiTicket.json.id);
    expect(emailTickets.map((t) => t.subject).sort()).toEqual([...Array.from({ length: EMAILS }, (_, n) => `Split roles ${n}`), 'Split roles early'].sort());
    for (const t of emailTickets) {
      expect(t, `ticket ${t.id}`).toMatchObject({ emailAccountId: accountId, tags: [HOOK_TAG] });
    }
    const apiListed = listedB.find((t) => t.id === apiTicket.json.id);
    expect(apiListed.tags, 'an API ticket fires no newEmails hook').toEqual([]);
    const tagged = await call(b, 'GET', `/api/v1/tickets?tags=${HOOK_TAG}&limit=200`);
    expect(tagged.json.items).toHaveLength(EMAILS + 1);
    const inbound = await db.query<{ status: string; outcome: string }>('select status, outcome from inbound_messages');
    expect(inbound.rows).toHaveLength(EMAILS + 1);
    expect(inbound.rows.every((r) => r.status === 'processed' && r.outcome === 'new_ticket')).toBe(true);

    // The synchronous newEmails hook: one call per email ticket, signed, each from a worker.
    const hookCalls = hookReceiver.received;
    const hookDuplicates = hookCalls.length - new Set(hookCalls.map((c) => c.body?.ticketId)).size;
    expect(hookCalls.map((c) => c.body?.ticketId).sort((x, y) => x - y)).toEqual(emailTickets.map((t) => t.id).sort((x, y) => x - y));
    for (const c of hookCalls) {
      expect(c.body, c.id).toMatchObject({ hook: 'newEmails', direction: 'in', emailAccountId: accountId, invocationId: c.id });
      expect(c.verified, `signature of ${c.id}`).toBe(true);
      expect(nameOf(c.pid), `process that called the hook for ticket ${c.body?.ticketId}`).toMatch(/^W[12]$/);
    }
    const invocations = await call(b, 'GET', `/api/v1/email-accounts/${accountId}/invocations?hook=newEmails&limit=200`);
    expect(invocations.json.items).toHaveLength(EMAILS + 1);
    expect(invocations.json.items.every((i: any) => i.outcome === 'ok' && i.trigger === 'inboundEmail')).toBe(true);
    expect(invocations.json.items.map((i: any) => i.id).sort()).toEqual(hookCalls.map((c) => c.id).sort());

    // Event hook: exactly one TicketCreated per ticket, from the workers, both of which delivered.
    const createdReceipts = received.filter((r) => r.body?.type === 'TicketCreated');
    const createdIds = tally(createdReceipts.map((r) => r.id));
    const eventDuplicates = createdReceipts.length - createdIds.size;
    expect(eventDuplicates, 'TicketCreated received more than once').toBe(0);
    expect(createdReceipts.map((r) => r.body.data.ticketId).sort((x: number, y: number) => x - y)).toEqual(listedB.map((t) => t.id).sort((x, y) => x - y));
    for (const r of received) {
      expect(r.verified, `signature of ${r.id}`).toBe(true);
      expect(workerPids.has(r.pid!), `${r.id} was sent by ${nameOf(r.pid)}`).toBe(true);
    }
    expect(deliveries.filter((d) => d.status !== 'succeeded' || d.attemptCount !== 1 || d.attempts.length !== 1)).toEqual([]);
    expect(deliveries.map((d) => d.eventId).sort()).toEqual(received.map((r) => r.id).sort());
    const byWorker = tally(deliveries.map((d) => nameOf(holderPid(d.attempts[0].worker))));
    expect([...byWorker.keys()].sort(), 'deliveries by process').toEqual(['W1', 'W2']);
    // The recorded `worker` is the process the receiver saw the request come from.
    const receivedFrom = new Map(received.map((r) => [r.id, r.pid]));
    for (const d of deliveries) expect(holderPid(d.attempts[0].worker), d.eventId).toBe(receivedFrom.get(d.eventId));

    // CronMinute: one per 5-minute period, although both workers looked every 250 ms.
    const cronReceipts = received.filter((r) => r.body?.type === 'CronMinute');
    const cronPeriods = tally(cronReceipts.map((r) => r.body.data.scheduledFor as string));
    expect(cronReceipts.length, 'CronMinute receipts').toBeGreaterThanOrEqual(1);
    for (const [period, count] of cronPeriods) expect(count, `CronMinute ${period}`).toBe(1);
    // Every period from the one the workers were up in to the one before the snapshot (a second's
    // slack for the ticker) fired; none from before they were started.
    const periodsBetween = (from: number, to: number) => {
      const out = new Set<string>();
      for (let t = Math.floor(from / 300_000) * 300_000; t <= to; t += 300_000) out.add(fiveMinutePeriod(t));
      return out;
    };
    for (const period of periodsBetween(workersUpAt, settledAt - 1_000)) expect(cronPeriods.has(period), `CronMinute ${period} fired`).toBe(true);
    const possible = periodsBetween(workersAt, settledAt);
    for (const r of cronReceipts) {
      expect(r.body.data).toEqual({ scheduledFor: expect.any(String), timeZone: 'UTC' });
      expect(possible.has(r.body.data.scheduledFor), `CronMinute ${r.body.data.scheduledFor} while the workers ran`).toBe(true);
    }
    const cronEvents = (await call(a, 'GET', '/api/v1/events?type=CronMinute&limit=200')).json.items as any[];
    expect(cronEvents.map((e) => e.id).sort()).toEqual(cronReceipts.map((r) => r.id).sort());
    // Of the two workers, exactly one published each period.
    const publishedKeys = [w1, w2].flatMap((w) => w.child.logLines()
      .filter((l) => l.msg === 'published schedule events')
      .flatMap((l) => (l.periods as string[]).filter((p) => p.startsWith('CronMinute:')).map((p) => ({ p, by: nameOf(w.child.pid) }))));
    expect(publishedKeys.map((k) => k.p).sort()).toEqual([...cronPeriods.keys()].map((p) => `CronMinute:${p}`).sort());
    for (const api of [a, b, s]) {
      expect(api.child.logLines().filter((l) => l.msg === 'published schedule events'), `${nameOf(api.child.pid)} published schedule events`).toEqual([]);
    }

    const hookByProcess = tally(hookCalls.map((c) => nameOf(c.pid)));
    console.log(`[split-roles] ${expectedTickets} tickets (${EMAILS} + 1 early email through S, 1 through the API); `
      + `newEmails calls ${hookCalls.length} (duplicates ${hookDuplicates}) by ${JSON.stringify(Object.fromEntries(hookByProcess))}; `
      + `TicketCreated receipts ${createdReceipts.length} (duplicates ${eventDuplicates}); deliveries by ${JSON.stringify(Object.fromEntries(byWorker))}; `
      + `CronMinute ${JSON.stringify(Object.fromEntries(cronPeriods))} published by ${publishedKeys.map((k) => k.by).join(',')}; `
      + `Redis keys under the run's prefix: ${(await ourRedisKeys()).length}; ${timings.join('; ')}`);

    for (const server of servers) expect(errorLines(server.child), server.child.describe()).toEqual([]);
    mailer.close();
    const stopAt = Date.now();
    const exits = await Promise.all(servers.map((server) => stopServer(server, 15_000)));
    servers.forEach((server, i) => expect(exits[i], server.child.describe()).toEqual({ code: 0, signal: null }));
    console.log(`[split-roles] ${mark('stopped all five in', stopAt)}; ${mark('in all')}`);
  }, 120_000);
});
