/**
 * `npm run bench -- stall` (not part of the default run: it loads 100k ERP records and 10k
 * tickets): does anything stall the process? A real `deskhook serve` (SQLite, role `all`, the
 * shipped defaults) runs three pieces of heavy work one after the other while a worker thread asks
 * GET /healthz every 20 ms and an event hook receives every TicketCreated and TicketUpdated:
 *
 * - a 100k-record ERP import (50k customers and 50k contracts, one NDJSON request),
 * - a bulk change of 10k tickets (20 bulk PATCHes of 500, one after the other),
 * - a mailbox sync: 2,000 messages waiting in an IMAP folder (Dovecot on 127.0.0.1) when the
 *   account is created, read and turned into tickets (skipped, and said so, without Dovecot).
 *
 * Per phase: the /healthz latencies while it ran (p50, p99, max) and the process's own event-loop
 * delay (its /metrics, read before and after the phase: prom-client resets the histogram on every
 * read). After the phases the event deliveries drain, and the receiver's counts (requests and
 * distinct webhook-ids) and the delivery attempts in the database show timeouts and duplicates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { dovecotMissing, startDovecot, type Dovecot } from '../../test/support/dovecot.ts';
import { startServer, stopServer, type RunningServer } from '../../test/support/process.ts';
import { latencySummary, quick, startReceiver, type Benchmark, type Figure } from '../harness.ts';

const ERP_RECORDS = quick(100_000, 4_000);
const TICKETS = quick(10_000, 1_000);
const BULK = 500;
const MAILBOX = quick(2_000, 100);
const PROBE_MS = 20;
const ADMIN = { email: 'stall@bench.example', password: 'stall bench password 2026' };

interface Poll { at: number; ms: number; ok: boolean }

/** GET /healthz every `intervalMs`, one at a time, from a worker thread: (start time, latency) of each. */
function startProbe(url: string, intervalMs: number): { stop(): Promise<Poll[]> } {
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const polls = [];
    let running = true;
    parentPort.on('message', () => { running = false; });
    (async () => {
      while (running) {
        const at = performance.timeOrigin + performance.now();
        let ok = false;
        try {
          const res = await fetch(workerData.url, { signal: AbortSignal.timeout(120000) });
          await res.arrayBuffer();
          ok = res.status === 200;
        } catch {}
        const ms = performance.timeOrigin + performance.now() - at;
        polls.push({ at, ms, ok });
        await new Promise((r) => setTimeout(r, Math.max(0, workerData.intervalMs - ms)));
      }
      parentPort.postMessage(polls);
    })();
  `, { eval: true, workerData: { url, intervalMs } });
  return {
    stop: () => new Promise((resolve, reject) => {
      worker.once('message', (polls: Poll[]) => { void worker.terminate(); resolve(polls); });
      worker.once('error', reject);
      worker.postMessage('stop');
    }),
  };
}

async function api(server: RunningServer, token: string | null, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> {
  const res = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** The process's largest event-loop delay since the last read, in ms (prom-client resets it when read). */
async function loopMaxMs(server: RunningServer): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const line = /^deskhook_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  if (!line) throw new Error('deskhook_nodejs_eventloop_lag_max_seconds not in /metrics');
  return Math.round(Number(line[1]) * 1000 * 10) / 10;
}

function erpLines(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n / 2; i++) {
    lines.push(JSON.stringify({ type: 'customer', id: `K-${i}`, business: false, firstname: 'Erika', lastname: `Muster${i}`, company: null, email: `k${i}@kunden.example`, contractIds: [`V-${i}`] }));
    lines.push(JSON.stringify({ type: 'contract', id: `V-${i}`, customerId: `K-${i}`, business: false, firstname: 'Erika', lastname: `Muster${i}`, company: null, email: `k${i}@kunden.example` }));
  }
  return lines.join('\n');
}

function message(i: number): Buffer {
  return Buffer.from([
    `From: Kunde ${i} <kunde${i}@kunden.example>`, 'To: service@stadtwerke.example', `Subject: Zählerstand ${i}`,
    `Message-ID: <stall-${i}@kunden.example>`, `Date: ${new Date(Date.UTC(2026, 11, 1) + i * 1000).toUTCString()}`,
    'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '',
    `Guten Tag,\nmein Zählerstand ist ${10000 + i} kWh. Vertragsnummer V-${i}.\nViele Grüße\nKunde ${i}`, '',
  ].join('\r\n'));
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Phase { name: string; wallMs: number; healthz: ReturnType<typeof latencySummary> & { polls: number; failed: number }; eventLoopMaxMs: number; what: string }

interface StallRun {
  phases: Phase[];
  deliveries: { received: number; distinct: number; duplicates: number; attempts: Record<string, number>; timeouts: number; retried: number };
  skipped: string[];
}

async function runStall(): Promise<StallRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'deskhook-stall-'));
  const receiver = await startReceiver({ status: 204, markHeader: 'webhook-id' });
  const missing = dovecotMissing();
  const dovecot: Dovecot | null = missing ? null : await startDovecot();
  const server = await startServer({
    dataDir,
    env: {
      DESKHOOK_ADMIN_EMAIL: ADMIN.email, DESKHOOK_ADMIN_PASSWORD: ADMIN.password, DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32',
      DESKHOOK_MAIL_PLAINTEXT_HOSTS: '127.0.0.1', DESKHOOK_IMAP_POLL_SECONDS: '1', DESKHOOK_BODY_LIMIT_BYTES: String(100 * 1024 * 1024),
      DESKHOOK_MAIL_FLOOD_LIMIT: '100000', DESKHOOK_MAIL_FLOOD_CLIENT_LIMIT: '1000000', DESKHOOK_MAIL_FLOOD_ACCOUNT_LIMIT: '1000000',
      DESKHOOK_MAIL_AUTH: 'off',
    },
    timeoutMs: 60_000,
  });
  const phases: Phase[] = [];
  const skipped: string[] = missing ? [`mailbox sync: ${missing}`] : [];
  try {
    const { token } = await api(server, null, 'POST', '/api/v1/auth/login', ADMIN);
    await api(server, token, 'POST', '/api/v1/event-hooks', { name: 'stall receiver', events: ['TicketCreated', 'TicketUpdated'], executor: { type: 'apiCall', url: receiver.url } });
    // The tickets the bulk change works on, created through the API before anything is measured.
    const ids: number[] = [];
    for (let i = 0; i < TICKETS; i += 8) {
      const batch = await Promise.all(Array.from({ length: Math.min(8, TICKETS - i) }, (_, k) =>
        api(server, token, 'POST', '/api/v1/tickets', { subject: `Abschlag ${i + k}`, from: `kunde${i + k}@kunden.example` })));
      ids.push(...batch.map((t: { id: number }) => t.id));
    }
    await until('the seeded tickets\' events delivered', 300_000, async () => (await receiver.count()).marked >= TICKETS);

    const probe = startProbe(`${server.baseUrl}/healthz`, PROBE_MS);
    const spans: Array<{ name: string; what: string; from: number; to: number; loop: number }> = [];
    const phase = async (name: string, what: string, work: () => Promise<void>) => {
      await loopMaxMs(server);
      const from = Date.now();
      await work();
      const to = Date.now();
      spans.push({ name, what, from, to, loop: await loopMaxMs(server) });
      await new Promise((r) => setTimeout(r, 500));
    };
    await new Promise((r) => setTimeout(r, 500));
    await phase('ERP import', `${ERP_RECORDS} records in one NDJSON request`, async () => {
      const result = await api(server, token, 'POST', '/api/v1/erp/import', erpLines(ERP_RECORDS), 'application/x-ndjson');
      if (result.contracts + result.customers !== ERP_RECORDS) throw new Error(`imported ${JSON.stringify(result)}`);
    });
    await phase('bulk change', `${TICKETS} tickets, ${Math.ceil(TICKETS / BULK)} bulk PATCHes of ${BULK}`, async () => {
      for (let i = 0; i < ids.length; i += BULK) {
        const items = (await api(server, token, 'PATCH', '/api/v1/tickets', { ids: ids.slice(i, i + BULK), patch: { priority: 'high', addTags: ['stall'] } })).items as Array<{ ok: boolean }>;
        if (items.some((item) => !item.ok)) throw new Error('a bulk item failed');
      }
    });
    if (dovecot) {
      for (let i = 0; i < MAILBOX; i++) await dovecot.append(message(i));
      await phase('mailbox sync', `${MAILBOX} messages waiting in the IMAP inbox`, async () => {
        const account = await api(server, token, 'POST', '/api/v1/email-accounts', {
          name: 'Postfach', address: 'service@stadtwerke.example',
          inbound: { type: 'imap', host: '127.0.0.1', port: dovecot.port, secure: false, user: dovecot.user, password: dovecot.password, folder: 'INBOX' },
        });
        // Counted in the database file (read-only, beside the server), so that waiting adds no requests.
        const db = new Database(join(dataDir, 'deskhook.sqlite'), { readonly: true });
        const count = db.prepare('SELECT count(*) AS n FROM tickets WHERE email_account_id = ?');
        try {
          await until('the mailbox synced', 600_000, async () => (count.get(account.id) as { n: number }).n >= MAILBOX);
        } finally {
          db.close();
        }
      });
    }
    const polls = await probe.stop();
    for (const s of spans) {
      const within = polls.filter((p) => p.at >= s.from && p.at <= s.to);
      phases.push({
        name: s.name, what: s.what, wallMs: s.to - s.from, eventLoopMaxMs: s.loop,
        healthz: { ...latencySummary(within.map((p) => p.ms)), polls: within.length, failed: within.filter((p) => !p.ok).length },
      });
    }
    const expected = TICKETS * 2 + (dovecot ? MAILBOX : 0);
    await until('every event delivered', 600_000, async () => (await receiver.count()).marked >= expected);
    await new Promise((r) => setTimeout(r, 2_000));
    const counts = await receiver.count();
    const db = new Database(join(dataDir, 'deskhook.sqlite'), { readonly: true });
    const attempts = Object.fromEntries((db.prepare('SELECT outcome, count(*) AS n FROM event_delivery_attempts GROUP BY outcome').all() as Array<{ outcome: string; n: number }>).map((r) => [r.outcome, r.n]));
    const timeouts = (db.prepare("SELECT count(*) AS n FROM event_delivery_attempts WHERE json_extract(error, '$.code') = 'timeout'").get() as { n: number }).n;
    const retried = (db.prepare('SELECT count(*) AS n FROM (SELECT delivery_id FROM event_delivery_attempts GROUP BY delivery_id HAVING count(*) > 1)').get() as { n: number }).n;
    db.close();
    return {
      phases, skipped,
      deliveries: { received: counts.marked, distinct: counts.distinct, duplicates: counts.marked - counts.distinct, attempts, timeouts, retried },
    };
  } finally {
    await stopServer(server);
    await dovecot?.stop();
    await receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

let run: Promise<StallRun> | null = null;
const stall = () => (run ??= runStall());

function worstPhase(r: StallRun, value: (p: Phase) => number): { value: number; phase: string } {
  let worst = { value: -Infinity, phase: '' };
  for (const p of r.phases) if (value(p) > worst.value) worst = { value: value(p), phase: p.name };
  return worst;
}

const detail = (r: StallRun): Figure['detail'] => ({
  phases: r.phases, deliveries: r.deliveries, skipped: r.skipped,
  probe: `GET /healthz every ${PROBE_MS} ms, one at a time, from a worker thread of the benchmark`,
  server: 'deskhook serve, SQLite, role all, shipped defaults (16 event deliveries at once, 250 ms event poll), IMAP polled every second',
});

export const stallBenchmarks: Benchmark[] = [{
  name: 'stall_healthz_p99',
  target: '≤ 100 ms p99 of /healthz during each phase',
  check: { op: '<=', value: 100 },
  async run() {
    const r = await stall();
    const w = worstPhase(r, (p) => p.healthz.p99Ms);
    return { value: w.value, unit: `ms (worst: ${w.phase})`, baseline: 'none: absolute', detail: detail(r) };
  },
}, {
  name: 'stall_event_loop_max',
  target: '≤ 50 ms: no step holds the event loop longer',
  check: { op: '<=', value: 50 },
  async run() {
    const r = await stall();
    const w = worstPhase(r, (p) => p.eventLoopMaxMs);
    return { value: w.value, unit: `ms (worst: ${w.phase})`, baseline: 'none: absolute (the process\'s own event-loop delay, /metrics)', detail: detail(r) };
  },
}, {
  name: 'stall_delivery_problems',
  target: '0 delivery timeouts and 0 duplicate deliveries',
  check: { op: '<=', value: 0 },
  async run() {
    const r = await stall();
    return { value: r.deliveries.timeouts + r.deliveries.duplicates, unit: 'timeouts + duplicates', baseline: 'none: a count', detail: detail(r) };
  },
}];
