import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs the real product (`node bin/deskhook.mjs …`, or `npm start -- …`) as a child process, the
 * way an operator does, and gives tests its output, its exit and its HTTP port.
 */

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A port nobody listens on right now, for a child process to listen on. It is taken below the
 * kernel's ephemeral range (32768-60999 on Linux): a port the kernel picks for port 0 is also one
 * it may give the next outgoing connection of any process here (a test's fetch, a database
 * client) between our check and the child's listen, and the child then fails with EADDRINUSE.
 * Ports are not handed out twice by one test process.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = CHILD_PORTS_FROM + Math.floor(Math.random() * (CHILD_PORTS_TO - CHILD_PORTS_FROM));
    if (handedOut.has(port)) continue;
    if (await isPortFree(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${CHILD_PORTS_FROM} and ${CHILD_PORTS_TO}`);
}
const CHILD_PORTS_FROM = 20_000;
const CHILD_PORTS_TO = 32_000;
const handedOut = new Set<number>();

/** True when we can bind the port on 127.0.0.1, i.e. no process holds it any more. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** True when a TCP connection to 127.0.0.1:port is refused (nothing listens). */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

const tempDirs: string[] = [];

/** A fresh directory under the system temp dir, removed by `removeTempDirs`. */
export function tempDir(prefix = 'deskhook-proc-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * The parent's environment without anything deskhook reads, so a DATABASE_URL or PORT set for
 * the test run never leaks into a child that should use the embedded SQLite; then `extra`.
 */
export function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(DESKHOOK_|PORT$|DATABASE_URL$|REDIS_URL$|npm_)/.test(key)) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<Child>();

/** One spawned process, in its own process group so that `kill()` also reaches its children. */
export class Child {
  readonly process: ChildProcess;
  stdout = '';
  stderr = '';
  exit: Exit | null = null;
  readonly exited: Promise<Exit>;

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv) {
    this.process = spawn(command, args, { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => { this.stdout += chunk; });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.stderr += chunk; });
    live.add(this);
    this.exited = new Promise<Exit>((resolve, reject) => {
      this.process.once('error', reject);
      // 'close', not 'exit': by then stdout and stderr are read to the end.
      this.process.once('close', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
    });
    // A spawn failure surfaces through `exited`; never as an unhandled rejection.
    this.exited.catch(() => undefined);
  }

  get pid(): number {
    return this.process.pid!;
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** Everything the process wrote, for failure messages. */
  describe(): string {
    return `exit ${JSON.stringify(this.exit)}\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  /** The JSON log lines on stdout, parsed (anything else is skipped). */
  logLines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial line at the end of the buffer
      }
    }
    return out;
  }

  /** Sends a signal to this process only (not to its group). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.process.kill(signal);
  }

  /** Resolves once stdout matches; rejects if the process exits first or after timeoutMs. */
  async waitForStdout(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.stdout);
      if (match) return match;
      if (!this.running) throw new Error(`process exited before stdout matched ${pattern}\n${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`stdout did not match ${pattern} within ${timeoutMs} ms\n${this.describe()}`);
      await sleep(25);
    }
  }

  /** The exit, or an error (the process is then killed) when it takes longer than timeoutMs. */
  async waitForExit(timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`process did not exit within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } catch (err) {
      await this.kill();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL to the whole process group (npm, sh, node …); waits until the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      this.process.kill('SIGKILL');
    }
    await Promise.race([this.exited.catch(() => undefined), sleep(5_000)]);
  }
}

/** Kills every child still running: for afterEach/afterAll, so a failed test leaves nothing behind. */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((child) => child.kill()));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `node bin/deskhook.mjs <args>`. */
export function spawnDeskhook(args: readonly string[], env: NodeJS.ProcessEnv): Child {
  return new Child(process.execPath, ['bin/deskhook.mjs', ...args], env);
}

export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

// Each run spends ~2 s of CPU loading the sources; more runs at once than cores only thrash.
const slots = Math.max(1, availableParallelism());
let busy = 0;
const queue: (() => void)[] = [];

async function acquireSlot(): Promise<void> {
  if (busy < slots) {
    busy++;
    return;
  }
  await new Promise<void>((resolve) => queue.push(resolve));
}

function releaseSlot(): void {
  const next = queue.shift();
  if (next) next();
  else busy--;
}

/**
 * Runs a command that is meant to finish (help, migrate, user create, a refused start…); at most
 * one per core at a time, so concurrent tests do not starve each other.
 */
export async function runDeskhook(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<CliResult> {
  await acquireSlot();
  try {
    const child = spawnDeskhook(args, env);
    const exit = await child.waitForExit(timeoutMs);
    return { ...exit, stdout: child.stdout, stderr: child.stderr };
  } finally {
    releaseSlot();
  }
}

export interface RunningServer {
  child: Child;
  port: number;
  smtpPort: number;
  dataDir: string;
  baseUrl: string;
}

export interface StartOptions {
  dataDir: string;
  /** Extra environment (DESKHOOK_ADMIN_*, DATABASE_URL, …); undefined values are left out. */
  env?: Record<string, string | undefined>;
  /** Arguments after `serve` (or after `npm start --` with `viaNpm`). */
  args?: readonly string[];
  /** Start through `npm start -- <args>` instead of `node bin/deskhook.mjs serve <args>`. */
  viaNpm?: boolean;
  timeoutMs?: number;
}

/**
 * Starts `serve` on free HTTP and SMTP ports with info logging, and waits until /healthz
 * answers 200 and the process logged that it is up (or fails with the process's output if it
 * exits or takes longer than timeoutMs).
 */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(options);
    } catch (error) {
      // Another process here may still take a port between our check and the child's listen.
      if (attempt < 3 && /EADDRINUSE/.test(String(error))) continue;
      throw error;
    }
  }
}

async function startServerOnce(options: StartOptions): Promise<RunningServer> {
  const port = await freePort();
  const smtpPort = await freePort();
  const env = childEnv({
    PORT: String(port),
    DESKHOOK_SMTP_PORT: String(smtpPort),
    DESKHOOK_DATA_DIR: options.dataDir,
    DESKHOOK_LOG_LEVEL: 'info',
    ...options.env,
  });
  const child = options.viaNpm
    ? new Child('npm', ['start', '--', ...(options.args ?? [])], env)
    : spawnDeskhook(['serve', ...(options.args ?? [])], env);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitHealthy(baseUrl, child, options.timeoutMs ?? 20_000);
  // /healthz answers as soon as HTTP listens; the start is complete once the process says so.
  await child.waitForStdout(/"msg":"deskhook is up"/, options.timeoutMs ?? 20_000);
  return { child, port, smtpPort, dataDir: options.dataDir, baseUrl };
}

/** Polls GET /healthz until it answers 200. */
export async function waitHealthy(baseUrl: string, child: Child, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running) {
      await child.exited.catch(() => undefined);
      throw new Error(`the server exited before /healthz answered\n${child.describe()}`);
    }
    try {
      const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.kill();
      throw new Error(`/healthz did not answer within ${timeoutMs} ms\n${child.describe()}`);
    }
    await sleep(100);
  }
}

/** SIGTERM, then the exit (SIGKILL to the group if it takes longer than timeoutMs). */
export async function stopServer(server: RunningServer, timeoutMs = 15_000): Promise<Exit> {
  server.child.signal('SIGTERM');
  return server.child.waitForExit(timeoutMs);
}

export interface ApiResponse {
  status: number;
  contentType: string;
  text: string;
  json: any;
}

export async function request(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (metrics)
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, json };
}

export function login(baseUrl: string, email: string, password: string): Promise<ApiResponse> {
  return request(baseUrl, 'POST', '/api/v1/auth/login', { body: { email, password } });
}

/** How often `needle` occurs in `haystack`. */
export function occurrences(haystack: string, needle: string): number {
  if (!needle) return 0;
  return haystack.split(needle).length - 1;
}

/** Runs `fn` with a client of DATABASE_URL's server (to create and drop the scratch databases of process tests). */
export async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
