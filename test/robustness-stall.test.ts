import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, login, removeTempDirs, request, sleep, startServer, tempDir, withAdminClient, type RunningServer } from './support/process.ts';

/**
 * No input stalls the process. API, SMTP and the inbound ticker share one process; messages made
 * to make recognition's regular expressions backtrack go in through real SMTP while a client polls
 * GET /healthz every 50 ms. Every poll must answer within 500 ms, and every message must become a
 * ticket. The one timing threshold here is the one the issue sets.
 */
const POLL_LIMIT_MS = 500;

const PATHOLOGICAL: { name: string; text: string }[] = [
  { name: '40k spaces and an x', text: `${' '.repeat(40_000)}x` },
  { name: '200k spaces and an x', text: `${' '.repeat(200_000)}x` },
  // Deep nesting: 5,000 lines of depth 1..1000 and one at depth 5,000 (depth 1..5000 on every line
  // would be a 25 MB message: that measures the MIME parser, not recognition).
  { name: '5,000 lines of deep ">" nesting', text: [...Array.from({ length: 5_000 }, (_, i) => `${'>'.repeat(1 + (i % 1_000))} text`), `${'> '.repeat(5_000)}text`].join('\n') },
  { name: '1 MB single line', text: `Vertragsnummer ${'a1 '.repeat(350_000)}` },
  { name: '5,000 attribution lines without colon', text: Array.from({ length: 5_000 }, () => 'Am 1.1.2026 schrieb').join('\n') },
  { name: 'repeated quote markers', text: `${'>'.repeat(200_000)} x\n${'> '.repeat(100_000)}` },
  { name: 'whitespace lines and tabs', text: `${' \t'.repeat(50_000)}\n${(' '.repeat(200) + '\n').repeat(1_000)}Am 1.1.2026 schrieb${' '.repeat(30_000)}:x` },
];

interface Poller {
  stop(): Promise<number[]>;
}

/**
 * GET /healthz every ~50 ms, one at a time, from a worker thread of its own: the times measure
 * the server, not this test's event loop (which parses megabyte JSON answers meanwhile).
 */
function pollHealth(baseUrl: string): Poller {
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const times = [];
    let running = true;
    parentPort.on('message', () => { running = false; });
    (async () => {
      while (running) {
        const started = performance.now();
        try {
          const res = await fetch(workerData + '/healthz', { signal: AbortSignal.timeout(60000) });
          await res.arrayBuffer();
          times.push(performance.now() - started);
        } catch {
          times.push(Infinity);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      parentPort.postMessage(times);
    })();
  `, { eval: true, workerData: baseUrl });
  return {
    async stop() {
      const times = new Promise<number[]>((resolve) => worker.once('message', resolve));
      worker.postMessage('stop');
      const result = await times;
      await worker.terminate();
      return result;
    },
  };
}

const backends = [
  { name: 'sqlite', env: {} as Record<string, string> },
  ...(process.env.DATABASE_URL
    ? [{ name: 'postgres', env: { DESKHOOK_SECRET_KEY: 'cm9idXN0bmVzcy1zdGFsbC10ZXN0LWtleS0wMTIzNDU=' } as Record<string, string> }]
    : []),
];

describe.each(backends)('no input stalls the process ($name)', ({ name, env }) => {
  const run = randomBytes(4).toString('hex');
  const admin = { email: `admin-${run}@example.com`, password: 'robust horse battery staple' };
  const address = `stall-${run}@example.com`;
  let server: RunningServer;
  let token: string;
  let accountId: number;

  // PostgreSQL: a scratch database of its own, as every process test has (the in-process suites
  // create and drop schemas in DATABASE_URL's database meanwhile).
  const database = `dh_stall_${run}`;
  let databaseUrl: string | undefined;

  beforeAll(async () => {
    if (name === 'postgres') {
      await withAdminClient((c) => c.query(`create database ${database}`));
      const url = new URL(process.env.DATABASE_URL!);
      url.pathname = `/${database}`;
      databaseUrl = url.toString();
    }
    server = await startServer({
      dataDir: tempDir(),
      env: {
        ...env,
        ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
        DESKHOOK_ADMIN_EMAIL: admin.email, DESKHOOK_ADMIN_PASSWORD: admin.password,
        DESKHOOK_MAIL_AUTH: 'off', DESKHOOK_RECOGNITION_BUDGET_MS: '2000', DESKHOOK_MAIL_FLOOD_LIMIT: '1000',
      },
      timeoutMs: 60_000,
    });
    const session = await login(server.baseUrl, admin.email, admin.password);
    expect(session.status, `${session.text}\n${server.child.describe().slice(-3000)}`).toBe(200);
    token = session.json.token;
    const account = await request(server.baseUrl, 'POST', '/api/v1/email-accounts', { token, body: { name: `Stall ${run}`, address, inbound: { type: 'smtp' } } });
    expect(account.status).toBe(201);
    accountId = account.json.id;
  }, 90_000);
  afterAll(async () => {
    await killAll();
    removeTempDirs();
    if (databaseUrl) await withAdminClient((c) => c.query(`drop database if exists ${database} with (force)`));
  });

  const send = (subject: string, text: string) =>
    nodemailer.createTransport({ host: '127.0.0.1', port: server.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ from: `customer-${run}@example.org`, to: address, subject, text });

  async function ticketsWithSubjects(subjects: string[], timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await request(server.baseUrl, 'GET', `/api/v1/tickets?emailAccountId=${accountId}&limit=200`, { token });
      const found = (res.json?.items ?? []).filter((t: { subject: string }) => subjects.includes(t.subject));
      if (found.length >= subjects.length || Date.now() > deadline) return found as { id: number; subject: string }[];
      await sleep(1_000);
    }
  }

  /** Waits until the ticket's recognition wrote its activity; returns that entry. */
  async function recognitionOf(ticketId: number, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await request(server.baseUrl, 'GET', `/api/v1/tickets/${ticketId}/activity`, { token });
      const entry = (res.json?.items ?? []).find((a: { field: string }) => a.field === 'recognition');
      if (entry || Date.now() > deadline) return entry as { to: string; meta?: any } | undefined;
      await sleep(250);
    }
  }

  it('pathological messages through SMTP: every /healthz poll answers in < 500 ms, every message becomes a ticket', async () => {
    const poller = pollHealth(server.baseUrl);
    const subjects: string[] = [];
    try {
      for (const [i, c] of PATHOLOGICAL.entries()) {
        const subject = `stall ${run} #${i} ${c.name}`;
        subjects.push(subject);
        const info = await send(subject, c.text);
        expect(info.response, c.name).toMatch(/^250/);
      }
      const tickets = await ticketsWithSubjects(subjects, 120_000);
      expect(tickets.map((t) => t.subject).sort()).toEqual([...subjects].sort());
      for (const t of tickets) expect(await recognitionOf(t.id), t.subject).toBeDefined();
    } finally {
      const times = await poller.stop();
      expect(times.length).toBeGreaterThan(10);
      const slow = times.filter((t) => !(t < POLL_LIMIT_MS));
      expect(slow, `slowest poll ${Math.max(...times).toFixed(0)} ms of ${times.length}`).toEqual([]);
    }
  }, 240_000);

  it('an extraction that overruns its budget is stopped: the ticket is kept as "recognition timed out" and the server keeps serving', async () => {
    // An administrator's own contract pattern that backtracks exponentially: the one slow
    // extraction the built-in rules can no longer produce.
    const put = await request(server.baseUrl, 'PUT', '/api/v1/recognition/settings', { token, body: { contractPatterns: ['Vertrag ((?:\\d|\\d)+)#'] } });
    expect(put.status).toBe(200);
    const body = `Vertrag ${'1'.repeat(40)}!`;
    const poller = pollHealth(server.baseUrl);
    try {
      const subject = `stall ${run} slow pattern`;
      await send(subject, body);
      const [ticket] = await ticketsWithSubjects([subject], 60_000);
      expect(ticket).toBeDefined();
      const entry = await recognitionOf(ticket!.id);
      expect(entry?.to).toBe('recognition timed out');
      expect(JSON.stringify(entry?.meta)).toContain('recognition timed out');

      const preview = await request(server.baseUrl, 'POST', '/api/v1/recognition/preview', { token, body: { from: 'x@example.org', subject: 'x', body } });
      expect(preview.status).toBe(200);
      expect(preview.json.timedOut).toBe(true);
      expect(preview.json.detectionLog[0].message).toMatch(/^recognition timed out/);

      // A fresh worker serves the next message.
      const normal = await request(server.baseUrl, 'POST', '/api/v1/recognition/preview', { token, body: { from: 'x@example.org', subject: 'Vertrag 4711#', body: 'Hallo' } });
      expect(normal.json.characteristics.contractId).toBe('4711');
      expect(normal.json.timedOut).toBeUndefined();
    } finally {
      await request(server.baseUrl, 'PUT', '/api/v1/recognition/settings', { token, body: { contractPatterns: [] } });
      const times = await poller.stop();
      const slow = times.filter((t) => !(t < POLL_LIMIT_MS));
      expect(slow, `slowest poll ${Math.max(...times).toFixed(0)} ms of ${times.length}`).toEqual([]);
    }
  }, 120_000);
});
