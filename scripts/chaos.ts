/**
 * `npm run chaos`: deskhook under faults, with real processes.
 *
 * Each scenario starts `deskhook serve` the way an operator does (test/support/process.ts), sends
 * mail into it over SMTP and tickets over the API, breaks something on purpose, and then counts:
 *
 * - every email answered `250` must have become exactly one ticket (a sender retries anything else,
 *   as a mail server would, until it gets `250`);
 * - every ticket must have had its `TicketCreated` delivered to the event hook's receiver;
 * - duplicates (an event the receiver processed more than once) are counted and compared with what
 *   the fault can explain, e.g. the deliveries the killed process had leased;
 * - the time until the service (or the part that was hit) is ready again is measured.
 *
 * Scenarios:
 *   a  a worker SIGKILLed mid-delivery: embedded SQLite (`serve` killed, started again on the same
 *      data directory) and PostgreSQL (one of two `--role worker` processes killed)
 *   b  PostgreSQL under faults: every connection of deskhook's scratch database cut
 *      (pg_terminate_backend) again and again under load; the PostgreSQL server restarted under
 *      load (`pg_ctlcluster … restart`, then stop/start; needs root and a local cluster)
 *   c  the event receiver down (connection refused, then 503) for a while, then back
 *   d  SMTP clients dropping the connection in the middle of DATA
 *   e  the ERP failing (500) and slow (past the timeout) in live mode
 *
 * Usage:
 *   npm run chaos                      all scenarios, default durations; writes docs/reliability.md
 *   npm run chaos -- --short           short durations (CI); does not write the doc unless --docs
 *   npm run chaos -- --only a,c        some scenarios (by letter or id); does not write the doc unless --docs
 *   npm run chaos -- --no-pg-restart   everything but b-postgres-restart (it restarts the PostgreSQL server for everyone on it)
 *   npm run chaos -- --no-docs         never write the doc
 *
 * b-postgres-restart waits up to DESKHOOK_CHAOS_PG_QUIET_WAIT_S (120) seconds before each round
 * for the server to have no client but this run, then restarts it anyway.
 *
 * PostgreSQL scenarios use DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) only to
 * create a scratch database of their own, and are skipped with a note when it cannot be reached.
 * test/chaos.test.ts runs the scenarios in short mode.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { cpus, release, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import nodemailer, { type Transporter } from 'nodemailer';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../src/adapters/db/dialect.ts';
import {
  childEnv, freePort, killAll, REPO_ROOT, removeTempDirs, sleep, spawnDeskhook, tempDir, waitHealthy, type Child,
} from '../test/support/process.ts';

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Options and durations
// ---------------------------------------------------------------------------------------------

export interface ChaosOptions {
  /** Short durations and smaller volumes (CI, tests). */
  short: boolean;
  /** Progress and result lines; nothing when left out. */
  log?: (line: string) => void;
}

/** Kept small: a delivery is leased for this plus 30 s, and a kill leaves leases to run out. */
const EVENT_TIMEOUT_MS = 3_000;
const LEASE_MS = EVENT_TIMEOUT_MS + 30_000;
/** The lease of a batch of inbound mail being turned into tickets (src/app/mail/ingest-inbound.ts). */
const INBOUND_LEASE_MS = 180_000;
const EVENT_CONCURRENCY = 8;

export interface Plan {
  kill: {
    /** Emails sent before the kill, and from the kill on (through the downtime). */
    mailBefore: number; mailAfter: number; mailPerSecond: number;
    /** The kill comes once the receiver has processed this many events. */
    killAfterReceipts: number;
    /** The receiver answers this late until the kill, so deliveries are in flight when it comes. */
    receiverDelayMs: number;
    /** How long the killed process stays down before its replacement starts. */
    downtimeMs: number;
    /**
     * Whether mail is still arriving at the kill. A batch of inbound mail being ingested by the
     * killed process is leased for 180 s, so this makes the scenario wait that long.
     */
    mailAtKill: boolean;
  };
  pg: {
    warmupMs: number; rounds: Array<'restart' | 'stop-start'>; outageMs: number; cooldownMs: number; mailPerSecond: number; ticketsPerSecond: number;
    /** How often every connection of deskhook is cut (pg_terminate_backend), and how far apart. */
    terminations: number; terminateEveryMs: number;
  };
  receiver: {
    beforeMs: number; refuseMs: number; unavailableMs: number; afterMs: number;
    ticketsPerSecond: number; mailPerSecond: number; retryScheduleSeconds: number[];
  };
  smtp: { partial: number; good: number; goodPerSecond: number; droppedAfterData: number; concurrency: number };
  erp: { phaseMs: number; timeoutMs: number; cached: number; clients: number; emails: number };
  /**
   * Latency limits are multiplied by this: in short mode the scenarios run beside each other
   * and beside other tests (test/chaos.test.ts) on a shared machine.
   */
  latencySlack: number;
}

export function plan(short: boolean): Plan {
  return short
    ? {
      kill: { mailBefore: 60, mailAfter: 10, mailPerSecond: 10, killAfterReceipts: EVENT_CONCURRENCY, receiverDelayMs: 1_500, downtimeMs: 1_000, mailAtKill: false },
      pg: { warmupMs: 4_000, rounds: ['restart'], outageMs: 0, cooldownMs: 4_000, mailPerSecond: 10, ticketsPerSecond: 5, terminations: 6, terminateEveryMs: 1_500 },
      receiver: {
        beforeMs: 2_000, refuseMs: 3_000, unavailableMs: 3_000, afterMs: 2_000, ticketsPerSecond: 8, mailPerSecond: 2,
        retryScheduleSeconds: [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3],
      },
      smtp: { partial: 30, good: 30, goodPerSecond: 15, droppedAfterData: 5, concurrency: 10 },
      erp: { phaseMs: 3_000, timeoutMs: 1_000, cached: 10, clients: 6, emails: 4 },
      latencySlack: 4,
    }
    : {
      kill: { mailBefore: 200, mailAfter: 40, mailPerSecond: 40, killAfterReceipts: 50, receiverDelayMs: 200, downtimeMs: 3_000, mailAtKill: true },
      pg: { warmupMs: 10_000, rounds: ['restart', 'stop-start'], outageMs: 5_000, cooldownMs: 10_000, mailPerSecond: 20, ticketsPerSecond: 10, terminations: 20, terminateEveryMs: 1_500 },
      receiver: {
        beforeMs: 5_000, refuseMs: 15_000, unavailableMs: 15_000, afterMs: 5_000, ticketsPerSecond: 20, mailPerSecond: 5,
        retryScheduleSeconds: [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 5, 5, 5, 5, 5],
      },
      smtp: { partial: 300, good: 200, goodPerSecond: 25, droppedAfterData: 20, concurrency: 20 },
      erp: { phaseMs: 10_000, timeoutMs: 2_000, cached: 20, clients: 8, emails: 10 },
      latencySlack: 1,
    };
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface EmailFigures {
  /** Distinct messages the senders tried to deliver. */
  sent: number;
  /** Answered 250 (eventually: a sender retries 4xx and connection failures). */
  accepted: number;
  /** Never answered 250 before the sender gave up. */
  notAccepted: number;
  /** Answered 5xx: a real sender would have bounced them. */
  rejected: number;
  /** Answered 250 but no ticket: lost. */
  lost: number;
  /** Tickets beyond the first for one Message-ID. */
  ticketDuplicates: number;
  /** Messages stored twice (the sender retried after a 250 it never saw) and recognised as duplicates. */
  storedTwice: number;
  /** Every SMTP answer to every attempt: `250`, `451`, `conn:ECONNREFUSED`, … */
  answers: Record<string, number>;
}

export interface EventFigures {
  tickets: number;
  events: number;
  /** Tickets without a TicketCreated event, plus TicketCreated events the receiver never processed. */
  lost: number;
  /** Deliveries that ended failed or cancelled. */
  deadDeliveries: number;
  /** Requests the receiver processed (not counting 503 answers). */
  processed: number;
  /** Processed requests beyond the first per event id. */
  duplicates: number;
}

export interface ScenarioResult {
  id: string;
  title: string;
  mode: 'short' | 'full';
  ok: boolean;
  skipped: string | null;
  error: string | null;
  seconds: number;
  emails: EmailFigures | null;
  events: EventFigures | null;
  /** The bound the duplicates are checked against, and what it is. */
  duplicateBound: { value: number; what: string } | null;
  recovery: { what: string; seconds: number | null };
  figures: Record<string, string | number>;
  checks: Check[];
  line: string;
}

class Run {
  readonly checks: Check[] = [];
  readonly figures: Record<string, string | number> = {};
  emails: EmailFigures | null = null;
  events: EventFigures | null = null;
  duplicateBound: { value: number; what: string } | null = null;
  recovery: { what: string; seconds: number | null } = { what: '', seconds: null };
  private readonly cleanups: Array<() => Promise<unknown>> = [];

  constructor(readonly id: string, private readonly options: ChaosOptions) {}

  check(name: string, ok: boolean, detail = ''): void {
    this.checks.push({ name, ok, detail });
  }

  defer(fn: () => Promise<unknown>): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  }

  progress(message: string): void {
    this.options.log?.(`  [${this.id}] ${message}`);
  }
}

async function scenario(
  id: string, title: string, options: ChaosOptions, body: (run: Run) => Promise<string | void>,
): Promise<ScenarioResult> {
  const started = Date.now();
  const run = new Run(id, options);
  let skipped: string | null = null;
  let error: string | null = null;
  options.log?.(`[${id}] ${title}`);
  try {
    const result = await body(run);
    if (typeof result === 'string') skipped = result;
  } catch (err) {
    error = err instanceof Error ? `${err.message}` : String(err);
  } finally {
    await run.cleanup();
  }
  const seconds = (Date.now() - started) / 1000;
  const ok = skipped !== null || (error === null && run.checks.length > 0 && run.checks.every((c) => c.ok));
  const result: ScenarioResult = {
    id, title, mode: options.short ? 'short' : 'full', ok, skipped, error, seconds,
    emails: run.emails, events: run.events, duplicateBound: run.duplicateBound, recovery: run.recovery,
    figures: run.figures, checks: run.checks, line: '',
  };
  result.line = resultLine(result);
  options.log?.(result.line);
  for (const [k, v] of Object.entries(run.figures)) options.log?.(`  [${id}] ${k}: ${v}`);
  for (const c of run.checks.filter((x) => !x.ok)) options.log?.(`  [${id}] FAILED: ${c.name}${c.detail ? ` (${c.detail})` : ''}`);
  if (error) options.log?.(`  [${id}] ERROR: ${error.split('\n').slice(0, 8).join('\n    ')}`);
  return result;
}

function resultLine(r: ScenarioResult): string {
  if (r.skipped) return `[${r.id}] SKIPPED: ${r.skipped}`;
  const parts: string[] = [];
  if (r.emails) parts.push(`${r.emails.accepted}/${r.emails.sent} emails accepted, ${r.emails.lost} lost, ${r.emails.ticketDuplicates} ticket duplicates`);
  if (r.events) {
    parts.push(`${r.events.events} events, ${r.events.lost} lost, ${r.events.duplicates} duplicates`
      + (r.duplicateBound ? ` (bound ${r.duplicateBound.value}: ${r.duplicateBound.what})` : ''));
  }
  if (r.recovery.what) parts.push(`${r.recovery.what} ${duration(r.recovery.seconds)}`);
  parts.push(`${r.seconds.toFixed(1)} s in all`);
  return `[${r.id}] ${r.error ? 'ERROR' : r.ok ? 'PASS' : 'FAIL'}: ${parts.join('; ')}`;
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const sec = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);
/** Seconds as "0.4 s", or "35 ms" below a tenth of a second. */
const duration = (seconds: number | null) => (seconds === null ? 'never' : seconds < 0.1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`);
const randomTag = () => randomBytes(4).toString('hex');

function percentile(values: readonly number[], q: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function latencySummary(values: readonly number[]): string {
  if (!values.length) return 'no samples';
  const fmt = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)} ms`);
  return `p50 ${fmt(percentile(values, 0.5))}, p99 ${fmt(percentile(values, 0.99))}, max ${fmt(Math.max(...values))} (${values.length} samples)`;
}

function tally(values: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

const tallyText = (t: Record<string, number>) => Object.entries(t).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} × ${v}`).join(', ') || 'none';

async function waitFor(what: string, timeoutMs: number, condition: () => boolean | Promise<boolean>, intervalMs = 50): Promise<number> {
  const started = Date.now();
  for (;;) {
    let ok = false;
    try {
      ok = await condition();
    } catch {
      // e.g. the database restarting: look again
    }
    if (ok) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** SIGKILL to the process group (as the OOM killer or a pulled plug would leave it: no shutdown). */
function sigkill(child: Child): void {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.process.kill('SIGKILL');
  }
}

/**
 * Connections to 127.0.0.1:port on the server's side still held open (not listening, not in
 * TIME_WAIT, which holds no descriptor), from /proc/net/tcp (Linux); null elsewhere.
 */
function openConnections(port: number): number | null {
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return null;
  }
  let n = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const local = parseInt(f[1]!.split(':')[1] ?? '', 16);
    // 0A LISTEN, 06 TIME_WAIT, 07 CLOSE
    if (local === port && !['0A', '06', '07'].includes(f[3]!)) n++;
  }
  return n;
}

interface Answer {
  status: number;
  ms: number;
  json: any;
  text: string;
  headers: Headers;
}

async function call(baseUrl: string, method: string, path: string, options: { token?: string; body?: unknown; timeoutMs?: number } = {}): Promise<Answer> {
  const began = performance.now();
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, ms: performance.now() - began, json, text, headers: res.headers };
}

function expectStatus(answer: Answer, status: number, what: string): void {
  if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 300)}`);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

/** Where the scratch databases are created (the database in it is only used to connect). */
export const ADMIN_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The server's version when PostgreSQL answers at ADMIN_DATABASE_URL, else null. */
export async function postgresAvailable(): Promise<string | null> {
  try {
    const rows = await adminQuery<{ v: string }>(`select current_setting('server_version') as v`);
    return rows[0]?.v ?? null;
  } catch {
    return null;
  }
}

/** Root, pg_ctlcluster on PATH and one cluster under /etc/postgresql: what scenario b needs to restart the server. */
export function pgClusterControl(): { version: string; name: string } | null {
  if (process.getuid?.() !== 0) return null;
  const onPath = (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, 'pg_ctlcluster')));
  if (!onPath) return null;
  const configured = process.env.DESKHOOK_CHAOS_PG_CLUSTER?.trim().split(/[\s/]+/);
  if (configured && configured.length === 2) return { version: configured[0]!, name: configured[1]! };
  try {
    const versions = readdirSync('/etc/postgresql');
    return versions.length === 1 ? { version: versions[0]!, name: 'main' } : null;
  } catch {
    return null;
  }
}

async function scratchDatabase(prefix: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name, url: url.toString(),
    drop: async () => {
      // Right after a restart the server may still be starting.
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          await adminQuery(`drop database if exists ${name} with (force)`);
          return;
        } catch {
          await sleep(500);
        }
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// deskhook processes
// ---------------------------------------------------------------------------------------------

type Role = 'all' | 'api' | 'smtp' | 'worker';

interface Proc {
  name: string;
  role: Role;
  child: Child;
  port: number;
  smtpPort: number;
  baseUrl: string;
  dataDir: string;
  env: Record<string, string>;
  spawnedAt: number;
  upAt: number;
}

interface LaunchOptions {
  name: string;
  role: Role;
  dataDir: string;
  env: Record<string, string>;
  /** Fixed ports, to start a replacement where clients expect it. */
  port?: number;
  smtpPort?: number;
}

/** `deskhook serve --role <role>`, waited for until /healthz answers and it logged that it is up. */
async function launch(o: LaunchOptions): Promise<Proc> {
  const port = o.port ?? await freePort();
  const smtpPort = o.smtpPort ?? await freePort();
  const spawnedAt = Date.now();
  const child = spawnDeskhook(['serve', '--role', o.role], childEnv({
    PORT: String(port), DESKHOOK_SMTP_PORT: String(smtpPort), DESKHOOK_DATA_DIR: o.dataDir, DESKHOOK_LOG_LEVEL: 'info', ...o.env,
  }));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitHealthy(baseUrl, child, 60_000);
  await child.waitForStdout(/"msg":"deskhook is up"/, 60_000);
  return { name: o.name, role: o.role, child, port, smtpPort, baseUrl, dataDir: o.dataDir, env: o.env, spawnedAt, upAt: Date.now() };
}

/** Polls /readyz until 200; the time that took, or null. */
async function untilReady(baseUrl: string, timeoutMs: number): Promise<number | null> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return Date.now() - started;
    } catch {
      // not listening (yet)
    }
    await sleep(50);
  }
  return null;
}

function commonEnv(): Record<string, string> {
  return {
    DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32',
    DESKHOOK_EVENT_POLL_MS: '50',
    DESKHOOK_EVENT_TIMEOUT_MS: String(EVENT_TIMEOUT_MS),
    DESKHOOK_EVENT_CONCURRENCY: String(EVENT_CONCURRENCY),
    // One sender per message anyway; the flood limits are not what is tested here.
    DESKHOOK_MAIL_FLOOD_LIMIT: '100000',
    DESKHOOK_MAIL_FLOOD_CLIENT_LIMIT: '1000000',
    DESKHOOK_MAIL_FLOOD_ACCOUNT_LIMIT: '1000000',
  };
}

interface Stack {
  kind: 'sqlite' | 'postgres';
  tag: string;
  /** Every process started, dead ones included (for their logs). */
  procs: Proc[];
  api: Proc;
  smtp: Proc;
  token: string;
  address: string;
  hookId: number;
  /** The test's own view of the database, for what no API shows. */
  db: DatabaseHandle;
  databaseName: string | null;
  dropDatabase: (() => Promise<void>) | null;
}

interface StackOptions {
  tag: string;
  receiverUrl: string;
  retryScheduleSeconds?: number[];
  env?: Record<string, string>;
}

const ADMIN_EMAIL = 'chaos-admin@example.com';

function adminEnv(password: string): Record<string, string> {
  return { DESKHOOK_ADMIN_EMAIL: ADMIN_EMAIL, DESKHOOK_ADMIN_PASSWORD: password };
}

/** Logs in, creates an SMTP email account and an event hook on TicketCreated to the receiver. */
async function configure(api: Proc, password: string, o: StackOptions): Promise<{ token: string; address: string; hookId: number }> {
  const session = await call(api.baseUrl, 'POST', '/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password } });
  expectStatus(session, 200, 'login');
  const token = session.json.token as string;
  const address = `service-${o.tag}@chaos.example`;
  const account = await call(api.baseUrl, 'POST', '/api/v1/email-accounts', { token, body: { name: `Chaos ${o.tag}`, address, inbound: { type: 'smtp' } } });
  expectStatus(account, 201, 'creating the email account');
  const hook = await call(api.baseUrl, 'POST', '/api/v1/event-hooks', {
    token,
    body: {
      name: `chaos receiver ${o.tag}`, events: ['TicketCreated'], executor: { type: 'apiCall', url: o.receiverUrl },
      ...(o.retryScheduleSeconds ? { retryScheduleSeconds: o.retryScheduleSeconds } : {}),
    },
  });
  expectStatus(hook, 201, 'creating the event hook');
  return { token, address, hookId: hook.json.id as number };
}

/** One `serve` (role all) on a fresh embedded SQLite database. */
async function sqliteStack(o: StackOptions): Promise<Stack> {
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const dataDir = tempDir('deskhook-chaos-');
  const proc = await launch({ name: 'S1', role: 'all', dataDir, env: { ...commonEnv(), ...o.env, ...adminEnv(password) } });
  const db = openDatabase({ kind: 'sqlite', path: join(dataDir, 'deskhook.sqlite') });
  const setup = await configure(proc, password, o);
  return { kind: 'sqlite', tag: o.tag, procs: [proc], api: proc, smtp: proc, db, databaseName: null, dropDatabase: null, ...setup };
}

/** On a scratch PostgreSQL database: `--role api` A, `--role smtp` M, and `workers` × `--role worker` W1…. */
async function postgresStack(o: StackOptions & { workers: number }): Promise<Stack> {
  const scratch = await scratchDatabase('dh_chaos');
  const procs: Proc[] = [];
  try {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const env = {
      ...commonEnv(), DATABASE_URL: scratch.url, DESKHOOK_SECRET_KEY: randomBytes(32).toString('base64'), DESKHOOK_DATABASE_POOL_SIZE: '4', ...o.env,
    };
    // A first: it migrates the fresh database and creates the admin.
    const api = await launch({ name: 'A', role: 'api', dataDir: tempDir('deskhook-chaos-'), env: { ...env, ...adminEnv(password) } });
    procs.push(api);
    const others = await Promise.all([
      launch({ name: 'M', role: 'smtp', dataDir: tempDir('deskhook-chaos-'), env }),
      ...Array.from({ length: o.workers }, (_, i) => launch({ name: `W${i + 1}`, role: 'worker', dataDir: tempDir('deskhook-chaos-'), env })),
    ]);
    procs.push(...others);
    const db = openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 2 });
    const setup = await configure(api, password, o);
    return { kind: 'postgres', tag: o.tag, procs, api, smtp: others[0]!, db, databaseName: scratch.name, dropDatabase: scratch.drop, ...setup };
  } catch (err) {
    await Promise.all(procs.map((p) => p.child.kill()));
    await scratch.drop();
    throw err;
  }
}

/** SIGTERM to every live process; how each ended. Then the database is closed (and dropped). */
async function stopStack(stack: Stack): Promise<Record<string, string>> {
  const exits: Record<string, string> = {};
  await Promise.all(stack.procs.filter((p) => p.child.running).map(async (p) => {
    p.child.signal('SIGTERM');
    try {
      const exit = await p.child.waitForExit(25_000);
      exits[p.name] = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    } catch {
      exits[p.name] = 'did not stop within 25 s';
    }
  }));
  await stack.db.close().catch(() => undefined);
  await stack.dropDatabase?.();
  return exits;
}

/** Kills whatever is still running and drops the database: for when a scenario ends early. */
async function abandonStack(stack: Stack): Promise<void> {
  await Promise.all(stack.procs.map((p) => p.child.kill()));
  await stack.db.close().catch(() => undefined);
  await stack.dropDatabase?.();
}

function checkCleanStop(run: Run, exits: Record<string, string>): void {
  const bad = Object.entries(exits).filter(([, e]) => e !== 'code 0');
  run.check('every process stopped cleanly on SIGTERM (exit code 0)', bad.length === 0, bad.map(([n, e]) => `${n}: ${e}`).join(', '));
}

/** Error lines (pino level ≥ 50) of the processes, counted by message and the error's code (or type). */
function loggedErrors(procs: readonly Proc[]): Record<string, number> {
  return tally(procs.flatMap((p) => p.child.logLines().filter((l) => typeof l.level === 'number' && l.level >= 50).map((l) => {
    const err = l.err as { code?: unknown; type?: unknown } | undefined;
    const what = err ? String(err.code ?? err.type ?? '') : '';
    return `"${String(l.msg)}"${what ? ` (${what})` : ''}`;
  })));
}

// ---------------------------------------------------------------------------------------------
// The team's event receiver
// ---------------------------------------------------------------------------------------------

interface Receipt {
  id: string;
  ticketId: number | null;
  at: number;
  /** Accepted for processing (not answered 503). */
  processed: boolean;
  answered: number | null;
}

/**
 * A receiver on 127.0.0.1 that processes each event as soon as the request is in (as a receiver
 * that commits and then answers does) and answers 200 after `delayMs`. It can go down (the port
 * refuses connections) and be unavailable (answers 503 without processing), and come back on
 * the same port.
 */
class EventReceiver {
  readonly receipts: Receipt[] = [];
  mode: 'up' | 'unavailable' | 'down' = 'up';
  /** Requests processed but not yet answered when it went down: it did the work, the sender never heard. */
  cutOff = 0;
  private server: Server | null = null;
  private readonly unanswered = new Set<Receipt>();

  private constructor(readonly port: number, public delayMs: number) {}

  static async start(delayMs: number): Promise<EventReceiver> {
    const receiver = new EventReceiver(await freePort(), delayMs);
    await receiver.listen();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/events`;
  }

  private readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    let raw = '';
    req.setEncoding('utf8').on('data', (chunk: string) => { raw += chunk; });
    req.on('end', () => {
      let body: any = null;
      try {
        body = JSON.parse(raw);
      } catch {
        // not JSON: still a receipt
      }
      const processed = this.mode === 'up';
      const receipt: Receipt = {
        id: String(req.headers['webhook-id']), ticketId: typeof body?.data?.ticketId === 'number' ? body.data.ticketId : null,
        at: Date.now(), processed, answered: null,
      };
      this.receipts.push(receipt);
      if (!processed) {
        receipt.answered = 503;
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"down for maintenance"}');
        return;
      }
      this.unanswered.add(receipt);
      setTimeout(() => {
        this.unanswered.delete(receipt);
        if (res.destroyed || res.writableEnded) return;
        receipt.answered = 200;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }, this.delayMs);
    });
  };

  private async listen(): Promise<void> {
    const server = createServer(this.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Closes the port: connections are refused until `comeBack`. */
  async goDown(): Promise<void> {
    this.mode = 'down';
    this.cutOff += this.unanswered.size;
    this.unanswered.clear();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async comeBack(mode: 'up' | 'unavailable'): Promise<void> {
    if (!this.server) await this.listen();
    this.mode = mode;
  }

  processedCount(): number {
    return this.receipts.filter((r) => r.processed).length;
  }

  /** Event id → how often it was processed. */
  processedIds(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.receipts) if (r.processed) out.set(r.id, (out.get(r.id) ?? 0) + 1);
    return out;
  }

  /** Event id → when it was first processed. */
  firstProcessed(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.receipts) if (r.processed && !out.has(r.id)) out.set(r.id, r.at);
    return out;
  }

  duplicatedIds(): string[] {
    return [...this.processedIds()].filter(([, n]) => n > 1).map(([id]) => id);
  }

  duplicates(): number {
    let n = 0;
    for (const count of this.processedIds().values()) n += count - 1;
    return n;
  }

  async close(): Promise<void> {
    await this.goDown();
  }
}

// ---------------------------------------------------------------------------------------------
// Load: mail over SMTP, tickets over the API, probes
// ---------------------------------------------------------------------------------------------

interface MailAttempt {
  at: number;
  /** `250`, `451`, `conn:ECONNREFUSED`, … */
  answer: string;
  ms: number;
}

export interface MailRecord {
  messageId: string;
  subject: string;
  attempts: MailAttempt[];
  acceptedAt: number | null;
  rejected: string | null;
  gaveUp: boolean;
}

/**
 * Sends messages over SMTP, each in a connection of its own, and keeps trying a message as a mail
 * server's queue does: after a 4xx or a connection failure it tries again (every `retryMs`) until
 * it gets 250, a 5xx, or its deadline passes.
 */
class MailLoad {
  readonly records: MailRecord[] = [];
  private readonly inFlight = new Set<Promise<MailRecord>>();
  private readonly transport: Transporter;
  private generator: Promise<void> | null = null;
  private generating = false;
  private n = 0;

  constructor(
    private readonly tag: string,
    port: number,
    private readonly to: string,
    private readonly options: { retryMs?: number; deadlineMs?: number; maxInFlight?: number } = {},
  ) {
    this.transport = nodemailer.createTransport({
      host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 20_000,
    });
  }

  /** `raw`: send exactly these bytes (a client resending the message it sent before). */
  send(override: { messageId?: string; subject?: string; raw?: string } = {}): Promise<MailRecord> {
    const n = ++this.n;
    const record: MailRecord = {
      messageId: override.messageId ?? `chaos-${this.tag}-${n}@chaos.example`,
      subject: override.subject ?? `Chaos ${this.tag} Nr. ${n}`,
      attempts: [], acceptedAt: null, rejected: null, gaveUp: false,
    };
    this.records.push(record);
    const task: Promise<MailRecord> = this.deliver(record, n, override.raw).finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
    return task;
  }

  private async deliver(record: MailRecord, n: number, raw?: string): Promise<MailRecord> {
    const deadline = Date.now() + (this.options.deadlineMs ?? 300_000);
    const from = `kunde-${this.tag}-${n}@customer.example`;
    for (;;) {
      const began = Date.now();
      try {
        const info = await this.transport.sendMail(raw !== undefined
          ? { envelope: { from, to: [this.to] }, raw }
          : {
            from: `Kunde ${n} <${from}>`, to: this.to, subject: record.subject,
            text: `Guten Tag,\ndas ist Nachricht ${n} des Laufs ${this.tag}.\nViele Grüße\n`, messageId: `<${record.messageId}>`,
          });
        record.attempts.push({ at: began, answer: String(info.response).slice(0, 3), ms: Date.now() - began });
        record.acceptedAt = Date.now();
        return record;
      } catch (err) {
        const e = err as { responseCode?: number; code?: string; message?: string };
        const coded = typeof e.responseCode === 'number';
        record.attempts.push({ at: began, answer: coded ? String(e.responseCode) : `conn:${e.code ?? 'error'}`, ms: Date.now() - began });
        if (coded && e.responseCode! >= 500) {
          record.rejected = `${e.responseCode} ${e.message ?? ''}`.slice(0, 200);
          return record;
        }
        if (Date.now() > deadline) {
          record.gaveUp = true;
          return record;
        }
        await sleep(this.options.retryMs ?? 250);
      }
    }
  }

  /** `count` messages, `concurrency` at a time; resolves when all are through. */
  async sendBatch(count: number, concurrency: number): Promise<void> {
    let left = count;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (left > 0) {
        left--;
        await this.send();
      }
    }));
  }

  /** New messages at `perSecond` until `stop()` or `max` messages. */
  start(perSecond: number, max = Infinity): void {
    this.generating = true;
    const interval = 1000 / perSecond;
    this.generator = (async () => {
      const began = Date.now();
      let count = 0;
      while (this.generating && count < max) {
        if (this.inFlight.size >= (this.options.maxInFlight ?? 64)) {
          await sleep(20);
          continue;
        }
        void this.send();
        count++;
        await sleep(Math.max(1, began + count * interval - Date.now()));
      }
      this.generating = false;
    })();
  }

  /** Waits until the generator has made its `max` messages. */
  async generated(): Promise<void> {
    await this.generator;
  }

  async stop(): Promise<void> {
    this.generating = false;
    await this.generator;
  }

  /** Waits for every message to be accepted, rejected or given up. */
  async drain(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Every answer to an attempt that began within [from, to). */
  answers(from = 0, to = Infinity): Record<string, number> {
    return tally(this.records.flatMap((r) => r.attempts).filter((a) => a.at >= from && a.at < to).map((a) => a.answer));
  }

  close(): void {
    this.transport.close();
  }
}

/** POST /api/v1/tickets at a steady rate, as an integration creating tickets would. */
class TicketLoad {
  readonly records: Array<{ at: number; status: string; id: number | null }> = [];
  private readonly inFlight = new Set<Promise<void>>();
  private generator: Promise<void> | null = null;
  private generating = false;

  constructor(private readonly baseUrl: string, private readonly token: string, private readonly tag: string) {}

  private create(n: number): Promise<void> {
    const task: Promise<void> = (async () => {
      const at = Date.now();
      try {
        const res = await call(this.baseUrl, 'POST', '/api/v1/tickets', {
          token: this.token, body: { subject: `Chaos API ${this.tag} ${n}`, from: `api-${this.tag}-${n}@customer.example` },
        });
        this.records.push({ at, status: String(res.status), id: res.status === 201 ? (res.json.id as number) : null });
      } catch (err) {
        const e = err as { name?: string; cause?: { code?: string } };
        this.records.push({ at, status: `conn:${e.cause?.code ?? e.name ?? 'error'}`, id: null });
      }
    })().finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
    return task;
  }

  start(perSecond: number): void {
    this.generating = true;
    const interval = 1000 / perSecond;
    this.generator = (async () => {
      const began = Date.now();
      let count = 0;
      while (this.generating) {
        if (this.inFlight.size < 16) void this.create(++count);
        await sleep(Math.max(1, began + count * interval - Date.now()));
      }
    })();
  }

  async stop(): Promise<void> {
    this.generating = false;
    await this.generator;
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  statuses(from = 0, to = Infinity): Record<string, number> {
    return tally(this.records.filter((r) => r.at >= from && r.at < to).map((r) => r.status));
  }
}

/** GETs a URL every `intervalMs`, recording status (0: no answer within 2 s) and latency. */
class Probe {
  readonly samples: Array<{ at: number; status: number; ms: number }> = [];
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(readonly name: string, private readonly url: string, private readonly intervalMs: number) {}

  start(): this {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const at = Date.now();
        const began = performance.now();
        let status = 0;
        try {
          const res = await fetch(this.url, { signal: AbortSignal.timeout(2_000) });
          await res.arrayBuffer();
          status = res.status;
        } catch {
          // no answer
        }
        this.samples.push({ at, status, ms: performance.now() - began });
        await sleep(this.intervalMs);
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** The first answer other than 200 at or after `since`, and the first 200 after that. */
  outage(since: number): { downAt: number | null; upAt: number | null } {
    const after = this.samples.filter((s) => s.at >= since);
    const down = after.find((s) => s.status !== 200);
    if (!down) return { downAt: null, upAt: null };
    const up = after.find((s) => s.at > down.at && s.status === 200);
    return { downAt: down.at, upAt: up?.at ?? null };
  }

  /** Whether the last sample is a 200 taken at or after `since`. */
  readySince(since: number): boolean {
    const last = this.samples.at(-1);
    return !!last && last.at >= since && last.status === 200;
  }

  latencies(from = 0, to = Infinity): number[] {
    return this.samples.filter((s) => s.at >= from && s.at < to).map((s) => s.ms);
  }

  failures(from = 0, to = Infinity): number {
    return this.samples.filter((s) => s.at >= from && s.at < to && s.status !== 200).length;
  }
}

// ---------------------------------------------------------------------------------------------
// Counting: what the database says against what the senders and the receiver saw
// ---------------------------------------------------------------------------------------------

const ms = (ts: string | Date | null) => (ts === null ? NaN : new Date(ts).getTime());

async function pendingInbound(db: DatabaseHandle): Promise<number> {
  return (await db.db.selectFrom('inbound_messages').select('id').where('status', '=', 'received').execute()).length;
}

/** Inbound messages claimed for ingestion (leased) right now. */
async function leasedInbound(db: DatabaseHandle): Promise<number> {
  const rows = await db.db.selectFrom('inbound_messages').select(['id', 'locked_until']).where('status', '=', 'received').execute();
  const now = Date.now();
  return rows.filter((r) => r.locked_until !== null && ms(r.locked_until) > now).length;
}

/** Deliveries leased by the process `pid` and not recorded: in flight when it died. */
async function leasedBy(db: DatabaseHandle, pid: number): Promise<Array<{ id: number; event_id: string }>> {
  return db.db.selectFrom('event_deliveries').select(['id', 'event_id'])
    .where('status', '=', 'pending').where('locked_by', 'like', `%:${pid}:%`).execute();
}

async function pendingDeliveries(db: DatabaseHandle): Promise<number> {
  return (await db.db.selectFrom('event_deliveries').select('id').where('status', '=', 'pending').execute()).length;
}

interface Settlement {
  settled: boolean;
  settledAt: number;
  emails: EmailFigures;
  events: EventFigures;
  /** Why it is not settled, when it is not. */
  outstanding: string;
}

/**
 * Waits until everything the senders got 250 for is a ticket, nothing is left to ingest or to
 * deliver, and the receiver has processed every TicketCreated; or until `timeoutMs`. Then counts.
 */
async function settle(stack: Stack, mail: readonly MailRecord[], receiver: EventReceiver, timeoutMs: number): Promise<Settlement> {
  const started = Date.now();
  let last: Settlement | null = null;
  for (;;) {
    try {
      last = await count(stack, mail, receiver);
      if (last.settled) return last;
    } catch {
      // the database is unreachable for a moment: look again
    }
    if (Date.now() - started > timeoutMs) {
      if (last) return last;
      throw new Error(`could not read the database for ${timeoutMs} ms`);
    }
    await sleep(250);
  }
}

async function count(stack: Stack, mail: readonly MailRecord[], receiver: EventReceiver): Promise<Settlement> {
  const db = stack.db.db;
  const tickets = await db.selectFrom('tickets').select(['id', 'message_id']).execute();
  const inbound = await db.selectFrom('inbound_messages').select(['id', 'status', 'outcome']).execute();
  const events = await db.selectFrom('events').select(['id', 'ticket_id']).where('type', '=', 'TicketCreated').execute();
  const deliveries = await db.selectFrom('event_deliveries').select(['id', 'status']).execute();

  const byMessageId = new Map<string, number>();
  for (const t of tickets) if (t.message_id) byMessageId.set(t.message_id, (byMessageId.get(t.message_id) ?? 0) + 1);
  const accepted = mail.filter((r) => r.acceptedAt !== null);
  const lostMail = accepted.filter((r) => !byMessageId.has(r.messageId));
  const distinctIds = new Set(mail.map((r) => r.messageId));
  let ticketDuplicates = 0;
  for (const id of distinctIds) ticketDuplicates += Math.max(0, (byMessageId.get(id) ?? 0) - 1);
  const inboundPending = inbound.filter((i) => i.status === 'received').length;
  const inboundFailed = inbound.filter((i) => i.status === 'failed').length;

  const processed = receiver.processedIds();
  const withEvent = new Set(events.map((e) => e.ticket_id));
  const ticketsWithoutEvent = tickets.filter((t) => !withEvent.has(t.id)).length;
  const undelivered = events.filter((e) => !processed.has(e.id)).length;
  const pending = deliveries.filter((d) => d.status === 'pending').length;
  const dead = deliveries.filter((d) => d.status === 'failed' || d.status === 'cancelled').length;

  const emails: EmailFigures = {
    sent: distinctIds.size,
    accepted: new Set(accepted.map((r) => r.messageId)).size,
    notAccepted: mail.filter((r) => r.gaveUp).length,
    rejected: mail.filter((r) => r.rejected !== null).length,
    lost: lostMail.length,
    ticketDuplicates,
    storedTwice: inbound.filter((i) => i.outcome === 'duplicate').length,
    answers: tally(mail.flatMap((r) => r.attempts.map((a) => a.answer))),
  };
  const eventFigures: EventFigures = {
    tickets: tickets.length, events: events.length, lost: ticketsWithoutEvent + undelivered, deadDeliveries: dead,
    processed: receiver.processedCount(), duplicates: receiver.duplicates(),
  };
  const outstanding = [
    lostMail.length ? `${lostMail.length} accepted emails without a ticket` : '',
    inboundPending ? `${inboundPending} inbound messages not processed` : '',
    inboundFailed ? `${inboundFailed} inbound messages failed` : '',
    pending ? `${pending} deliveries pending` : '',
    undelivered ? `${undelivered} TicketCreated events not received` : '',
    ticketsWithoutEvent ? `${ticketsWithoutEvent} tickets without a TicketCreated event` : '',
  ].filter(Boolean).join(', ');
  return { settled: outstanding === '', settledAt: Date.now(), emails, events: eventFigures, outstanding };
}

/** The checks every scenario makes on mail and events. */
function checkNothingLost(run: Run, s: Settlement, duplicateBound: number, boundWhat: string): void {
  run.emails = s.emails;
  run.events = s.events;
  run.duplicateBound = { value: duplicateBound, what: boundWhat };
  run.check('everything settled: every accepted email a ticket, every event received, nothing left queued', s.settled, s.outstanding);
  run.check('no email lost: every message answered 250 became a ticket', s.emails.lost === 0, `${s.emails.lost} of ${s.emails.accepted}`);
  run.check('every message was eventually accepted (no 5xx, no sender gave up)', s.emails.notAccepted === 0 && s.emails.rejected === 0,
    `${s.emails.rejected} rejected, ${s.emails.notAccepted} given up`);
  run.check('no message became two tickets', s.emails.ticketDuplicates === 0, `${s.emails.ticketDuplicates}`);
  run.check('no event lost: every ticket has its TicketCreated, every TicketCreated was received', s.events.lost === 0, `${s.events.lost} of ${s.events.events}`);
  run.check('no delivery failed or was cancelled', s.events.deadDeliveries === 0, `${s.events.deadDeliveries}`);
  run.check(`duplicates within the bound (${boundWhat})`, s.events.duplicates <= duplicateBound, `${s.events.duplicates} > ${duplicateBound}`);
}

// ---------------------------------------------------------------------------------------------
// a. A worker SIGKILLed mid-delivery
// ---------------------------------------------------------------------------------------------

export async function killMidDelivery(options: ChaosOptions, backend: 'sqlite' | 'postgres'): Promise<ScenarioResult> {
  const title = backend === 'sqlite'
    ? 'worker SIGKILLed mid-delivery (embedded SQLite: `serve` killed, started again on the same data directory)'
    : 'worker SIGKILLed mid-delivery (PostgreSQL: one of two `--role worker` processes killed, a new one started)';
  return scenario(`a-${backend}`, title, options, async (run) => {
    if (backend === 'postgres' && !(await postgresAvailable())) return `no PostgreSQL at ${redact(ADMIN_DATABASE_URL)}`;
    const p = plan(options.short).kill;
    const tag = randomTag();
    const receiver = await EventReceiver.start(p.receiverDelayMs);
    run.defer(() => receiver.close());
    const stack = backend === 'sqlite'
      ? await sqliteStack({ tag, receiverUrl: receiver.url })
      : await postgresStack({ tag, receiverUrl: receiver.url, workers: 2 });
    run.defer(() => abandonStack(stack));
    const victim = backend === 'sqlite' ? stack.procs[0]! : stack.procs.find((x) => x.name === 'W1')!;
    const mail = new MailLoad(tag, stack.smtp.smtpPort, stack.address, { deadlineMs: 300_000 });
    run.defer(async () => mail.close());
    const started = Date.now();
    run.progress(`${stack.procs.map((x) => `${x.name} (${x.role})`).join(', ')} up; mail and deliveries under way`);

    if (p.mailAtKill) {
      mail.start(p.mailPerSecond, p.mailBefore + p.mailAfter);
    } else {
      // Every email of the first batch is a ticket before the kill: the kill hits deliveries only.
      await mail.sendBatch(p.mailBefore, 4);
      await waitFor('the first batch ingested', 60_000, async () => (await pendingInbound(stack.db)) === 0);
    }
    await waitFor(`${p.killAfterReceipts} events processed`, 120_000, () => receiver.processedCount() >= p.killAfterReceipts, 5);
    const receiptsAtKill = receiver.processedCount();
    const killedAt = Date.now();
    sigkill(victim.child);
    const exit = await victim.child.waitForExit(10_000);
    run.check('the victim died of SIGKILL', exit.signal === 'SIGKILL', JSON.stringify(exit));
    receiver.delayMs = 20;
    if (!p.mailAtKill) mail.start(p.mailPerSecond, p.mailAfter);
    // What the victim had committed is visible once its connection is gone.
    await sleep(backend === 'postgres' ? 1_000 : 200);
    const orphaned = await leasedBy(stack.db, victim.child.pid);
    const inboundAtKill = await leasedInbound(stack.db);
    run.progress(`killed ${victim.name} ${sec(killedAt - started)} in, after ${receiptsAtKill} events processed: `
      + `${orphaned.length} deliveries leased by it, ${inboundAtKill} inbound emails claimed${backend === 'sqlite' ? ' by it' : ''}`);

    await sleep(Math.max(0, p.downtimeMs - (Date.now() - killedAt)));
    const replacement = await launch(backend === 'sqlite'
      ? { name: 'S2', role: 'all', dataDir: victim.dataDir, env: victim.env, port: victim.port, smtpPort: victim.smtpPort }
      : { name: 'W3', role: 'worker', dataDir: tempDir('deskhook-chaos-'), env: victim.env });
    stack.procs.push(replacement);
    const readyAfter = await untilReady(replacement.baseUrl, 30_000);
    const readyMs = readyAfter === null ? null : Date.now() - replacement.spawnedAt;
    run.progress(`${replacement.name} ready ${sec(readyMs)} after it was started; waiting for the leases (${sec(LEASE_MS)}${inboundAtKill ? ` and the inbound lease, ${sec(INBOUND_LEASE_MS)}` : ''})`);

    await mail.generated();
    await mail.drain();
    const s = await settle(stack, mail.records, receiver, LEASE_MS + (inboundAtKill ? INBOUND_LEASE_MS : 0) + 60_000);
    const downAnswers = mail.answers(killedAt, replacement.upAt);

    run.check('the kill hit deliveries in flight (at least one leased by the victim)', orphaned.length >= 1, `${orphaned.length}`);
    checkNothingLost(run, s, orphaned.length, 'deliveries the killed process had leased');
    const orphanedEvents = new Set(orphaned.map((d) => d.event_id));
    const stray = receiver.duplicatedIds().filter((id) => !orphanedEvents.has(id));
    run.check('every duplicate was one of the killed process\'s leases', stray.length === 0, stray.join(', '));
    run.check(`the ${backend === 'sqlite' ? 'restarted server' : 'new worker'} is ready within 15 s of its start`, readyMs !== null && readyMs <= 15_000, sec(readyMs));
    const allDeliveredAfter = s.settledAt - killedAt;
    const deliveryBound = LEASE_MS + (inboundAtKill ? INBOUND_LEASE_MS : 0) + 30_000;
    run.check(`everything delivered within ${sec(deliveryBound)} of the kill (the lease${inboundAtKill ? 's' : ''} plus 30 s)`, allDeliveredAfter <= deliveryBound, sec(allDeliveredAfter));
    if (backend === 'postgres') {
      const survivor = stack.procs.find((x) => x.name === 'W2')!;
      run.check('the surviving worker stayed up', survivor.child.running);
    }
    run.recovery = { what: `${replacement.name} ready after start`, seconds: readyMs === null ? null : readyMs / 1000 };

    Object.assign(run.figures, {
      'processes': stack.procs.map((x) => `${x.name} (${x.role})`).join(', '),
      'kill': `${victim.name} ${sec(killedAt - started)} into the run, after ${receiptsAtKill} events processed; mail ${p.mailAtKill ? 'still arriving' : 'all ingested'} at the kill`,
      'deliveries leased by the killed process': orphaned.length,
      // Inbound claims record no holder: on PostgreSQL these may be the other worker's.
      [backend === 'sqlite' ? 'inbound emails claimed by the killed process' : 'inbound emails claimed (by any worker) at the kill']: inboundAtKill,
      'SMTP answers while it was down': backend === 'sqlite' ? tallyText(downAnswers) : 'SMTP is another process (not killed)',
      'replacement started after': sec(replacement.spawnedAt - killedAt),
      'replacement ready after its start': sec(readyMs),
      'everything delivered after the kill': sec(allDeliveredAfter),
      'SMTP answers (all attempts)': tallyText(s.emails.answers),
      'errors logged': tallyText(loggedErrors(stack.procs)),
    });
    checkCleanStop(run, await stopStack(stack));
  });
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'DATABASE_URL';
  }
}

// ---------------------------------------------------------------------------------------------
// b. PostgreSQL restarted under load
// ---------------------------------------------------------------------------------------------

/** Log messages of a worker that name deliveries it attempted and could not record. */
function unrecordedDeliveries(procs: readonly Proc[]): Set<number> {
  const ids = new Set<number>();
  for (const p of procs) {
    for (const l of p.child.logLines()) {
      if (Array.isArray(l.deliveries) && String(l.msg).startsWith('recording event deliveries failed')) for (const id of l.deliveries) ids.add(Number(id));
      if (typeof l.deliveryId === 'number' && String(l.msg).startsWith('event delivery could not be recorded')) ids.add(l.deliveryId);
    }
  }
  return ids;
}

/** What killed a process that exited on its own: the first error line of its stderr, the error code, who emitted it. */
function crashReason(child: Child): string {
  const lines = child.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const first = lines.find((l) => /^(\w*Error\b|error:)/.test(l)) ?? lines[0] ?? `exit ${JSON.stringify(child.exit)}`;
  const code = /code: '(\w+)'/.exec(child.stderr)?.[1];
  const emitted = /Emitted 'error' event on (\w+) instance/.exec(child.stderr)?.[1];
  return `${first.slice(0, 160)}${code ? ` (code ${code})` : ''}${emitted ? `, an unhandled 'error' event of a ${emitted}` : ''}`;
}

/**
 * Starts a process again when it exits on its own, on the same ports, retrying every second
 * until it is up: what systemd's `Restart=always` or a container orchestrator does. The crash is
 * recorded (and fails a check); the restart lets the scenario still count what got lost.
 */
class Supervisor {
  readonly crashes: Array<{ name: string; at: number; reason: string; restartedAt: number | null }> = [];
  private running = true;
  private readonly pending = new Set<Promise<void>>();
  private readonly incarnations = new Map<string, number>();

  /** Event ids of the deliveries the crashed processes had leased (in flight when they died). */
  readonly leasedAtCrash = new Set<string>();

  constructor(private readonly stack: Stack, private readonly log: (message: string) => void) {
    for (const proc of stack.procs) this.watch(proc);
  }

  /** The leases outlive the process by up to LEASE_MS: read them once the database answers. */
  private async noteLeases(pid: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      try {
        for (const d of await leasedBy(this.stack.db, pid)) this.leasedAtCrash.add(d.event_id);
        return;
      } catch {
        await sleep(250);
      }
    }
  }

  private watch(proc: Proc): void {
    const task: Promise<void> = proc.child.exited.catch(() => undefined).then(async () => {
      if (!this.running) return;
      const crash = { name: proc.name, at: Date.now(), reason: crashReason(proc.child), restartedAt: null as number | null };
      this.crashes.push(crash);
      const leases = this.noteLeases(proc.child.pid);
      this.log(`${proc.name} exited on its own (${JSON.stringify(proc.child.exit)}): ${crash.reason}; starting it again`);
      const base = proc.name.split('#')[0]!;
      const incarnation = (this.incarnations.get(base) ?? 1) + 1;
      this.incarnations.set(base, incarnation);
      while (this.running) {
        try {
          const next = await launch({
            name: `${base}#${incarnation}`, role: proc.role, dataDir: proc.dataDir, env: proc.env, port: proc.port, smtpPort: proc.smtpPort,
          });
          this.stack.procs.push(next);
          crash.restartedAt = next.upAt;
          if (this.running) this.watch(next);
          await leases;
          return;
        } catch {
          await sleep(1_000);
        }
      }
    }).finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  /** No more restarts; waits for one under way (its process is then in stack.procs, to be stopped). */
  async stop(): Promise<void> {
    this.running = false;
    const starting = [...this.pending];
    await Promise.race([Promise.allSettled(starting), sleep(70_000)]);
  }
}

/** b: the PostgreSQL server restarted (and, in default mode, stopped for a while) under load. Restarts the server for everyone on it. */
export function postgresRestart(options: ChaosOptions): Promise<ScenarioResult> {
  return postgresFault(options, 'restart');
}

/** b: every connection of deskhook's database cut (pg_terminate_backend), several times, under load. Touches no other database. */
export function postgresConnectionsCut(options: ChaosOptions): Promise<ScenarioResult> {
  return postgresFault(options, 'terminate');
}

async function postgresFault(options: ChaosOptions, fault: 'restart' | 'terminate'): Promise<ScenarioResult> {
  const id = fault === 'restart' ? 'b-postgres-restart' : 'b-postgres-connections-cut';
  const title = fault === 'restart'
    ? 'PostgreSQL restarted under load (mail over SMTP, tickets over the API, events delivered)'
    : 'every PostgreSQL connection of deskhook cut (pg_terminate_backend) under load';
  return scenario(id, title, options, async (run) => {
    const version = await postgresAvailable();
    if (!version) return `no PostgreSQL at ${redact(ADMIN_DATABASE_URL)}`;
    const cluster = pgClusterControl();
    if (fault === 'restart' && !cluster) return 'restarting PostgreSQL needs root, pg_ctlcluster on PATH and one cluster under /etc/postgresql (or DESKHOOK_CHAOS_PG_CLUSTER="15 main")';
    const p = plan(options.short).pg;
    const tag = randomTag();
    const receiver = await EventReceiver.start(20);
    run.defer(() => receiver.close());
    const stack = await postgresStack({ tag, receiverUrl: receiver.url, workers: 2, retryScheduleSeconds: [1, 1, 2, 2, 3, 3, 5, 5, 5, 5, 10, 10, 10, 10, 30, 30] });
    run.defer(() => abandonStack(stack));
    const supervisor = new Supervisor(stack, (m) => run.progress(m));
    run.defer(() => supervisor.stop());
    const probes = stack.procs.map((x) => new Probe(x.name, `${x.baseUrl}/readyz`, 100).start());
    run.defer(() => Promise.all(probes.map((pr) => pr.stop())));
    const mail = new MailLoad(tag, stack.smtp.smtpPort, stack.address, { deadlineMs: 300_000 });
    run.defer(async () => mail.close());
    const tickets = new TicketLoad(stack.api.baseUrl, stack.token, tag);
    mail.start(p.mailPerSecond);
    tickets.start(p.ticketsPerSecond);
    run.progress(`A (api), M (smtp), W1, W2 (workers) up on ${stack.databaseName}; ${p.mailPerSecond} emails/s and ${p.ticketsPerSecond} API tickets/s`);
    await sleep(p.warmupMs);

    const rounds: Array<Record<string, string | number>> = [];
    const firstFaultAt = Date.now();
    let worstReadyAfterBack = 0;
    let allBack = true;
    const kinds = fault === 'restart' ? p.rounds : Array.from({ length: p.terminations }, () => 'terminate' as const);
    let connectionsCut = 0;
    const notReadyAfterCuts: string[] = [];
    for (const [i, kind] of kinds.entries()) {
      let t0 = Date.now();
      let done: string;
      if (kind === 'terminate') {
        const cut = await adminQuery<{ n: number }>(
          `select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()) t`, [stack.databaseName],
        );
        done = `cut ${cut[0]?.n ?? 0} connections of ${stack.databaseName}`;
        connectionsCut += cut[0]?.n ?? 0;
      } else {
        // Everyone else on this server loses their connections too: wait a while for a quiet moment.
        const othersConnected = () => adminQuery<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() and datname is distinct from $1`, [stack.databaseName],
        ).then((r) => r[0]?.n ?? 0, () => -1);
        let others = await othersConnected();
        const quietDeadline = Date.now() + Number(process.env.DESKHOOK_CHAOS_PG_QUIET_WAIT_S ?? 120) * 1000;
        if (others > 0) run.progress(`${others} other client connections on the server: waiting up to ${sec(quietDeadline - Date.now())} for them to end`);
        while (others > 0 && Date.now() < quietDeadline) {
          await sleep(1_000);
          others = await othersConnected();
        }
        const ctl = (action: string) => execFileAsync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster!.version, cluster!.name, action]);
        t0 = Date.now();
        if (kind === 'restart') {
          await ctl('restart');
        } else {
          await ctl('stop');
          await sleep(p.outageMs);
          await ctl('start');
        }
        done = `PostgreSQL ${kind === 'restart' ? 'restarted' : `stopped for ${sec(p.outageMs)} and started`} in ${sec(Date.now() - t0)} (${others} other client connections were cut too)`;
      }
      const t1 = Date.now();
      if (kind !== 'terminate') run.progress(`round ${i + 1}: ${done}`);
      let back = true;
      try {
        await waitFor('every process ready and mail accepted again', 60_000, () => probes.every((pr) => pr.readySince(t1))
          && mail.records.some((r) => r.attempts.some((a) => a.at >= t1 && a.answer === '250')));
      } catch {
        back = false;
        allBack = false;
      }
      const tReady = Date.now();
      const readyAgain: string[] = [];
      for (const pr of probes) {
        const o = pr.outage(t0);
        if (o.downAt === null) {
          readyAgain.push(`${pr.name} no 503 seen`);
        } else if (o.upAt === null) {
          readyAgain.push(`${pr.name} never 200 again`);
          allBack = false;
        } else {
          readyAgain.push(`${pr.name} not ready for ${duration((o.upAt - o.downAt) / 1000)}, 200 again ${duration(Math.max(0, o.upAt - t1) / 1000)} after the database was back`);
          worstReadyAfterBack = Math.max(worstReadyAfterBack, o.upAt - t1);
        }
      }
      const firstAccept = Math.min(...mail.records.flatMap((r) => r.attempts.filter((a) => a.at >= t1 && a.answer === '250').map((a) => a.at + a.ms)));
      rounds.push({
        fault: done,
        'SMTP answers during the outage': tallyText(mail.answers(t0, tReady)),
        'API answers to POST /tickets during the outage': tallyText(tickets.statuses(t0, tReady)),
        '/readyz 200 again after the database was back': readyAgain.join(', '),
        'first email accepted after the database was back': Number.isFinite(firstAccept) ? duration(Math.max(0, firstAccept - t1) / 1000) : 'never',
        'back within 60 s': back ? 'yes' : 'no',
      });
      if (kind === 'terminate') {
        const hit = readyAgain.filter((r) => !r.endsWith('no 503 seen'));
        if (hit.length) notReadyAfterCuts.push(`cut ${i + 1}: ${hit.join(', ')}`);
        run.progress(`cut ${i + 1}: ${done}; ${hit.length ? hit.join(', ') : 'every process stayed ready'}`);
        await sleep(i < kinds.length - 1 ? p.terminateEveryMs : p.cooldownMs);
      } else {
        run.progress(`round ${i + 1}: ready again ${readyAgain.join(', ')}; SMTP ${tallyText(mail.answers(t0, tReady))}`);
        await sleep(p.cooldownMs);
      }
    }
    const lastFaultDone = Date.now();
    await Promise.all([mail.stop(), tickets.stop()]);
    await mail.drain();
    run.progress(`load stopped; waiting for ingestion and deliveries (leases up to ${sec(INBOUND_LEASE_MS)})`);
    const settleStarted = Date.now();
    const s = await settle(stack, mail.records, receiver, INBOUND_LEASE_MS + LEASE_MS + 60_000);

    const retried = await stack.db.db.selectFrom('inbound_messages').select(['attempts', 'received_at', 'processed_at']).where('attempts', '>', 1).execute();
    const retriedDelay = Math.max(0, ...retried.map((r) => ms(r.processed_at) - ms(r.received_at)));
    const unrecorded = unrecordedDeliveries(stack.procs);
    const unrecordedEvents = new Set((unrecorded.size
      ? await stack.db.db.selectFrom('event_deliveries').select(['id', 'event_id']).where('id', 'in', [...unrecorded]).execute()
      : []).map((d) => d.event_id));
    // A crashed worker's deliveries in flight are delivered again too.
    for (const id of supervisor.leasedAtCrash) unrecordedEvents.add(id);
    const crashes = supervisor.crashes.map((c) => `${c.name} ${sec(c.at - firstFaultAt)} after the first fault: ${c.reason}; up again ${c.restartedAt === null ? 'never' : `${sec(c.restartedAt - c.at)} later`}`);
    run.check('no process crashed', crashes.length === 0,
      `${crashes.length} crashes (${supervisor.crashes.map((c) => c.name).join(', ')}), each an unhandled error; details in the figures`);
    run.check('no SMTP answer was a 5xx (mail is only ever deferred)', Object.keys(s.emails.answers).every((a) => !a.startsWith('5')), tallyText(s.emails.answers));
    checkNothingLost(run, s, unrecordedEvents.size, 'attempts the workers could not record, and deliveries crashed workers had leased');
    const stray = receiver.duplicatedIds().filter((id) => !unrecordedEvents.has(id));
    run.check('every duplicate was an attempt a worker could not record or a crashed worker\'s lease', stray.length === 0, stray.join(', '));
    run.check('every process answered /readyz 200 within 10 s of the database being back', allBack && worstReadyAfterBack <= 10_000, duration(worstReadyAfterBack / 1000));
    run.recovery = { what: 'all processes ready after the database was back', seconds: worstReadyAfterBack / 1000 };
    const api = tickets.records;
    Object.assign(run.figures, {
      'processes': stack.procs.map((x) => `${x.name} (${x.role})`).join(', '),
      'PostgreSQL': `${version}${cluster ? ` (cluster ${cluster.version}/${cluster.name})` : ''}`,
      'load': `${p.mailPerSecond} emails/s over SMTP, ${p.ticketsPerSecond} tickets/s over the API, ${sec(p.warmupMs)} before the first fault, ${sec(p.cooldownMs)} after each`,
      'API tickets': `${api.filter((r) => r.status === '201').length} created; other answers: ${tallyText(tally(api.filter((r) => r.status !== '201').map((r) => r.status)))}`,
      'SMTP answers (all attempts)': tallyText(s.emails.answers),
      'attempts not recorded (worker logs)': unrecorded.size,
      'deliveries leased by crashed workers': supervisor.leasedAtCrash.size,
      'everything ingested and delivered after the load stopped': sec(s.settledAt - settleStarted),
      'emails ingested only on a later attempt (after the 180 s batch lease)': retried.length
        ? `${retried.length}; the longest from 250 to ticket: ${sec(retriedDelay)}` : '0',
      'processes that crashed (started again as a supervisor would)': crashes.join('; ') || 'none',
      'errors logged': tallyText(loggedErrors(stack.procs)),
    });
    if (fault === 'terminate') {
      Object.assign(run.figures, {
        'connections cut': `${kinds.length} times, ${sec(p.terminateEveryMs)} apart (and until every process was ready again): ${connectionsCut} connections in all`,
        'SMTP answers from the first cut to the last recovery': tallyText(mail.answers(firstFaultAt, lastFaultDone)),
        'API answers to POST /tickets meanwhile': tallyText(tickets.statuses(firstFaultAt, lastFaultDone)),
        '/readyz other than 200 after a cut': notReadyAfterCuts.join('; ') || 'never',
      });
    } else {
      for (const [i, r] of rounds.entries()) for (const [k, v] of Object.entries(r)) run.figures[`round ${i + 1}: ${k}`] = v;
    }
    await supervisor.stop();
    await Promise.all(probes.map((pr) => pr.stop()));
    checkCleanStop(run, await stopStack(stack));
  });
}

// ---------------------------------------------------------------------------------------------
// c. The event receiver down, then back
// ---------------------------------------------------------------------------------------------

export async function receiverDown(options: ChaosOptions): Promise<ScenarioResult> {
  return scenario('c-receiver-down', 'event receiver down (connection refused, then 503) for a while, then back', options, async (run) => {
    const p = plan(options.short).receiver;
    const tag = randomTag();
    const receiver = await EventReceiver.start(10);
    run.defer(() => receiver.close());
    const stack = await sqliteStack({ tag, receiverUrl: receiver.url, retryScheduleSeconds: p.retryScheduleSeconds });
    run.defer(() => abandonStack(stack));
    const mail = new MailLoad(tag, stack.smtp.smtpPort, stack.address);
    run.defer(async () => mail.close());
    const tickets = new TicketLoad(stack.api.baseUrl, stack.token, tag);
    mail.start(p.mailPerSecond);
    tickets.start(p.ticketsPerSecond);
    await sleep(p.beforeMs);

    const downAt = Date.now();
    await receiver.goDown();
    run.progress(`receiver down (refusing connections) for ${sec(p.refuseMs)}`);
    await sleep(p.refuseMs);
    const unavailableAt = Date.now();
    await receiver.comeBack('unavailable');
    run.progress(`receiver answering 503 for ${sec(p.unavailableMs)}`);
    await sleep(p.unavailableMs);
    const pendingAtReturn = await pendingDeliveries(stack.db);
    const backAt = Date.now();
    await receiver.comeBack('up');
    run.progress(`receiver back with ${pendingAtReturn} deliveries pending`);
    await sleep(p.afterMs);
    await Promise.all([mail.stop(), tickets.stop()]);
    await mail.drain();
    const s = await settle(stack, mail.records, receiver, 120_000);

    // Events written before the receiver came back: when did each first get through?
    const events = await stack.db.db.selectFrom('events').select(['id', 'created_at']).where('type', '=', 'TicketCreated').execute();
    const first = receiver.firstProcessed();
    const waiting = events.filter((e) => ms(e.created_at) < backAt);
    const drainMs = Math.max(0, ...waiting.map((e) => (first.get(e.id) ?? Infinity) - backAt));
    const attempts = await stack.db.db.selectFrom('event_delivery_attempts').select(['outcome']).execute();
    const deliveries = await stack.db.db.selectFrom('event_deliveries').select(['attempts']).execute();
    const hook = await call(stack.api.baseUrl, 'GET', `/api/v1/event-hooks/${stack.hookId}`, { token: stack.token });
    const maxDelay = Math.max(...p.retryScheduleSeconds) * 1000 * 1.2;

    checkNothingLost(run, s, receiver.cutOff, 'requests processed whose answer was cut off when it went down');
    run.check('nothing was processed while the receiver was down or answering 503',
      !receiver.receipts.some((r) => r.processed && r.at >= downAt && r.at < backAt));
    run.check(`the backlog was delivered within ${sec(maxDelay + 5_000)} of the receiver's return (longest retry delay + 5 s)`, drainMs <= maxDelay + 5_000, sec(drainMs));
    run.check('the hook stayed enabled', hook.json?.enabled === true, JSON.stringify(hook.json?.disabledReason ?? null));
    run.recovery = { what: 'backlog delivered after the receiver returned', seconds: drainMs / 1000 };
    Object.assign(run.figures, {
      'load': `${p.ticketsPerSecond} API tickets/s and ${p.mailPerSecond} emails/s throughout`,
      'outage': `${sec(unavailableAt - downAt)} connection refused, then ${sec(backAt - unavailableAt)} 503`,
      'retry schedule of the hook (s)': p.retryScheduleSeconds.join(', '),
      'deliveries pending when the receiver returned': pendingAtReturn,
      'events written before the return, all received after': `${sec(drainMs)} (${waiting.length} events)`,
      'attempts by outcome': tallyText(tally(attempts.map((a) => a.outcome))),
      'attempts per delivery': `max ${Math.max(0, ...deliveries.map((d) => d.attempts))}, mean ${(attempts.length / Math.max(1, deliveries.length)).toFixed(2)}`,
      '503 answers given': receiver.receipts.filter((r) => r.answered === 503).length,
      'API tickets created': tickets.records.filter((r) => r.status === '201').length,
      'errors logged': tallyText(loggedErrors(stack.procs)),
    });
    checkCleanStop(run, await stopStack(stack));
  });
}

// ---------------------------------------------------------------------------------------------
// d. SMTP clients dropping mid-DATA
// ---------------------------------------------------------------------------------------------

/** A hand-driven SMTP client: one reply at a time, and the connection dropped wherever wanted. */
class RawSmtp {
  private buffer = '';
  private readonly replies: Array<{ code: number; text: string }> = [];
  private waiter: (() => void) | null = null;
  private closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let lines: string[] = [];
      for (;;) {
        const end = this.buffer.indexOf('\r\n');
        if (end < 0) break;
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        lines.push(line);
        if (/^\d{3}(?: |$)/.test(line)) {
          this.replies.push({ code: Number(line.slice(0, 3)), text: lines.join('\n') });
          lines = [];
        }
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  static connect(port: number): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new RawSmtp(socket)));
      socket.once('error', reject);
    });
  }

  async reply(timeoutMs = 10_000): Promise<{ code: number; text: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const next = this.replies.shift();
      if (next) return next;
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > deadline) throw new Error('no reply');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 200);
      });
    }
  }

  async command(line: string, expect: number): Promise<void> {
    this.socket.write(`${line}\r\n`);
    const r = await this.reply();
    if (r.code !== expect) throw new Error(`${line.split(':')[0]} answered ${r.text}`);
  }

  write(data: string): Promise<void> {
    return new Promise((resolve) => this.socket.write(data, () => resolve()));
  }

  drop(how: 'end' | 'destroy' | 'reset'): void {
    if (how === 'end') this.socket.end();
    else if (how === 'reset') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }
}

function rawMessage(to: string, kind: string, tag: string, i: number): string {
  const lines = Array.from({ length: 60 + (i % 40) }, (_, k) => `Zeile ${k}: mein Zählerstand ist ${100_000 + i * 100 + k}, bitte den Abschlag anpassen.`);
  return [
    `From: Kunde <${kind}-${tag}-${i}@customer.example>`, `To: <${to}>`, `Subject: ${kind} ${tag} ${i}`,
    `Message-ID: <${kind}-${tag}-${i}@chaos.example>`, `Date: ${new Date().toUTCString()}`, 'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', ...lines,
  ].join('\r\n');
}

/** Opens a session up to DATA, sends `cut` bytes of the message (with its terminator), and drops the connection. */
async function sessionDroppedAt(port: number, to: string, message: string, cut: number, how: 'end' | 'destroy' | 'reset'): Promise<void> {
  const s = await RawSmtp.connect(port);
  try {
    const banner = await s.reply();
    if (banner.code !== 220) throw new Error(`banner ${banner.text}`);
    await s.command('EHLO chaos.example', 250);
    await s.command('MAIL FROM:<dropper@customer.example>', 250);
    await s.command(`RCPT TO:<${to}>`, 250);
    await s.command('DATA', 354);
    const payload = Buffer.from(`${message}\r\n.\r\n`, 'utf8');
    await s.write(payload.subarray(0, cut).toString('latin1'));
  } finally {
    s.drop(how);
  }
}

export async function smtpDrops(options: ChaosOptions): Promise<ScenarioResult> {
  return scenario('d-smtp-drops', 'SMTP clients dropping the connection mid-DATA', options, async (run) => {
    const p = plan(options.short).smtp;
    const tag = randomTag();
    const receiver = await EventReceiver.start(10);
    run.defer(() => receiver.close());
    const stack = await sqliteStack({ tag, receiverUrl: receiver.url });
    run.defer(() => abandonStack(stack));
    const server = stack.smtp;
    const health = new Probe('healthz', `${server.baseUrl}/healthz`, 50).start();
    run.defer(() => health.stop());
    await sleep(500);
    const mail = new MailLoad(tag, server.smtpPort, stack.address);
    run.defer(async () => mail.close());
    const began = Date.now();
    mail.start(p.goodPerSecond, p.good);

    // Partial sessions, `concurrency` at a time: cut anywhere in the message or its terminator,
    // with the connection closed (FIN), destroyed or reset (RST).
    const hows = ['end', 'destroy', 'reset'] as const;
    let next = 0;
    let reachedData = 0;
    const failures: string[] = [];
    await Promise.all(Array.from({ length: p.concurrency }, async () => {
      while (next < p.partial) {
        const i = next++;
        const message = rawMessage(stack.address, 'partial', tag, i);
        const full = Buffer.byteLength(`${message}\r\n.\r\n`);
        // The first ones end exactly in the terminator: "\r\n.\r", "\r\n.", "\r\n", and right after DATA.
        const edge = [full - 1, full - 2, full - 3, 0];
        const cut = i < edge.length ? edge[i]! : 1 + Math.floor(Math.random() * (full - 1));
        try {
          await sessionDroppedAt(server.smtpPort, stack.address, message, cut, hows[i % hows.length]!);
          reachedData++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    }));
    const partialDoneAt = Date.now();
    run.progress(`${reachedData} sessions dropped mid-DATA; ${mail.records.length} good messages so far`);

    // Dropped right after the terminator, before the 250 could be read: the sender cannot know,
    // so it sends the message again (the same Message-ID).
    for (let i = 0; i < p.droppedAfterData; i++) {
      const message = rawMessage(stack.address, 'dropped', tag, i);
      const full = Buffer.byteLength(`${message}\r\n.\r\n`);
      try {
        await sessionDroppedAt(server.smtpPort, stack.address, message, full, 'destroy');
      } catch (err) {
        failures.push((err as Error).message);
      }
      // A real client sends the same bytes again; deskhook recognises the redelivery by the
      // Message-ID and the content (a different message reusing the id would be kept).
      void mail.send({ messageId: `dropped-${tag}-${i}@chaos.example`, subject: `dropped ${tag} ${i}`, raw: `${message}\r\n` });
    }
    await mail.generated();
    // Afterwards: still serving.
    await mail.sendBatch(10, 2);
    await mail.drain();
    const s = await settle(stack, mail.records, receiver, 60_000);
    // Every client is done: the server should hold no SMTP connection any more.
    await sleep(1_000);
    const smtpOpenAfter = openConnections(server.smtpPort);

    const inbound = await stack.db.db.selectFrom('inbound_messages').select(['id', 'raw']).execute();
    const partialStored = inbound.filter((r) => Buffer.from(r.raw).includes(`partial-${tag}-`)).length;
    const partialTickets = (await stack.db.db.selectFrom('tickets').select('id').where('subject', 'like', `partial ${tag} %`).execute()).length;
    const droppedStored = inbound.filter((r) => Buffer.from(r.raw).includes(`dropped-${tag}-`)).length;
    const ready = await call(server.baseUrl, 'GET', '/readyz');
    const goodLatencies = mail.records.flatMap((r) => r.attempts.filter((a) => a.answer === '250' && a.at >= began && a.at < partialDoneAt).map((a) => a.ms));

    run.check('every partial session reached DATA before it was dropped', reachedData === p.partial, failures.slice(0, 3).join('; '));
    run.check('no partial message was stored', partialStored === 0, `${partialStored}`);
    run.check('no partial message became a ticket', partialTickets === 0, `${partialTickets}`);
    checkNothingLost(run, s, 0, 'none: no delivery is interrupted here');
    run.check('a message dropped after its terminator and sent again is one ticket', s.emails.ticketDuplicates === 0);
    run.check('/readyz is 200 afterwards', ready.status === 200, `${ready.status}`);
    run.check('/healthz answered throughout', health.failures(began) === 0, `${health.failures(began)} failures`);
    run.check('the server holds no SMTP connection once the clients are gone', smtpOpenAfter === null || smtpOpenAfter === 0, `${smtpOpenAfter} still open`);
    run.recovery = { what: '/healthz p99 during the drops', seconds: (percentile(health.latencies(began, partialDoneAt), 0.99) ?? 0) / 1000 };
    Object.assign(run.figures, {
      'partial sessions': `${p.partial}, ${p.concurrency} at a time, cut at a random byte of the message or its terminator (the first four exactly before its last "\\n", its last "\\r\\n", its "." and at 0 bytes), closed by FIN, destroy or RST in turn`,
      'partial messages stored / tickets': `${partialStored} / ${partialTickets}`,
      'dropped after the terminator, then sent again': `${p.droppedAfterData}: stored by the dropped session ${droppedStored - p.droppedAfterData} times (recognised as duplicates: ${s.emails.storedTwice}), tickets: 1 each`,
      'good messages meanwhile': `${mail.records.length} (${s.emails.accepted} accepted), SMTP latency ${latencySummary(goodLatencies)}`,
      '/healthz during the drops': latencySummary(health.latencies(began, partialDoneAt)),
      'SMTP connections the server still held 1 s after the last client': smtpOpenAfter ?? 'n/a (no /proc/net/tcp)',
      'errors logged': tallyText(loggedErrors(stack.procs)),
    });
    await health.stop();
    checkCleanStop(run, await stopStack(stack));
  });
}

// ---------------------------------------------------------------------------------------------
// e. The ERP failing and slow
// ---------------------------------------------------------------------------------------------

/** The team's ERP behind apiCall executors: answers, fails with 500, or answers too late. */
class FakeErp {
  mode: 'ok' | 'failing' | 'slow' = 'ok';
  slowMs = 10_000;
  readonly calls: Array<{ op: string; at: number; mode: string }> = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(private readonly server: Server, readonly base: string) {}

  static async start(): Promise<FakeErp> {
    let erp: FakeErp | null = null;
    const server = createServer((req, res) => {
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
      req.on('end', () => erp!.answer((req.url ?? '/').slice(1), body, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    erp = new FakeErp(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`);
    return erp;
  }

  private answer(op: string, body: string, res: ServerResponse): void {
    const mode = this.mode;
    this.calls.push({ op, at: Date.now(), mode });
    if (mode === 'failing') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('ERP: internal error');
      return;
    }
    const send = () => {
      if (res.destroyed) return;
      let input: Record<string, unknown> = {};
      try {
        input = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // empty
      }
      if (op === 'contractById') {
        const id = String(input.contractId ?? '');
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          id, customerId: `K-${id}`, business: false, firstname: 'Erika', lastname: 'Mustermann', email: `${id.toLowerCase()}@customer.example`, zip: '10115', tariff: 'Öko Strom 24',
        }));
      } else if (op === 'customerById') {
        res.writeHead(404).end();
      } else if (op === 'searchCustomers') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('null');
      }
    };
    if (mode === 'slow') {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        send();
      }, this.slowMs);
      this.timers.add(timer);
    } else send();
  }

  callsBetween(from: number, to: number, op?: string): number {
    return this.calls.filter((c) => c.at >= from && c.at < to && (!op || c.op === op)).length;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The longest event-loop delay the process measured since the last call (prom-client's
 * monitorEventLoopDelay histogram, reset on every scrape of /metrics), in ms; null when unread.
 * It tells a stall of the server from one of the machine or of this harness.
 */
async function eventLoopDelayMaxMs(baseUrl: string): Promise<number | null> {
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const match = /^deskhook_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await res.text());
    return match ? Number(match[1]) * 1000 : null;
  } catch {
    return null;
  }
}

interface Lookup {
  phase: string;
  kind: 'cached' | 'uncached';
  id: string;
  at: number;
  status: number;
  cache: string | null;
  code: string | null;
  ms: number;
}

export async function erpFailing(options: ChaosOptions): Promise<ScenarioResult> {
  return scenario('e-erp-failing', 'the ERP failing (500) and slow (past the timeout) in live mode', options, async (run) => {
    const p = plan(options.short).erp;
    const slack = plan(options.short).latencySlack;
    const tag = randomTag();
    const receiver = await EventReceiver.start(10);
    run.defer(() => receiver.close());
    const erp = await FakeErp.start();
    run.defer(() => erp.close());
    erp.slowMs = p.timeoutMs * 3;
    const stack = await sqliteStack({ tag, receiverUrl: receiver.url });
    run.defer(() => abandonStack(stack));
    const server = stack.api;
    const executor = (op: string) => ({ type: 'apiCall', url: `${erp.base}/${op}` });
    const settings = await call(server.baseUrl, 'PUT', '/api/v1/erp', {
      token: stack.token,
      body: {
        mode: 'live',
        executors: { contractById: executor('contractById'), customerById: executor('customerById'), searchContracts: executor('searchContracts'), searchCustomers: executor('searchCustomers') },
        // Short, so that what was cached is expired (servable only as stale) when the ERP fails.
        cacheTtlSeconds: { contractById: 1, customerById: 1, searchContracts: 1, searchCustomers: 1, notFound: 1 },
        timeoutMs: p.timeoutMs,
      },
    });
    expectStatus(settings, 200, 'PUT /erp');
    // Saving the settings clears the cache, and once more SETTINGS_PROPAGATION_MS (6 s) later for
    // the other processes' sake (src/app/erp/erp-admin.ts): what is cached before that is dropped.
    await sleep(6_500);

    const lookup = async (phase: string, kind: 'cached' | 'uncached', id: string): Promise<Lookup> => {
      const at = Date.now();
      try {
        const res = await call(server.baseUrl, 'GET', `/api/v1/contracts/${encodeURIComponent(id)}`, { token: stack.token, timeoutMs: 30_000 });
        return { phase, kind, id, at, status: res.status, cache: res.headers.get('x-deskhook-cache'), code: res.json?.code ?? null, ms: res.ms };
      } catch {
        return { phase, kind, id, at, status: 0, cache: null, code: null, ms: Date.now() - at };
      }
    };
    const cached = Array.from({ length: p.cached }, (_, i) => `V-${tag}-C${i}`);
    const lookups: Lookup[] = [];
    for (const id of cached) lookups.push(await lookup('warm', 'cached', id));
    run.check('the ERP answered every lookup while healthy', lookups.every((l) => l.status === 200 && l.cache === 'miss'),
      tallyText(tally(lookups.map((l) => `${l.status} ${l.cache}`))));
    await sleep(1_200); // past the 1 s TTL: from now on the cached answers are expired

    const health = new Probe('healthz', `${server.baseUrl}/healthz`, 50).start();
    run.defer(() => health.stop());
    const ready = new Probe('readyz', `${server.baseUrl}/readyz`, 250).start();
    run.defer(() => ready.stop());
    const mail = new MailLoad(tag, server.smtpPort, stack.address);
    run.defer(async () => mail.close());
    mail.start(p.emails / ((2 * p.phaseMs) / 1000), p.emails);

    const phases: Record<string, { from: number; to: number }> = {};
    await eventLoopDelayMaxMs(server.baseUrl); // resets the server's own measurement
    let uncachedN = 0;
    for (const phase of ['failing', 'slow'] as const) {
      erp.mode = phase;
      const from = Date.now();
      const end = from + p.phaseMs;
      run.progress(`ERP ${phase === 'failing' ? 'answering 500' : `answering after ${sec(erp.slowMs)} (timeout ${sec(p.timeoutMs)})`} for ${sec(p.phaseMs)}`);
      await Promise.all(Array.from({ length: p.clients }, async (_, c) => {
        let k = 0;
        while (Date.now() < end) {
          if (c % 2 === 0) {
            lookups.push(await lookup(phase, 'cached', cached[(c + k++) % cached.length]!));
          } else if (phase === 'slow') {
            // A few ids, asked for by several agents at once: one ERP call each (single flight).
            lookups.push(await lookup(phase, 'uncached', `V-${tag}-S${k++ % 2}`));
          } else {
            lookups.push(await lookup(phase, 'uncached', `V-${tag}-U${uncachedN++}`));
          }
        }
      }));
      phases[phase] = { from, to: Date.now() };
    }
    const serverLoopMaxMs = await eventLoopDelayMaxMs(server.baseUrl);

    erp.mode = 'ok';
    const okAt = Date.now();
    let recoveredMs: number | null = null;
    while (Date.now() - okAt < 15_000) {
      const l = await lookup('recovery', 'cached', cached[0]!);
      lookups.push(l);
      if (l.status === 200 && l.cache !== 'stale') {
        recoveredMs = Date.now() - okAt;
        break;
      }
      await sleep(50);
    }
    const after: Lookup[] = [];
    for (const id of [...cached, `V-${tag}-U0`, `V-${tag}-S0`]) after.push(await lookup('after', 'cached', id));
    await mail.generated();
    await mail.drain();
    const s = await settle(stack, mail.records, receiver, 60_000);
    await Promise.all([health.stop(), ready.stop()]);

    const of = (phase: string, kind: string) => lookups.filter((l) => l.phase === phase && l.kind === kind);
    const bound = p.timeoutMs + 1_000 * slack;
    const failingFrom = phases.failing!.from;
    const slowTo = phases.slow!.to;
    const healthLat = health.latencies(failingFrom, slowTo);
    const describe = (ls: Lookup[]) => `${ls.length} lookups: ${tallyText(tally(ls.map((l) => `${l.status} ${l.status === 200 ? l.cache : l.code}`)))}; ${latencySummary(ls.map((l) => l.ms))}`;

    for (const phase of ['failing', 'slow']) {
      const c = of(phase, 'cached');
      const u = of(phase, 'uncached');
      run.check(`ERP ${phase}: every cached contract served, marked stale`, c.length > 0 && c.every((l) => l.status === 200 && l.cache === 'stale'), describe(c));
      run.check(`ERP ${phase}: every uncached contract answered 502 erp_failed`, u.length > 0 && u.every((l) => l.status === 502 && l.code === 'erp_failed'), describe(u));
      run.check(`ERP ${phase}: every lookup answered within the ERP timeout + 1 s (${sec(bound)})`, [...c, ...u].every((l) => l.ms <= bound),
        `max ${Math.round(Math.max(...[...c, ...u].map((l) => l.ms)))} ms`);
    }
    const failFast = of('failing', 'uncached').map((l) => l.ms);
    run.check(`ERP failing: 502s come quickly (p99 under ${500 * slack} ms)`, (percentile(failFast, 0.99) ?? 0) < 500 * slack, latencySummary(failFast));
    run.check(`/healthz answered throughout, p99 under ${250 * slack} ms`, health.failures(failingFrom, slowTo) === 0 && (percentile(healthLat, 0.99) ?? 0) < 250 * slack, latencySummary(healthLat));
    run.check('/readyz answered 200 throughout', ready.failures(failingFrom, slowTo) === 0);
    run.check('fresh answers within 2 s of the ERP recovering', recoveredMs !== null && recoveredMs <= 2_000, sec(recoveredMs));
    run.check('after recovery every contract answers 200, not stale', after.every((l) => l.status === 200 && l.cache !== 'stale'), tallyText(tally(after.map((l) => `${l.status} ${l.cache}`))));
    checkNothingLost(run, s, 0, 'none: the receiver is not disturbed here');
    run.recovery = { what: 'fresh answers after the ERP recovered', seconds: recoveredMs === null ? null : recoveredMs / 1000 };

    const slowUncached = of('slow', 'uncached');
    const stats = await call(server.baseUrl, 'GET', '/api/v1/erp/stats', { token: stack.token });
    Object.assign(run.figures, {
      'settings': `live, apiCall executors, timeoutMs ${p.timeoutMs}, every TTL 1 s; ${p.clients} agents looking up contracts (half cached ids, half not)`,
      'ERP failing (500), cached ids': describe(of('failing', 'cached')),
      'ERP failing (500), uncached ids': describe(of('failing', 'uncached')),
      [`ERP slow (answers after ${sec(erp.slowMs)}), cached ids`]: describe(of('slow', 'cached')),
      [`ERP slow (answers after ${sec(erp.slowMs)}), uncached ids`]: `${describe(slowUncached)}; ${erp.callsBetween(phases.slow!.from, phases.slow!.to, 'contractById')} contractById calls for ${of('slow', 'cached').length + slowUncached.length} lookups`,
      '/healthz during the ERP failure': latencySummary(healthLat),
      'longest event-loop delay of the server during the ERP failure': serverLoopMaxMs === null ? 'not measured' : `${Math.round(serverLoopMaxMs)} ms`,
      'first fresh answer after the ERP recovered': duration(recoveredMs === null ? null : recoveredMs / 1000),
      'emails during the failure': `${s.emails.accepted} accepted, all tickets (recognition could not reach the ERP)`,
      'ERP stats of the process': stats.status === 200 ? JSON.stringify({ ...stats.json, local: undefined }) : `${stats.status}`,
      'errors logged': tallyText(loggedErrors(stack.procs)),
    });
    checkCleanStop(run, await stopStack(stack));
  });
}

// ---------------------------------------------------------------------------------------------
// The whole run: summary and docs/reliability.md
// ---------------------------------------------------------------------------------------------

export interface ScenarioEntry {
  letter: string;
  id: string;
  run(options: ChaosOptions): Promise<ScenarioResult>;
}

export const SCENARIOS: readonly ScenarioEntry[] = [
  { letter: 'a', id: 'a-sqlite', run: (o) => killMidDelivery(o, 'sqlite') },
  { letter: 'a', id: 'a-postgres', run: (o) => killMidDelivery(o, 'postgres') },
  { letter: 'b', id: 'b-postgres-connections-cut', run: postgresConnectionsCut },
  { letter: 'b', id: 'b-postgres-restart', run: postgresRestart },
  { letter: 'c', id: 'c-receiver-down', run: receiverDown },
  { letter: 'd', id: 'd-smtp-drops', run: smtpDrops },
  { letter: 'e', id: 'e-erp-failing', run: erpFailing },
];

function summaryRows(results: readonly ScenarioResult[]): string[][] {
  return results.map((r) => {
    if (r.skipped) return [r.id, '–', '–', '–', '–', `${r.seconds.toFixed(0)} s`, `skipped: ${r.skipped}`];
    return [
      r.id,
      r.emails ? `${r.emails.accepted} / ${r.emails.lost}` : '–',
      r.events ? `${r.events.events} / ${r.events.lost}` : '–',
      r.events ? `${r.events.duplicates}${r.duplicateBound ? ` (≤ ${r.duplicateBound.value})` : ''}` : '–',
      r.recovery.what ? `${duration(r.recovery.seconds)}: ${r.recovery.what}` : '–',
      `${r.seconds.toFixed(0)} s`,
      r.error ? 'ERROR' : r.ok ? 'pass' : 'FAIL',
    ];
  });
}

const HEADER = ['scenario', 'emails accepted / lost', 'events / lost', 'duplicates (bound)', 'ready again / recovered', 'took', 'result'];

function textTable(rows: string[][]): string {
  const all = [HEADER, ...rows];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r, n) => {
    const line = r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    return n === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

export async function machineNote(): Promise<string> {
  const cpu = cpus();
  const pgVersion = await postgresAvailable();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GB RAM, Linux ${release()}, Node ${process.version}`
    + `, PostgreSQL ${pgVersion ?? 'not available'}; client, receivers and deskhook share the machine`;
}

const DOC = join(REPO_ROOT, 'docs', 'reliability.md');
const START = '<!-- chaos:start -->';
const END = '<!-- chaos:end -->';

function figuresSection(results: readonly ScenarioResult[], meta: { startedAt: Date; seconds: number; machine: string; short: boolean; argv: string }): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const out: string[] = [];
  out.push(`Last run: **${meta.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC**, \`${meta.argv}\` (${meta.short ? 'short' : 'default'} durations), ${Math.round(meta.seconds)} s in all.`);
  out.push(`Machine: ${meta.machine}.`, '');
  out.push(`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`);
  for (const row of summaryRows(results)) out.push(`| ${row.map(esc).join(' | ')} |`);
  for (const r of results) {
    out.push('', `### ${r.id}: ${r.title}`, '');
    if (r.skipped) {
      out.push(`Skipped: ${r.skipped}.`);
      continue;
    }
    out.push(`\`${r.line}\``, '');
    if (r.error) out.push(`- **error**: ${r.error.split('\n')[0]}`);
    if (r.emails) {
      out.push(`- emails: ${r.emails.sent} sent, ${r.emails.accepted} accepted (250), ${r.emails.lost} lost, ${r.emails.ticketDuplicates} ticket duplicates, `
        + `${r.emails.storedTwice} stored twice and recognised as duplicates, ${r.emails.rejected} rejected (5xx), ${r.emails.notAccepted} given up`);
    }
    if (r.events) {
      out.push(`- events: ${r.events.tickets} tickets, ${r.events.events} TicketCreated, ${r.events.lost} lost, ${r.events.processed} processed by the receiver, `
        + `${r.events.duplicates} duplicates${r.duplicateBound ? ` (bound ${r.duplicateBound.value}: ${r.duplicateBound.what})` : ''}, ${r.events.deadDeliveries} deliveries failed or cancelled`);
    }
    for (const [k, v] of Object.entries(r.figures)) out.push(`- ${k}: ${String(v)}`);
    const failed = r.checks.filter((c) => !c.ok);
    out.push(`- checks: ${r.checks.length - failed.length} of ${r.checks.length} passed${failed.length ? `; failed: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}` : ''}`);
  }
  return out.join('\n');
}

/** Rewrites the figures between the markers of docs/reliability.md; the prose around them stays. */
export function writeReliabilityDoc(section: string): void {
  const doc = existsSync(DOC)
    ? readFileSync(DOC, 'utf8')
    : `# Reliability under faults\n\nFigures of \`npm run chaos\` (scripts/chaos.ts).\n\n## Figures of the last run\n\n${START}\n${END}\n`;
  const [before, rest] = doc.split(START);
  if (rest === undefined) throw new Error(`${DOC} has no ${START} marker`);
  const after = rest.split(END)[1] ?? '\n';
  writeFileSync(DOC, `${before}${START}\n${section}\n${END}${after}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] ?? '' : args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? null;
  };
  const short = args.includes('--short');
  const only = value('--only')?.split(',').map((s) => s.trim()).filter(Boolean) ?? null;
  let chosen = only ? SCENARIOS.filter((s) => only.includes(s.letter) || only.includes(s.id)) : [...SCENARIOS];
  if (args.includes('--no-pg-restart')) chosen = chosen.filter((s) => s.id !== 'b-postgres-restart');
  if (!chosen.length) {
    process.stderr.write(`no such scenario; known: ${SCENARIOS.map((s) => `${s.letter} (${s.id})`).join(', ')}\n`);
    process.exit(2);
  }
  const writeDocs = !args.includes('--no-docs') && (args.includes('--docs') || (!short && !only && !args.includes('--no-pg-restart')));
  // The deskhook processes run in process groups of their own: Ctrl-C must not leave them behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void killAll().finally(() => process.exit(130));
    });
  }

  const startedAt = new Date();
  const machine = await machineNote();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`deskhook chaos: ${chosen.map((s) => s.id).join(', ')}; ${short ? 'short' : 'default'} durations; ${machine}`);
  const results: ScenarioResult[] = [];
  for (const s of chosen) results.push(await s.run({ short, log }));
  await killAll();
  removeTempDirs();

  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  log('');
  log(textTable(summaryRows(results)));
  log(`\n${Math.round(seconds)} s in all`);
  if (writeDocs) {
    writeReliabilityDoc(figuresSection(results, { startedAt, seconds, machine, short, argv: ['npm run chaos', ...(args.length ? ['--', ...args] : [])].join(' ') }));
    log(`figures written to ${DOC}`);
  }
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
