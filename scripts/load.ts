/**
 * `npm run load [-- --seconds 60 --backend sqlite|postgres|both …]`: a mixed load against the real
 * product. For each backend it starts `deskhook serve` as child processes (SQLite: the embedded
 * role `all` on a temporary data directory; PostgreSQL: a fresh database, created and dropped, with
 * role `all` or `--pg-roles split` for separate api, worker and smtp processes), points an email
 * account's synchronous webhooks (ticketUpdates, newEmails) and an event hook for every ticket event
 * at local receivers, seeds tickets, and then for `--seconds` runs, at the same time:
 *
 * - `--agents` agents, each a closed loop without think time: ticket lists with filters, single
 *   tickets, activity logs, PATCHes (priority, tags, status, assignment) and internal notes;
 * - an SMTP client sending `--mail-rate` inbound emails per second: new tickets, replies by ticket
 *   token and replies by In-Reply-To.
 *
 * Every request's latency and outcome are recorded per operation. Afterwards it waits until the
 * inbound queue and the event deliveries have drained, checks that every accepted email became a
 * ticket or a reply on the right ticket, that every event of the hook's types reached the receiver
 * (duplicates counted), that no webhook invocation failed and that the server logged no error, and
 * prints a table per backend. The results go into docs/benchmarks.md between `<!-- load:start -->`
 * and `<!-- load:end -->` (one sub-block per backend; a backend not run keeps its last results).
 *
 * Options: --seconds N (60) · --agents N (8) · --mail-rate N per s (5) · --seed N tickets (200) ·
 * --backend sqlite|postgres|both (both) · --pg-roles all|split (all) · --env DESKHOOK_KEY=value
 * (repeatable; passed to the deskhook processes, e.g. a larger DESKHOOK_DATABASE_POOL_SIZE) · --no-doc ·
 * --keep (leave the data directory and the PostgreSQL database behind, for a look afterwards) ·
 * --cpu-prof DIR (a V8 CPU profile of each deskhook process, written when it stops).
 * PostgreSQL: DATABASE_URL names the server (any database on it; default
 * postgres://postgres@127.0.0.1:5432/postgres); the run creates and drops a database of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import pg from 'pg';
import { Agent, request } from 'undici';
import { childEnv, freePort, REPO_ROOT, sleep } from '../test/support/process.ts';

type Backend = 'sqlite' | 'postgres';

interface Options {
  seconds: number;
  agents: number;
  mailRate: number;
  seed: number;
  backends: Backend[];
  pgRoles: 'all' | 'split';
  doc: boolean;
  keep: boolean;
  /** Extra environment for the deskhook processes (`--env KEY=VALUE`, repeatable), for experiments. */
  env: Record<string, string>;
  /** Directory for a V8 CPU profile of each deskhook process (`--cpu-prof DIR`), written when it exits. */
  cpuProfDir: string | null;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { seconds: 60, agents: 8, mailRate: 5, seed: 200, backends: ['sqlite', 'postgres'], pgRoles: 'all', doc: true, keep: false, env: {}, cpuProfDir: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const count = (min: number) => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < min) throw new Error(`${arg} must be a number ≥ ${min}`);
      return n;
    };
    if (arg === '--seconds') o.seconds = count(1);
    else if (arg === '--agents') o.agents = Math.round(count(1));
    else if (arg === '--mail-rate') o.mailRate = count(0);
    else if (arg === '--seed') o.seed = Math.round(count(1));
    else if (arg === '--backend') {
      const b = value();
      if (b === 'both') o.backends = ['sqlite', 'postgres'];
      else if (b === 'sqlite' || b === 'postgres') o.backends = [b];
      else throw new Error('--backend is sqlite, postgres or both');
    } else if (arg === '--pg-roles') {
      const r = value();
      if (r !== 'all' && r !== 'split') throw new Error('--pg-roles is all or split');
      o.pgRoles = r;
    } else if (arg === '--no-doc') o.doc = false;
    else if (arg === '--keep') o.keep = true;
    else if (arg === '--cpu-prof') o.cpuProfDir = value();
    else if (arg === '--env') {
      const m = /^(DESKHOOK_[A-Z_]+)=(.*)$/.exec(value());
      if (!m) throw new Error('--env takes DESKHOOK_KEY=value');
      o.env[m[1]!] = m[2]!;
    }
    else throw new Error(`unknown option ${arg}`);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Receivers: the account's synchronous webhooks and the event hook, in a worker thread of their own
// so that they never share an event loop with the clients whose latency is measured.
// ---------------------------------------------------------------------------------------------

/**
 * node:http on 127.0.0.1, two servers. The hook server verifies the Standard Webhooks signature and
 * answers at once, with a small patch for some calls: every 2nd new ticket from mail gets the tag
 * `triaged` (every 10th also priority high), every 10th ticketUpdates call and every 10th note adds
 * a tag. The event server verifies, records the event id and how long after the event's timestamp
 * it arrived, and answers 204.
 */
const RECEIVER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
const crypto = require('node:crypto');
const secrets = { hook: null, events: null };
const hook = { calls: 0, byKind: {}, patched: 0, badSignature: 0, badInput: 0 };
const events = { ids: [], types: {}, lags: [], badSignature: 0, badInput: 0 };
const keyCache = new Map();
function verify(which, req, raw) {
  const secret = secrets[which];
  if (!secret) return false;
  let key = keyCache.get(secret);
  if (!key) { key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64'); keyCache.set(secret, key); }
  const id = String(req.headers['webhook-id']);
  const ts = String(req.headers['webhook-timestamp']);
  if (!(Math.abs(Date.now() / 1000 - Number(ts)) <= 300)) return false;
  const expected = 'v1,' + crypto.createHmac('sha256', key).update(id + '.' + ts + '.' + raw).digest('base64');
  return String(req.headers['webhook-signature'] || '').split(' ').includes(expected);
}
function collect(req, done) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('error', () => undefined);
  req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
}
const counters = {};
const nth = (kind) => (counters[kind] = (counters[kind] || 0) + 1);
function answerFor(input) {
  if (input.hook === 'ticketUpdates') {
    return { kind: 'ticketUpdates', answer: nth('tu') % 10 === 0 ? { ticket: { addTags: ['hook-checked'] } } : {} };
  }
  if (input.hook === 'newEmails' && input.direction === 'in' && input.conversationId === null) {
    const n = nth('new');
    return { kind: 'newEmails:in:new', answer: n % 10 === 0 ? { ticket: { priority: 'high', addTags: ['triaged'] } } : n % 2 === 0 ? { ticket: { addTags: ['triaged'] } } : {} };
  }
  if (input.hook === 'newEmails' && input.direction === 'in') return { kind: 'newEmails:in:reply', answer: {} };
  if (input.hook === 'newEmails' && input.direction === 'internal') {
    return { kind: 'newEmails:internal', answer: nth('note') % 10 === 0 ? { ticket: { addTags: ['note-seen'] } } : {} };
  }
  return { kind: 'other:' + input.hook + ':' + input.direction, answer: {} };
}
const hookServer = http.createServer((req, res) => {
  res.on('error', () => undefined);
  collect(req, (raw) => {
    hook.calls++;
    if (!verify('hook', req, raw)) hook.badSignature++;
    let input = null;
    try { input = JSON.parse(raw); } catch { hook.badInput++; }
    const { kind, answer } = input ? answerFor(input) : { kind: 'unparsable', answer: {} };
    hook.byKind[kind] = (hook.byKind[kind] || 0) + 1;
    if (Object.keys(answer).length) hook.patched++;
    const body = JSON.stringify(answer);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
const eventServer = http.createServer((req, res) => {
  res.on('error', () => undefined);
  collect(req, (raw) => {
    const now = Date.now();
    if (!verify('events', req, raw)) events.badSignature++;
    try {
      const envelope = JSON.parse(raw);
      events.ids.push(envelope.id);
      events.types[envelope.type] = (events.types[envelope.type] || 0) + 1;
      events.lags.push(now - Date.parse(envelope.timestamp));
    } catch { events.badInput++; }
    res.writeHead(204).end();
  });
});
for (const s of [hookServer, eventServer]) { s.keepAliveTimeout = 65000; s.headersTimeout = 66000; }
let listening = 0;
const ready = () => {
  if (++listening < 2) return;
  parentPort.postMessage({ type: 'ready', hookPort: hookServer.address().port, eventPort: eventServer.address().port });
};
hookServer.listen(0, '127.0.0.1', ready);
eventServer.listen(0, '127.0.0.1', ready);
parentPort.on('message', (m) => {
  if (m.type === 'secrets') { secrets.hook = m.hook; secrets.events = m.events; parentPort.postMessage({ type: 'ok' }); }
  else if (m.type === 'stats') parentPort.postMessage({ type: 'stats', hook, events });
});
`;

interface HookStats {
  calls: number;
  byKind: Record<string, number>;
  patched: number;
  badSignature: number;
  badInput: number;
}

interface EventStats {
  ids: string[];
  types: Record<string, number>;
  lags: number[];
  badSignature: number;
  badInput: number;
}

interface Receivers {
  hookUrl: string;
  eventUrl: string;
  setSecrets(hook: string, events: string): Promise<void>;
  stats(): Promise<{ hook: HookStats; events: EventStats }>;
  close(): Promise<void>;
}

async function startReceivers(): Promise<Receivers> {
  const worker = new Worker(RECEIVER_SOURCE, { eval: true });
  const next = <T>(type: string) => new Promise<T>((resolve, reject) => {
    const onError = (err: Error) => {
      worker.off('message', onMessage);
      reject(err);
    };
    const onMessage = (message: { type: string }) => {
      if (message.type !== type) return;
      worker.off('message', onMessage);
      worker.off('error', onError);
      resolve(message as T);
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
  });
  const { hookPort, eventPort } = await next<{ hookPort: number; eventPort: number }>('ready');
  return {
    hookUrl: `http://127.0.0.1:${hookPort}/hooks`,
    eventUrl: `http://127.0.0.1:${eventPort}/events`,
    async setSecrets(hook, events) {
      const ok = next('ok');
      worker.postMessage({ type: 'secrets', hook, events });
      await ok;
    },
    stats() {
      const answer = next<{ hook: HookStats; events: EventStats }>('stats');
      worker.postMessage({ type: 'stats' });
      return answer;
    },
    async close() {
      await worker.terminate();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The product's processes
// ---------------------------------------------------------------------------------------------

interface ServerProcess {
  role: string;
  child: ChildProcess;
  port: number;
  smtpPort: number;
  baseUrl: string;
  logFile: string;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `node bin/deskhook.mjs serve --role <role>` with its JSON log (stdout and stderr) written to a
 * file rather than piped into this process; resolves once it logged that it is up.
 */
async function startProcess(role: string, dir: string, env: Record<string, string>, cpuProfDir: string | null): Promise<ServerProcess> {
  const port = await freePort();
  const smtpPort = await freePort();
  const logFile = join(dir, `deskhook-${role}.log`);
  const fd = openSync(logFile, 'a');
  // One directory per role: every thread (the main one and tsx's loader thread) writes a profile.
  const profile = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(cpuProfDir, role)}`] : [];
  const child = spawn(process.execPath, [...profile, 'bin/deskhook.mjs', 'serve', '--role', role], {
    cwd: REPO_ROOT, detached: true, stdio: ['ignore', fd, fd],
    env: childEnv({ PORT: String(port), DESKHOOK_SMTP_PORT: String(smtpPort), DESKHOOK_DATA_DIR: dir, DESKHOOK_LOG_LEVEL: 'info', ...env }),
  });
  closeSync(fd);
  const proc: ServerProcess = {
    role, child, port, smtpPort, baseUrl: `http://127.0.0.1:${port}`, logFile, exit: null,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => {
      proc.exit = { code, signal };
      resolve(proc.exit);
    })),
  };
  const deadline = Date.now() + 60_000;
  while (!readFileSync(logFile, 'utf8').includes('"msg":"deskhook is up"')) {
    if (proc.exit) throw new Error(`deskhook --role ${role} exited during start (${JSON.stringify(proc.exit)}):\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
    if (Date.now() > deadline) {
      await killProcess(proc);
      throw new Error(`deskhook --role ${role} did not start within 60 s:\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
    }
    await sleep(100);
  }
  return proc;
}

async function killProcess(proc: ServerProcess): Promise<void> {
  if (proc.exit) return;
  try {
    process.kill(-proc.child.pid!, 'SIGKILL');
  } catch {
    proc.child.kill('SIGKILL');
  }
  await Promise.race([proc.exited, sleep(5_000)]);
}

/** SIGTERM and the exit; SIGKILL to the process group if it takes longer than 30 s. */
async function stopProcess(proc: ServerProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'timeout'> {
  if (proc.exit) return proc.exit;
  proc.child.kill('SIGTERM');
  const exit = await Promise.race([proc.exited, sleep(30_000).then(() => 'timeout' as const)]);
  if (exit === 'timeout') await killProcess(proc);
  return exit;
}

/** CPU seconds (user + system) the process has used, from /proc (Linux); null elsewhere. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** CPU seconds all CPUs of the machine spent busy (not idle, not waiting for I/O), from /proc/stat (Linux). */
function machineBusySeconds(): number | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - fields[3]! - fields[4]!) / 100;
  } catch {
    return null;
  }
}

/**
 * CPU seconds of the PostgreSQL backends serving the run's database, summed over samples: each
 * backend's CPU counts from when a sample first saw it (the pool keeps its connections while the
 * load runs, so little is missed).
 */
class BackendCpu {
  private readonly last = new Map<number, number>();
  total = 0;

  async sample(db: Observer): Promise<void> {
    for (const row of await db.all(`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`)) {
      const pid = Number(row.pid);
      const now = cpuSeconds(pid);
      if (now === null) continue;
      const before = this.last.get(pid);
      if (before !== undefined) this.total += now - before;
      this.last.set(pid, now);
    }
  }
}

/** Lines of the JSON log at `level` or above (pino: 40 warn, 50 error, 60 fatal). */
function logLines(file: string, minLevel: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (typeof parsed.level === 'number' && parsed.level >= minLevel) out.push(parsed);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// A read-only view of the database, for what the API does not show (the inbound queue, counts)
// ---------------------------------------------------------------------------------------------

interface Observer {
  all(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

function sqliteObserver(path: string): Observer {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return {
    all: async (sql) => db.prepare(sql).all() as Record<string, unknown>[],
    close: async () => {
      db.close();
    },
  };
}

function postgresObserver(url: string): Observer {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => undefined);
  return {
    all: async (sql) => (await pool.query(sql)).rows as Record<string, unknown>[],
    close: () => pool.end(),
  };
}

async function backlog(db: Observer): Promise<{ deliveries: number; inbound: number; inboundFailed: number }> {
  const [d] = await db.all(`select count(*) as n from event_deliveries where status = 'pending'`);
  const rows = await db.all(`select status, count(*) as n from inbound_messages where status <> 'processed' group by status`);
  let inbound = 0;
  let inboundFailed = 0;
  for (const r of rows) {
    if (r.status === 'failed') inboundFailed += Number(r.n);
    else inbound += Number(r.n);
  }
  return { deliveries: Number(d?.n ?? 0), inbound, inboundFailed };
}

// ---------------------------------------------------------------------------------------------
// HTTP client and measurements
// ---------------------------------------------------------------------------------------------

const dispatcher = new Agent({ keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000, connections: 64 });

interface Answer {
  status: number;
  json: any;
  text: string;
}

async function call(baseUrl: string, method: string, path: string, token: string | null, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${baseUrl}${path}`, { method: method as 'GET', headers, dispatcher, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.body.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.statusCode, json, text };
}

/** A call that must succeed (setup and checks); throws with the answer otherwise. */
async function must(baseUrl: string, method: string, path: string, token: string | null, body?: unknown, expected = [200, 201]): Promise<any> {
  const answer = await call(baseUrl, method, path, token, body);
  if (!expected.includes(answer.status)) throw new Error(`${method} ${path} answered ${answer.status}: ${answer.text.slice(0, 500)}`);
  return answer.json;
}

const OPERATIONS = ['list tickets', 'get ticket', 'get activity', 'patch ticket', 'post note', 'smtp send'] as const;
type Operation = (typeof OPERATIONS)[number];

class Recorder {
  readonly latencies = new Map<Operation, number[]>(OPERATIONS.map((op) => [op, []]));
  readonly errors = new Map<Operation, number>(OPERATIONS.map((op) => [op, 0]));
  readonly errorSamples: string[] = [];
  readonly errorKinds = new Map<string, number>();

  ok(op: Operation, ms: number): void {
    this.latencies.get(op)!.push(ms);
  }

  fail(op: Operation, ms: number, kind: string, detail: string): void {
    this.latencies.get(op)!.push(ms);
    this.errors.set(op, this.errors.get(op)! + 1);
    const key = `${op}: ${kind}`;
    this.errorKinds.set(key, (this.errorKinds.get(key) ?? 0) + 1);
    if (this.errorSamples.length < 20) this.errorSamples.push(`${key}: ${detail.slice(0, 300)}`);
  }

  get totalErrors(): number {
    return [...this.errors.values()].reduce((a, b) => a + b, 0);
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

function summarise(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** How often each value occurs, in the order first seen. */
function tally<T>(values: Iterable<T>): Map<T, number> {
  const out = new Map<T, number>();
  for (const v of values) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

const TAGS = ['vip', 'strom', 'gas', 'zaehler', 'rechnung', 'rueckruf'];
const PRIORITIES = ['low', 'medium', 'high', 'urgent'];
const EVENT_TYPES = ['TicketCreated', 'TicketUpdated', 'TicketResponse', 'ConversationCreated', 'ContractLinked', 'EmailSent', 'EmailFailed', 'WebhookFailed'];
const ACCOUNT_ADDRESS = 'kundenservice@stadtwerke.example';
const SUBJECTS = ['Zählerstand', 'Abschlag zu hoch', 'Umzug zum 1.', 'Rechnung unklar', 'Kündigung', 'Lastschrift geändert', 'Störung Gas', 'Vertragswechsel'];

interface SeedTicket {
  id: number;
  from: string;
  subject: string;
}

interface AgentUser {
  id: number;
  token: string;
}

function listQuery(accountId: number): string {
  const filters = [
    'status=open', 'status=open&status=pending', 'priority=high&priority=urgent', `tags=${pick(TAGS)}`, `q=${encodeURIComponent(pick(SUBJECTS).split(' ')[0]!)}`,
    'agentId=none', `emailAccountId=${accountId}`, '', 'status=waitingOnCustomer&priority=low',
  ];
  const filter = pick(filters);
  return `/api/v1/tickets?limit=${pick([25, 50])}${filter ? `&${filter}` : ''}`;
}

function patchBody(selfId: number): Record<string, unknown> {
  const r = Math.random();
  if (r < 0.3) return { priority: pick(PRIORITIES) };
  if (r < 0.5) return { addTags: [pick(TAGS)] };
  if (r < 0.6) return { removeTags: [pick(TAGS)] };
  if (r < 0.7) return { agentId: selfId, priority: pick(PRIORITIES) };
  if (r < 0.8) return { status: 'pending', dueBy: new Date(Date.now() + 86_400_000 + Math.floor(Math.random() * 86_400_000)).toISOString() };
  return { status: pick(['open', 'waitingOnCustomer', 'resolved', 'closed']) };
}

/** One agent: a closed loop of reads and writes on random tickets until the deadline. */
async function agentLoop(baseUrl: string, agent: AgentUser, accountId: number, pool: { ids: number[]; known: Set<number> }, deadline: number, rec: Recorder): Promise<void> {
  while (Date.now() < deadline) {
    const r = Math.random();
    const op: Operation = r < 0.25 ? 'list tickets' : r < 0.5 ? 'get ticket' : r < 0.65 ? 'get activity' : r < 0.9 ? 'patch ticket' : 'post note';
    const id = pick(pool.ids);
    let method = 'GET';
    let path: string;
    let body: unknown;
    let expected = 200;
    switch (op) {
      case 'list tickets': path = listQuery(accountId); break;
      case 'get ticket': path = `/api/v1/tickets/${id}`; break;
      case 'get activity': path = `/api/v1/tickets/${id}/activity?limit=50`; break;
      case 'patch ticket': method = 'PATCH'; path = `/api/v1/tickets/${id}`; body = patchBody(agent.id); break;
      default: method = 'POST'; path = `/api/v1/tickets/${id}/conversations`; body = { direction: 'internal', body: `Rückruf vereinbart (${new Date().toISOString()}).` }; expected = 201;
    }
    const began = performance.now();
    let answer: Answer;
    try {
      answer = await call(baseUrl, method, path, agent.token, body);
    } catch (err) {
      const e = err as Error & { code?: string };
      rec.fail(op, performance.now() - began, /timeout/i.test(`${e.code} ${e.name}`) ? 'timeout' : `network ${e.code ?? e.name}`, `${method} ${path}: ${e.message}`);
      continue;
    }
    const ms = performance.now() - began;
    if (answer.status !== expected) {
      rec.fail(op, ms, `HTTP ${answer.status}${answer.json?.code ? ` ${answer.json.code}` : ''}`, `${method} ${path} ${JSON.stringify(body) ?? ''} → ${answer.text}`);
      continue;
    }
    const j = answer.json;
    if (j?.warnings) {
      rec.fail(op, ms, 'webhook warning', `${method} ${path} → ${JSON.stringify(j.warnings)}`);
      continue;
    }
    const shapeOk = op === 'list tickets' || op === 'get activity' ? Array.isArray(j?.items)
      : op === 'post note' ? j?.ticketId === id && j?.direction === 'internal'
        : j?.id === id;
    if (!shapeOk) {
      rec.fail(op, ms, 'unexpected body', `${method} ${path} → ${answer.text.slice(0, 300)}`);
      continue;
    }
    rec.ok(op, ms);
    if (op === 'list tickets') {
      for (const t of j.items as { id: number }[]) {
        if (!pool.known.has(t.id)) {
          pool.known.add(t.id);
          pool.ids.push(t.id);
        }
      }
    }
  }
}

interface SentMail {
  n: number;
  kind: 'new' | 'reply-token' | 'reply-thread';
  messageId: string;
  from: string;
  /** reply-token: the ticket named in the subject. */
  ticketId?: number;
  /** reply-thread: the Message-ID of the email it answers. */
  parentMessageId?: string;
  acceptedAt: number | null;
}

const bare = (messageId: string | null | undefined) => (messageId ?? '').replace(/^</, '').replace(/>$/, '');

/** Sends mail at a steady rate until the deadline: 60 % new tickets, 20 % replies by [#id], 20 % by In-Reply-To. */
async function mailLoop(smtpPort: number, rate: number, deadline: number, seeds: SeedTicket[], runTag: string, rec: Recorder): Promise<SentMail[]> {
  const sent: SentMail[] = [];
  if (rate <= 0) return sent;
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 2, maxMessages: Infinity, socketTimeout: 30_000 });
  const inFlight = new Set<Promise<void>>();
  const started = Date.now();
  const repliedTo = new Set<string>();
  try {
    for (let n = 0; ; n++) {
      const at = started + (n * 1000) / rate;
      if (at >= deadline) break;
      if (at > Date.now()) await sleep(at - Date.now());
      const r = Math.random();
      const domain = `${runTag}.customer.example`;
      const messageId = `<load-${n}.${runTag}@customer.example>`;
      const threadable = sent.filter((m) => m.kind === 'new' && m.acceptedAt !== null && Date.now() - m.acceptedAt > 2_000 && !repliedTo.has(m.messageId));
      let mail: SentMail;
      let message: SendMailOptions;
      const text = `Guten Tag,\n\nmein Zählerstand für Zähler 1ESY11612${String(n).padStart(4, '0')} ist ${10_000 + n} kWh.\nBitte passen Sie den Abschlag an.\n\nViele Grüße\nKunde ${n}\n`;
      if (r < 0.2 && seeds.length) {
        const seed = pick(seeds);
        mail = { n, kind: 'reply-token', messageId, from: seed.from, ticketId: seed.id, acceptedAt: null };
        message = { from: seed.from, to: ACCOUNT_ADDRESS, subject: `Re: ${seed.subject} [#${seed.id}]`, text, messageId };
      } else if (r < 0.4 && threadable.length) {
        const parent = pick(threadable);
        repliedTo.add(parent.messageId);
        mail = { n, kind: 'reply-thread', messageId, from: parent.from, parentMessageId: parent.messageId, acceptedAt: null };
        message = { from: parent.from, to: ACCOUNT_ADDRESS, subject: `Re: Anfrage ${parent.n}`, text, messageId, inReplyTo: parent.messageId, references: [parent.messageId] };
      } else {
        const from = `kunde-${n}@${domain}`;
        mail = { n, kind: 'new', messageId, from, acceptedAt: null };
        message = { from: { name: `Kunde ${n}`, address: from }, to: ACCOUNT_ADDRESS, subject: `Anfrage ${n}: ${pick(SUBJECTS)}`, text, messageId };
      }
      sent.push(mail);
      const began = performance.now();
      const p = transport.sendMail(message).then((info) => {
        const ms = performance.now() - began;
        if (/^250 /.test(info.response)) {
          mail.acceptedAt = Date.now();
          rec.ok('smtp send', ms);
        } else rec.fail('smtp send', ms, 'not 250', info.response);
      }, (err: Error & { responseCode?: number; code?: string }) => {
        rec.fail('smtp send', performance.now() - began, err.responseCode ? `SMTP ${err.responseCode}` : `network ${err.code ?? err.name}`, err.message);
      }).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  } finally {
    transport.close();
  }
  return sent;
}

// ---------------------------------------------------------------------------------------------
// One backend
// ---------------------------------------------------------------------------------------------

interface BackendResult {
  backend: Backend;
  layout: string;
  startedAt: string;
  seconds: number;
  options: Options;
  machine: string;
  databaseVersion: string | null;
  loadAverage: { before: number; duringMean: number; duringMax: number; after: number };
  serverCpuPerSecond: number | null;
  clientCpuPerSecond: number;
  /** CPU s/s of the PostgreSQL backends serving the run's database (null on SQLite). */
  databaseCpuPerSecond: number | null;
  /** CPU s/s the whole machine was busy; what the others above do not account for is other work. */
  machineCpuPerSecond: number | null;
  operations: { op: Operation; summary: Summary; errors: number }[];
  eventLag: Summary;
  ingestLag: Summary;
  errorKinds: [string, number][];
  errorSamples: string[];
  mail: { sent: number; byKind: Record<string, number>; accepted: number; stored: number; missing: string[]; misthreaded: string[]; inbound: Record<string, number>; retried: number };
  events: { published: number; received: number; unique: number; duplicates: number; missing: number; unexpected: number; badSignature: number; byType: Record<string, number>; seeded: number };
  deliveries: { total: number; succeeded: number; pending: number; failed: number; other: number; retried: number };
  hooks: { calls: number; byKind: Record<string, number>; patched: number; badSignature: number; failedInvocations: number; abortedInvocations: number; mismatches: string[] };
  queues: { peakDeliveries: number; peakInbound: number; atEndDeliveries: number; atEndInbound: number; drainSeconds: number; seedDrainSeconds: number };
  log: { errors: number; warnings: number; samples: string[] };
  exits: string[];
  /** Everything that counts as an error, summed. */
  totalErrors: number;
  problems: string[];
}

async function runBackend(backend: Backend, o: Options): Promise<BackendResult> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const dir = mkdtempSync(join(os.tmpdir(), 'deskhook-load-'));
  const runTag = randomBytes(4).toString('hex');
  const problems: string[] = [];
  const log = (msg: string) => process.stdout.write(`[${backend}] ${msg}\n`);
  if (!o.keep) cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  else log(`data directory ${dir} is kept`);
  try {
    const receivers = await startReceivers();
    cleanups.push(() => receivers.close());

    const adminEmail = 'load-admin@example.com';
    const adminPassword = `pw-${randomBytes(8).toString('hex')}`;
    // All load mail comes from 127.0.0.1: the flood limits are not what is measured here.
    const env: Record<string, string> = {
      DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32', DESKHOOK_MAIL_FLOOD_LIMIT: '100000', DESKHOOK_MAIL_FLOOD_CLIENT_LIMIT: '1000000', DESKHOOK_MAIL_FLOOD_ACCOUNT_LIMIT: '1000000', ...o.env,
      DESKHOOK_ADMIN_EMAIL: adminEmail, DESKHOOK_ADMIN_PASSWORD: adminPassword,
    };
    let databaseUrl: string | null = null;
    let databaseVersion: string | null = null;
    if (backend === 'postgres') {
      const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
      const database = `dh_load_${runTag}`;
      const admin = async (sql: string) => {
        const client = new pg.Client({ connectionString: serverUrl });
        await client.connect();
        try {
          return await client.query(sql);
        } finally {
          await client.end();
        }
      };
      await admin(`create database ${database}`);
      if (!o.keep) cleanups.push(() => admin(`drop database if exists ${database} with (force)`));
      else log(`database ${database} is kept`);
      databaseVersion = `PostgreSQL ${(await admin('show server_version')).rows[0].server_version}`;
      const url = new URL(serverUrl);
      url.pathname = `/${database}`;
      databaseUrl = url.toString();
      Object.assign(env, { DATABASE_URL: databaseUrl, DESKHOOK_SECRET_KEY: randomBytes(32).toString('base64') });
    } else {
      const memory = new Database(':memory:');
      databaseVersion = `SQLite ${(memory.prepare('select sqlite_version() as v').get() as { v: string }).v} (better-sqlite3, WAL)`;
      memory.close();
    }

    // The processes: the first one migrates the database and creates the admin.
    const layout = backend === 'postgres' && o.pgRoles === 'split' ? ['api', 'worker', 'smtp'] : ['all'];
    const processes: ServerProcess[] = [];
    cleanups.push(() => Promise.all(processes.map(killProcess)));
    processes.push(await startProcess(layout[0]!, dir, env, o.cpuProfDir));
    if (layout.length > 1) processes.push(...(await Promise.all(layout.slice(1).map((role) => startProcess(role, dir, env, o.cpuProfDir)))));
    const api = processes.find((p) => p.role === 'api' || p.role === 'all')!;
    const smtp = processes.find((p) => p.role === 'smtp' || p.role === 'all')!;
    const base = api.baseUrl;
    log(`${layout.map((r) => `--role ${r}`).join(', ')} up (HTTP ${api.port}, SMTP ${smtp.smtpPort})`);

    const db = backend === 'postgres' ? postgresObserver(databaseUrl!) : sqliteObserver(join(dir, 'deskhook.sqlite'));
    cleanups.push(() => db.close());

    // --- Setup: account with both synchronous hooks, event hook, agents, seeded tickets. ---
    const adminToken = (await must(base, 'POST', '/api/v1/auth/login', null, { email: adminEmail, password: adminPassword })).token as string;
    const account = await must(base, 'POST', '/api/v1/email-accounts', adminToken, {
      name: 'Kundenservice', address: ACCOUNT_ADDRESS, inbound: { type: 'smtp' },
      webhooks: {
        enabled: true, ticketUpdates: { type: 'apiCall', url: receivers.hookUrl }, newEmails: { type: 'apiCall', url: receivers.hookUrl },
        timeoutMs: 10_000, failurePolicy: 'notify',
      },
    });
    const accountId = account.id as number;
    const hook = await must(base, 'POST', '/api/v1/event-hooks', adminToken, { name: 'load receiver', events: EVENT_TYPES, executor: { type: 'apiCall', url: receivers.eventUrl } });
    const hookId = hook.id as number;
    await receivers.setSecrets(
      (await must(base, 'GET', `/api/v1/email-accounts/${accountId}/webhooks/signing-secret`, adminToken)).signingSecret,
      (await must(base, 'GET', `/api/v1/event-hooks/${hookId}/signing-secret`, adminToken)).signingSecret,
    );
    const agents: AgentUser[] = [];
    for (let i = 0; i < o.agents; i++) {
      const email = `agent-${i}@stadtwerke.example`;
      const password = `agent password ${i}`;
      const user = await must(base, 'POST', '/api/v1/users', adminToken, { email, name: `Agent ${i}`, role: 'agent', password });
      const { token } = await must(base, 'POST', '/api/v1/auth/login', null, { email, password });
      agents.push({ id: user.id as number, token });
    }
    const seeds: SeedTicket[] = [];
    await Promise.all(Array.from({ length: 8 }, async (_, worker) => {
      for (let i = worker; i < o.seed; i += 8) {
        const from = `bestand-${i}@customer.example`;
        const subject = `${pick(SUBJECTS)} (Bestand ${i})`;
        const t = await must(base, 'POST', '/api/v1/tickets', agents[i % agents.length]!.token, {
          subject, from, fromName: `Bestandskunde ${i}`, body: `Guten Tag,\nich habe eine Frage zu meinem Vertrag (${i}).\n`,
          emailAccountId: accountId, priority: pick(PRIORITIES), tags: [pick(TAGS)],
        });
        seeds.push({ id: t.id as number, from, subject });
      }
    }));
    const seedDrainStarted = Date.now();
    await waitQuiet(db, 120_000);
    const seedDrainSeconds = (Date.now() - seedDrainStarted) / 1000;
    log(`${agents.length} agents, ${seeds.length} tickets seeded; their events delivered after ${seedDrainSeconds.toFixed(1)} s`);
    const before = await receivers.stats();

    // --- The load. ---
    const rec = new Recorder();
    const pool = { ids: seeds.map((s) => s.id), known: new Set(seeds.map((s) => s.id)) };
    const loadavgBefore = os.loadavg()[0]!;
    const cpuBefore = processes.map((p) => cpuSeconds(p.child.pid!));
    const clientCpuBefore = process.cpuUsage();
    const machineBefore = machineBusySeconds();
    const pgCpu = backend === 'postgres' ? new BackendCpu() : null;
    await pgCpu?.sample(db);
    const startedAt = new Date();
    const t0 = Date.now();
    const deadline = t0 + o.seconds * 1000;
    const peaks = { deliveries: 0, inbound: 0 };
    const loadavgs: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        loadavgs.push(os.loadavg()[0]!);
        try {
          await pgCpu?.sample(db);
          const b = await backlog(db);
          peaks.deliveries = Math.max(peaks.deliveries, b.deliveries);
          peaks.inbound = Math.max(peaks.inbound, b.inbound);
        } catch (err) {
          problems.push(`backlog sample failed: ${(err as Error).message}`);
        }
        for (let waited = 0; sampling && waited < 2_000; waited += 100) await sleep(100);
      }
    })();
    log(`load for ${o.seconds} s: ${agents.length} agents, ${o.mailRate} mails/s`);
    const [sent] = await Promise.all([
      mailLoop(smtp.smtpPort, o.mailRate, deadline, seeds, runTag, rec),
      ...agents.map((agent) => agentLoop(base, agent, accountId, pool, deadline, rec)),
    ]);
    const elapsed = (Date.now() - t0) / 1000;
    const cpuAfter = processes.map((p) => cpuSeconds(p.child.pid!));
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const machineAfter = machineBusySeconds();
    sampling = false;
    await sampler;
    await pgCpu?.sample(db);
    const atEnd = await backlog(db);
    peaks.deliveries = Math.max(peaks.deliveries, atEnd.deliveries);
    peaks.inbound = Math.max(peaks.inbound, atEnd.inbound);
    const loadEnded = Date.now();
    log(`load done after ${elapsed.toFixed(1)} s; backlog ${atEnd.deliveries} deliveries, ${atEnd.inbound} inbound; draining`);
    await waitQuiet(db, 600_000);
    const drainSeconds = (Date.now() - loadEnded) / 1000;
    const loadavgAfter = os.loadavg()[0]!;
    log(`drained in ${drainSeconds.toFixed(1)} s; checking`);

    // --- Checks. ---
    const accepted = sent.filter((m) => m.acceptedAt !== null);
    const { stored, missing, misthreaded } = await checkMail(base, adminToken, accountId, accepted);
    const inbound = await inboundSummary(db);
    const { published, stats, unique, missingEvents, unexpectedEvents } = await checkEvents(base, adminToken, receivers);
    const deliveries = await deliveryCounts(db);
    const eventLags = stats.events.lags.slice(before.events.lags.length);

    // Synchronous hooks: calls by kind against what the load did, and no failed invocation.
    const failedInvocations = await countInvocations(base, adminToken, accountId, 'failed', problems);
    const abortedInvocations = await countInvocations(base, adminToken, accountId, 'aborted', problems);
    const byKind = stats.hook.byKind;
    const notesOk = rec.latencies.get('post note')!.length - rec.errors.get('post note')!;
    const hookMismatches = checkHookCalls(byKind, accepted, notesOk);

    // --- Stop, then the logs. ---
    const exits: string[] = [];
    for (const p of [...processes].reverse()) {
      const exit = await stopProcess(p);
      exits.push(`${p.role}: ${exit === 'timeout' ? 'did not stop within 30 s' : exit.code === 0 ? 'exit 0' : `exit ${JSON.stringify(exit)}`}`);
      if (exit === 'timeout' || exit.code !== 0) problems.push(`--role ${p.role} ${exits.at(-1)}`);
    }
    const errorLines = processes.flatMap((p) => logLines(p.logFile, 50).map((l) => {
      const err = l.err as { type?: string; message?: string } | undefined;
      return `${p.role} logged "${String(l.msg)}"${err ? `: ${err.type ?? 'Error'}: ${err.message ?? ''}` : ''}`;
    }));
    const distinctErrors = tally(errorLines.map((line) => line.replace(/\d+/g, 'N')));
    for (const [line, n] of [...distinctErrors].slice(0, 5)) problems.push(`${n} × ${line}`);
    const warnLines = processes.flatMap((p) => logLines(p.logFile, 40).filter((l) => l.level === 40).map((l) => `${p.role}: ${String(l.msg)}`));

    const operations = OPERATIONS.map((op) => ({ op, summary: summarise(rec.latencies.get(op)!), errors: rec.errors.get(op)! }));
    const cpuDelta = cpuBefore.every((c) => c !== null) && cpuAfter.every((c) => c !== null)
      ? cpuAfter.reduce((sum, c, i) => sum + (c! - cpuBefore[i]!), 0) / elapsed : null;
    const mailByKind: Record<string, number> = { new: 0, 'reply-token': 0, 'reply-thread': 0 };
    for (const m of sent) mailByKind[m.kind]! += 1;
    const result: BackendResult = {
      backend, layout: layout.map((r) => `\`--role ${r}\``).join(' + ') + Object.entries(o.env).map(([k, v]) => `, \`${k}=${v}\``).join(''), startedAt: startedAt.toISOString(), seconds: elapsed, options: o,
      machine: machineNote(), databaseVersion,
      loadAverage: { before: loadavgBefore, duringMean: loadavgs.reduce((a, b) => a + b, 0) / Math.max(1, loadavgs.length), duringMax: Math.max(...loadavgs, 0), after: loadavgAfter },
      serverCpuPerSecond: cpuDelta, clientCpuPerSecond: (clientCpu.user + clientCpu.system) / 1e6 / elapsed,
      databaseCpuPerSecond: pgCpu ? pgCpu.total / elapsed : null,
      machineCpuPerSecond: machineBefore !== null && machineAfter !== null ? (machineAfter - machineBefore) / elapsed : null,
      operations, eventLag: summarise(eventLags), ingestLag: summarise(await ingestLags(db)),
      errorKinds: [...rec.errorKinds.entries()], errorSamples: rec.errorSamples,
      mail: { sent: sent.length, byKind: mailByKind, accepted: accepted.length, stored, missing, misthreaded, inbound: inbound.byStatus, retried: inbound.retried },
      events: {
        published: published.size, received: stats.events.ids.length, unique: unique.size, duplicates: stats.events.ids.length - unique.size,
        missing: missingEvents.length, unexpected: unexpectedEvents.length, badSignature: stats.events.badSignature + stats.events.badInput, byType: stats.events.types,
        seeded: new Set(before.events.ids).size,
      },
      deliveries,
      hooks: {
        calls: stats.hook.calls, byKind, patched: stats.hook.patched, badSignature: stats.hook.badSignature + stats.hook.badInput,
        failedInvocations, abortedInvocations, mismatches: hookMismatches,
      },
      queues: { peakDeliveries: peaks.deliveries, peakInbound: peaks.inbound, atEndDeliveries: atEnd.deliveries, atEndInbound: atEnd.inbound, drainSeconds, seedDrainSeconds },
      log: { errors: errorLines.length, warnings: warnLines.length, samples: [...errorLines.slice(0, 10), ...warnLines.slice(0, 5)] },
      exits, totalErrors: 0, problems,
    };
    if (missingEvents.length) problems.push(`events never received: ${missingEvents.slice(0, 5).join(', ')}${missingEvents.length > 5 ? ' …' : ''}`);
    if (unexpectedEvents.length) problems.push(`received events not in the feed: ${unexpectedEvents.slice(0, 5).join(', ')}`);
    if (missing.length) problems.push(`emails not stored: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' …' : ''}`);
    problems.push(...misthreaded.slice(0, 5), ...hookMismatches);
    if (inbound.failed) problems.push(`${inbound.failed} inbound emails failed for good (status failed)`);
    result.totalErrors = rec.totalErrors + missing.length + misthreaded.length + result.events.duplicates + missingEvents.length + unexpectedEvents.length
      + result.events.badSignature + result.hooks.badSignature + deliveries.failed + deliveries.pending + deliveries.other + deliveries.retried
      + failedInvocations + abortedInvocations + hookMismatches.length + errorLines.length + exits.filter((e) => !e.endsWith('exit 0')).length + inbound.failed;
    return result;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => log(`cleanup failed: ${(err as Error).message}`));
  }
}

/** Pages through a list endpoint (`items`, `nextCursor`), calling `each` for every page's items. */
async function eachPage(base: string, token: string, path: string, each: (items: any[]) => void): Promise<void> {
  for (let cursor: string | null = null; ;) {
    const page: any = await must(base, 'GET', `${path}${path.includes('?') ? '&' : '?'}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
    each(page.items);
    cursor = page.nextCursor;
    if (!cursor) return;
  }
}

/** Every accepted email is a ticket (found by its Message-ID) or a reply on the ticket it answers. */
async function checkMail(base: string, token: string, accountId: number, accepted: SentMail[]): Promise<{ stored: number; missing: string[]; misthreaded: string[] }> {
  const ticketByMessageId = new Map<string, number>();
  await eachPage(base, token, `/api/v1/tickets?emailAccountId=${accountId}`, (items) => {
    for (const t of items) if (t.messageId) ticketByMessageId.set(bare(t.messageId), t.id);
  });
  const conversations = new Map<number, Set<string>>();
  const conversationsOf = async (ticketId: number) => {
    let ids = conversations.get(ticketId);
    if (!ids) {
      const found = new Set<string>();
      await eachPage(base, token, `/api/v1/tickets/${ticketId}/conversations`, (items) => {
        for (const c of items) if (c.messageId) found.add(bare(c.messageId));
      });
      conversations.set(ticketId, found);
      ids = found;
    }
    return ids;
  };
  const missing: string[] = [];
  const misthreaded: string[] = [];
  let stored = 0;
  for (const m of accepted) {
    const id = bare(m.messageId);
    const target = m.kind === 'reply-token' ? m.ticketId : m.kind === 'reply-thread' ? ticketByMessageId.get(bare(m.parentMessageId)) : undefined;
    const found = m.kind === 'new' ? ticketByMessageId.has(id) : target !== undefined && (await conversationsOf(target)).has(id);
    if (found) stored++;
    else if (ticketByMessageId.has(id)) misthreaded.push(`${m.kind} ${id} became ticket ${ticketByMessageId.get(id)} instead of a reply on ${target ?? '?'}`);
    else missing.push(`${m.kind} ${id}`);
  }
  return { stored, missing, misthreaded };
}

/** The inbound queue by status and outcome, how many needed more than one attempt, how many failed for good. */
async function inboundSummary(db: Observer): Promise<{ byStatus: Record<string, number>; retried: number; failed: number }> {
  const byStatus: Record<string, number> = {};
  let failed = 0;
  for (const r of await db.all(`select status, outcome, count(*) as n from inbound_messages group by status, outcome`)) {
    byStatus[`${r.status}/${r.outcome}`] = Number(r.n);
    if (r.status === 'failed') failed += Number(r.n);
  }
  const [retried] = await db.all(`select count(*) as n from inbound_messages where attempts > 1`);
  return { byStatus, retried: Number(retried?.n ?? 0), failed };
}

/** Every event of the hook's types in the pull feed against what the receiver got. */
async function checkEvents(base: string, token: string, receivers: Receivers) {
  const published = new Set<string>();
  for (let after = '0'; ;) {
    const page: any = await must(base, 'GET', `/api/v1/events?after=${encodeURIComponent(after)}&limit=200&${EVENT_TYPES.map((t) => `type=${t}`).join('&')}`, token);
    for (const e of page.items) published.add(e.id);
    if (!page.items.length) break;
    after = page.nextCursor;
  }
  let stats = await receivers.stats();
  // Deliveries are recorded as succeeded once the receiver answered; allow a moment all the same.
  for (let i = 0; i < 20 && published.size > new Set(stats.events.ids).size; i++) {
    await sleep(250);
    stats = await receivers.stats();
  }
  const unique = new Set(stats.events.ids);
  return {
    published, stats, unique,
    missingEvents: [...published].filter((id) => !unique.has(id)),
    unexpectedEvents: [...unique].filter((id) => !published.has(id)),
  };
}

async function deliveryCounts(db: Observer): Promise<BackendResult['deliveries']> {
  const deliveries = { total: 0, succeeded: 0, pending: 0, failed: 0, other: 0, retried: 0 };
  for (const r of await db.all(`select status, count(*) as n, sum(case when attempts > 1 then 1 else 0 end) as retried from event_deliveries group by status`)) {
    const n = Number(r.n);
    deliveries.total += n;
    deliveries.retried += Number(r.retried ?? 0);
    if (r.status === 'succeeded') deliveries.succeeded += n;
    else if (r.status === 'pending') deliveries.pending += n;
    else if (r.status === 'failed') deliveries.failed += n;
    else deliveries.other += n;
  }
  return deliveries;
}

/** Invocations of the account's hooks with this outcome; the first few go to `problems`. */
async function countInvocations(base: string, token: string, accountId: number, outcome: 'failed' | 'aborted', problems: string[]): Promise<number> {
  let n = 0;
  await eachPage(base, token, `/api/v1/email-accounts/${accountId}/invocations?outcome=${outcome}`, (items) => {
    for (const inv of items) if (n++ < 3) problems.push(`${outcome} invocation ${inv.id} (${inv.hook}, ${inv.trigger}): ${JSON.stringify(inv.error)}`);
  });
  return n;
}

/** The receiver's hook calls by kind against what the load did: one newEmails call per email and per note. */
function checkHookCalls(byKind: Record<string, number>, accepted: SentMail[], notes: number): string[] {
  const out: string[] = [];
  const newTickets = accepted.filter((m) => m.kind === 'new').length;
  const expect = (kind: string, n: number, what: string) => {
    if ((byKind[kind] ?? 0) !== n) out.push(`${kind}: ${byKind[kind] ?? 0} calls for ${n} ${what}`);
  };
  expect('newEmails:in:new', newTickets, 'new-ticket emails');
  expect('newEmails:in:reply', accepted.length - newTickets, 'replies');
  expect('newEmails:internal', notes, 'notes');
  for (const kind of Object.keys(byKind)) if (!['ticketUpdates', 'newEmails:in:new', 'newEmails:in:reply', 'newEmails:internal'].includes(kind)) out.push(`unexpected hook call ${kind}: ${byKind[kind]}`);
  return out;
}

/** How long each inbound email waited between its 250 and being processed, in ms. */
async function ingestLags(db: Observer): Promise<number[]> {
  const rows = await db.all(`select received_at, processed_at from inbound_messages where processed_at is not null`);
  return rows.map((r) => new Date(r.processed_at as string).getTime() - new Date(r.received_at as string).getTime());
}

/**
 * Waits until no inbound email is unprocessed and no event delivery is pending, twice in a row
 * a second apart (a hook's answer, applied after an email is marked processed, can still publish
 * events); returns when that holds, throws after timeoutMs.
 */
async function waitQuiet(db: Observer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quietSince: number | null = null;
  for (;;) {
    const b = await backlog(db);
    if (b.deliveries === 0 && b.inbound === 0) {
      quietSince ??= Date.now();
      if (Date.now() - quietSince >= 1_000) return;
    } else quietSince = null;
    if (Date.now() > deadline) throw new Error(`queues did not drain within ${timeoutMs / 1000} s: ${JSON.stringify(b)}`);
    await sleep(200);
  }
}

function machineNote(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

const fmtMs = (n: number) => (Number.isNaN(n) ? '–' : n >= 100 ? n.toFixed(0) : n.toFixed(1));

function table(r: BackendResult): string {
  const rows = r.operations.map(({ op, summary, errors }) =>
    `| ${op} | ${summary.count} | ${(summary.count / r.seconds).toFixed(1)} | ${fmtMs(summary.p50)} | ${fmtMs(summary.p99)} | ${fmtMs(summary.max)} | ${errors} |`);
  rows.push(`| event delivery (commit → receipt) | ${r.eventLag.count} | ${(r.eventLag.count / r.seconds).toFixed(1)} | ${fmtMs(r.eventLag.p50)} | ${fmtMs(r.eventLag.p99)} | ${fmtMs(r.eventLag.max)} | ${r.events.duplicates + r.events.missing + r.deliveries.failed + r.deliveries.retried} |`);
  rows.push(`| mail ingest (250 → processed) | ${r.ingestLag.count} | – | ${fmtMs(r.ingestLag.p50)} | ${fmtMs(r.ingestLag.p99)} | ${fmtMs(r.ingestLag.max)} | ${r.mail.missing.length + r.mail.misthreaded.length + r.mail.retried} |`);
  return ['| operation | count | per s | p50 ms | p99 ms | max ms | errors |', '|---|--:|--:|--:|--:|--:|--:|', ...rows].join('\n');
}

function details(r: BackendResult): string[] {
  const kinds = (o: Record<string, number>) => Object.entries(o).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(', ');
  const lines = [
    `- **Mail:** ${r.mail.sent} sent (${kinds(r.mail.byKind)}), ${r.mail.accepted} accepted with 250, ${r.mail.stored} found afterwards as the ticket or the reply on the right ticket; `
      + `${r.mail.missing.length} missing, ${r.mail.misthreaded.length} threaded wrongly, ${r.mail.retried} processed only at a second attempt. Inbound queue: ${kinds(r.mail.inbound)}.`,
    `- **Events** (hook on ${EVENT_TYPES.length} ticket event types): ${r.events.published} published in all (${r.events.seeded} of them from seeding), ${r.events.unique} received, `
      + `${r.events.duplicates} duplicates, ${r.events.missing} missing, ${r.events.badSignature} bad signatures; deliveries ${r.deliveries.succeeded} succeeded, `
      + `${r.deliveries.retried} needed a retry, ${r.deliveries.failed} failed, ${r.deliveries.pending} pending. By type: ${kinds(r.events.byType)}.`,
    `- **Synchronous hooks:** ${r.hooks.calls} calls (${kinds(r.hooks.byKind)}), ${r.hooks.patched} answered with a patch, ${r.hooks.badSignature} bad signatures; `
      + `${r.hooks.failedInvocations} failed and ${r.hooks.abortedInvocations} aborted invocations${r.hooks.mismatches.length ? `; mismatches: ${r.hooks.mismatches.join('; ')}` : ''}.`,
    `- **Queues:** peak backlog during the load ${r.queues.peakDeliveries} event deliveries and ${r.queues.peakInbound} inbound emails (sampled every 2 s); `
      + `${r.queues.atEndDeliveries} and ${r.queues.atEndInbound} when the load stopped; **drained ${r.queues.drainSeconds.toFixed(1)} s after the load stopped** `
      + `(the seeding's events took ${r.queues.seedDrainSeconds.toFixed(1)} s before the load began).`,
    `- **Server:** ${r.log.errors} error line(s) and ${r.log.warnings} warning(s) in the log; ${r.exits.join(', ')} after SIGTERM; `
      + `${cpuNote(r)}.`,
  ];
  if (r.errorKinds.length) lines.push(`- **Request errors by kind:** ${r.errorKinds.map(([k, v]) => `${k} × ${v}`).join('; ')}.`);
  if (r.problems.length) lines.push(`- **Problems:** ${r.problems.slice(0, 10).join('; ')}.`);
  lines.push(`- **Errors in all: ${r.totalErrors}.**`);
  return lines;
}

/** Where the machine's CPU went during the load, in CPU seconds per second (cores busy). */
function cpuNote(r: BackendResult): string {
  const f = (n: number | null) => (n === null ? 'n/a' : n.toFixed(2));
  const ours = (r.serverCpuPerSecond ?? 0) + r.clientCpuPerSecond + (r.databaseCpuPerSecond ?? 0);
  const parts = [`deskhook ${f(r.serverCpuPerSecond)}`, ...(r.databaseCpuPerSecond !== null ? [`its PostgreSQL backends ${f(r.databaseCpuPerSecond)}`] : []), `the load script ${f(r.clientCpuPerSecond)}`];
  return `CPU during the load, in cores busy (of ${os.cpus().length}): ${parts.join(', ')}`
    + (r.machineCpuPerSecond !== null ? `; the whole machine ${f(r.machineCpuPerSecond)}, so other work took about ${f(Math.max(0, r.machineCpuPerSecond - ours))}` : '');
}

function backendSection(r: BackendResult): string {
  return [
    `Measured ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC for ${r.seconds.toFixed(1)} s; ${r.databaseVersion ?? r.backend}, ${r.layout}; `
      + `${r.options.agents} agents, ${r.options.mailRate} emails/s, ${r.options.seed} seeded tickets. `
      + `Machine: ${r.machine}. Load average (1 min) ${r.loadAverage.before.toFixed(2)} before, ${r.loadAverage.duringMean.toFixed(2)} on average during `
      + `(max ${r.loadAverage.duringMax.toFixed(2)}), ${r.loadAverage.after.toFixed(2)} after the drain (it counts this run's own processes too; the CPU split is under **Server** below).`,
    '',
    table(r),
    '',
    ...details(r),
  ].join('\n');
}

const DOC = new URL('../docs/benchmarks.md', import.meta.url);

function methodText(o: Options): string {
  return `\`npm run load\` (\`scripts/load.ts\`) runs a mixed load against the real \`deskhook serve\` processes, one backend after the other: on SQLite the
embedded role \`all\` on a temporary data directory; on PostgreSQL a database created for the run and dropped afterwards (role \`all\` unless
\`--pg-roles split\` starts separate api, worker and smtp processes). Both run with the shipped defaults (info logging to a file, 16 event
deliveries at once, 250 ms event poll) and \`DESKHOOK_EGRESS_ALLOW=127.0.0.1/32\` for the local receivers. One email account has both
synchronous webhooks (ticketUpdates, newEmails; policy \`notify\`) on a receiver that checks each signature and answers at once, with a small
patch for some calls (a tag on every 2nd new ticket, priority high on every 10th, a tag on every 10th ticket update and note); one event hook
subscribes to every ticket event type on a receiver that checks signatures and answers 204 (both receivers in a worker thread of the load
script). ${o.seed} tickets are seeded through the API. Then, for ${o.seconds} s: ${o.agents} agents, each a **closed loop without think time**
(so the server is saturated, and latencies include queueing), pick at random 25 % ticket lists with one of nine filters (status, priority, tag,
text, unassigned, account, none), 25 % single tickets, 15 % activity logs, 25 % PATCHes (priority, tags, assignment, pending with a due date,
other statuses) and 10 % internal notes; at the same time an SMTP client (2 pooled connections) sends ${o.mailRate} emails/s: 60 % new
tickets, 20 % replies by \`[#id]\` in the subject from the ticket's customer, 20 % replies by \`In-Reply-To\` to an earlier email of the run.
A request is an error when it answers another status than expected (200, 201 for a note), times out (30 s), fails on the network, carries
\`warnings\` (a failed hook) or has an unexpected body. After the load the script waits until the inbound queue and the event deliveries have
drained, then checks through the API that every accepted email is its ticket or a reply on the right ticket, that every event of the hook's
types in the pull feed reached the receiver exactly once, that no delivery needed a retry, that no webhook invocation failed or aborted, and
that the server logged no error and exits 0 on SIGTERM. Each of those counts as an error too. Latencies are measured by the client, from
sending the request to reading the whole answer; "event delivery" is the time from the event's commit (its \`timestamp\`) to its arrival at the
receiver, "mail ingest" the time from the 250 to the inbound email being processed (from the database).`;
}

function writeDoc(results: BackendResult[], o: Options): void {
  const start = '<!-- load:start -->';
  const end = '<!-- load:end -->';
  let doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  if (!doc.includes(start)) doc = `${doc.trimEnd()}\n\n## Mixed load\n\n${start}\n${end}\n`;
  const [before, rest] = doc.split(start) as [string, string];
  const [old, after] = rest.split(end) as [string, string];
  const sub = (backend: Backend) => {
    const found = results.find((r) => r.backend === backend);
    if (found) return backendSection(found);
    const m = new RegExp(`<!-- load:${backend}:start -->\\n([\\s\\S]*?)\\n<!-- load:${backend}:end -->`).exec(old);
    return m?.[1] ?? 'Not run yet.';
  };
  const block = [
    methodText(o), '',
    '### SQLite', '', '<!-- load:sqlite:start -->', sub('sqlite'), '<!-- load:sqlite:end -->', '',
    '### PostgreSQL', '', '<!-- load:postgres:start -->', sub('postgres'), '<!-- load:postgres:end -->',
  ].join('\n');
  writeFileSync(DOC, `${before}${start}\n${block}\n${end}${after}`);
}

function print(r: BackendResult): void {
  process.stdout.write(`\n=== ${r.backend} (${r.layout}), ${r.seconds.toFixed(1)} s ===\n${table(r)}\n${details(r).join('\n')}\n`);
  if (r.errorSamples.length) process.stdout.write(`first request errors:\n  ${r.errorSamples.join('\n  ')}\n`);
  if (r.log.samples.length) process.stdout.write(`server log (errors, then warnings):\n  ${r.log.samples.join('\n  ')}\n`);
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const results: BackendResult[] = [];
  for (const backend of o.backends) {
    const r = await runBackend(backend, o);
    print(r);
    results.push(r);
    if (o.doc) writeDoc(results, o);
  }
  await dispatcher.close();
  const total = results.reduce((sum, r) => sum + r.totalErrors, 0);
  process.stdout.write(`\n${total === 0 ? 'no errors' : `${total} errors`}${o.doc ? '; docs/benchmarks.md updated' : ''}\n`);
  process.exit(total === 0 ? 0 : 1);
}

await main();
