import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, connectionRefused, freePort, isPortFree, killAll, login, occurrences, removeTempDirs, request, runDeskhook, sleep, startServer, stopServer, tempDir, type CliResult, type RunningServer, withAdminClient } from './support/process.ts';

/**
 * The real product as an operator meets it: `node bin/deskhook.mjs …` (and `npm start`) as a
 * child process, on free ports, with a fresh data directory. Each start costs 2-3 s (tsx loads the
 * sources), so a group starts its server once and its tests share it.
 */

const GENERATED_ADMIN = 'admin@localhost';

afterAll(async () => {
  await killAll();
  removeTempDirs();
});

/** What `fail()` in the CLI promises: exit non-zero, one line on stderr naming the key, no stack. */
function expectOneLineConfigError(result: CliResult, key: string): void {
  const detail = JSON.stringify(result);
  expect(result.code, detail).not.toBe(0);
  expect(result.code, detail).not.toBeNull();
  const lines = result.stderr.trim().split('\n');
  expect(lines, detail).toHaveLength(1);
  expect(lines[0], detail).toMatch(/^deskhook: /);
  expect(lines[0], detail).toContain(key);
  expect(result.stderr, detail).not.toMatch(/^\s+at /m);
  // It stopped before serving anything.
  expect(result.stdout, detail).not.toContain('deskhook is up');
}

/** The one-time password block `serve` prints on a first start without DESKHOOK_ADMIN_*. */
function generatedPassword(stdout: string): string | null {
  return /^\s*password:\s+(\S+)\s*$/m.exec(stdout)?.[1] ?? null;
}

describe('embedded first start with a generated admin', () => {
  const dataDir = tempDir();
  let server: RunningServer;
  let password: string;

  beforeAll(async () => {
    server = await startServer({ dataDir });
  });
  afterAll(killAll);

  it('prints the generated admin password exactly once, and it logs in', async () => {
    const found = generatedPassword(server.child.stdout);
    expect(found, server.child.describe()).not.toBeNull();
    password = found!;
    expect(password.length).toBeGreaterThanOrEqual(10);
    expect(occurrences(server.child.stdout, password)).toBe(1);
    expect(occurrences(server.child.stdout, 'password:')).toBe(1);
    // Never in the JSON log (which is what usually ends up in a log store).
    expect(server.child.stderr).not.toContain(password);
    for (const line of server.child.logLines()) expect(JSON.stringify(line)).not.toContain(password);
    expect(server.child.stdout).toContain(GENERATED_ADMIN);

    const res = await login(server.baseUrl, GENERATED_ADMIN, password);
    expect(res.status, res.text).toBe(200);
    expect(res.json.token).toMatch(/^dhs_/);
    expect(res.json.user).toMatchObject({ email: GENERATED_ADMIN, role: 'admin' });
    expect(res.json.user).not.toHaveProperty('passwordHash');

    const wrong = await login(server.baseUrl, GENERATED_ADMIN, password + 'x');
    expect(wrong.status).toBe(401);
  });

  it('creates the SQLite database and a 0600 secret.key under DESKHOOK_DATA_DIR', () => {
    expect(existsSync(join(dataDir, 'deskhook.sqlite'))).toBe(true);
    const keyFile = join(dataDir, 'secret.key');
    expect(existsSync(keyFile)).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    // The key itself is never logged, only where it is.
    expect(server.child.stdout).not.toContain(key);
    expect(server.child.stdout).toContain(keyFile);
    // The start-up line tells the operator what runs where.
    expect(server.child.logLines().find((l) => l.msg === 'deskhook is up')).toMatchObject({ role: 'all', port: server.port, database: 'sqlite' });
  });

  it('answers /healthz, /readyz and /metrics, and refuses the API without a token', async () => {
    const health = await request(server.baseUrl, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });

    const ready = await request(server.baseUrl, 'GET', '/readyz');
    expect(ready.status, ready.text).toBe(200);
    expect(ready.json).toEqual({ status: 'ready' });

    const metrics = await request(server.baseUrl, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.contentType).toMatch(/^text\/plain/);
    expect(metrics.text).toContain('# TYPE deskhook_http_request_duration_seconds histogram');
    expect(metrics.text).toMatch(/^deskhook_http_request_duration_seconds_count\{[^}]*route="\/healthz"[^}]*\} \d+$/m);

    const anonymous = await request(server.baseUrl, 'GET', '/api/v1/tickets');
    expect(anonymous.status).toBe(401);
    expect(anonymous.contentType).toMatch(/^application\/problem\+json/);
    expect(anonymous.json).toMatchObject({ status: 401, code: 'unauthorized', type: 'urn:deskhook:problem:unauthorized' });
  });

  it('`user create` and `api-key create` on the same data dir give a user who logs in and a key that authenticates', async () => {
    const env = childEnv({ DESKHOOK_DATA_DIR: dataDir, DESKHOOK_LOG_LEVEL: 'info' });
    const created = await runDeskhook(['user', 'create', '--email', 'x@example.com', '--role', 'agent', '--password', 'longenough1'], env);
    expect(created.code, JSON.stringify(created)).toBe(0);
    expect(created.stdout).toMatch(/created user \d+ x@example\.com \(agent\)/);
    expect(created.stdout).not.toContain('longenough1');

    const res = await login(server.baseUrl, 'x@example.com', 'longenough1');
    expect(res.status, res.text).toBe(200);
    expect(res.json.user).toMatchObject({ email: 'x@example.com', role: 'agent' });

    const [keyRun, unknownUser] = await Promise.all([
      runDeskhook(['api-key', 'create', '--user', 'x@example.com'], env),
      runDeskhook(['api-key', 'create', '--user', 'nobody@example.com'], env),
    ]);
    expect(keyRun.code, JSON.stringify(keyRun)).toBe(0);
    // On a migrated data dir the key is all there is on stdout, so `$(deskhook api-key create …)` works.
    expect(keyRun.stdout).toMatch(/^dhk_[A-Za-z0-9_-]{20,}\n$/);
    const key = keyRun.stdout.trim();

    const tickets = await request(server.baseUrl, 'GET', '/api/v1/tickets', { token: key });
    expect(tickets.status, tickets.text).toBe(200);
    expect(tickets.json).toMatchObject({ items: [] });

    const bogus = await request(server.baseUrl, 'GET', '/api/v1/tickets', { token: key.slice(0, -2) + 'zz' });
    expect(bogus.status).toBe(401);

    expect(unknownUser.code).not.toBe(0);
    expect(unknownUser.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknownUser.stderr).toContain('nobody@example.com');
  });

  it('SIGTERM when idle: exits 0 within a few seconds, logs "stopped" and frees the port', async () => {
    const started = Date.now();
    const exit = await stopServer(server, 10_000);
    expect(exit, server.child.describe()).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5_000);
    const messages = server.child.logLines().map((l) => l.msg);
    expect(messages).toContain('signal received');
    expect(messages.at(-1)).toBe('stopped');
    expect(await isPortFree(server.port)).toBe(true);
  });

  describe('second start on the same data dir', () => {
    let second: RunningServer;
    beforeAll(async () => {
      second = await startServer({ dataDir });
    });

    it('prints no password, keeps the first password and the users created meanwhile', async () => {
      expect(second.child.stdout).not.toContain('password');
      expect(second.child.stdout).not.toContain(password);
      expect(second.child.logLines().map((l) => l.msg)).not.toContain('created the first admin');
      // Same key file, not regenerated.
      expect(second.child.logLines().map((l) => l.msg)).not.toContain('generated the secret key; back it up with the database');

      const admin = await login(second.baseUrl, GENERATED_ADMIN, password);
      expect(admin.status, admin.text).toBe(200);
      const agent = await login(second.baseUrl, 'x@example.com', 'longenough1');
      expect(agent.status, agent.text).toBe(200);
    });

    it('SIGTERM with a request in flight: the request is answered, then the process exits 0 and frees the port', async () => {
      const child = second.child;
      const requestId = `inflight-${randomBytes(4).toString('hex')}`;
      const body = JSON.stringify({ email: GENERATED_ADMIN, password });

      const socket = connect(second.port, '127.0.0.1');
      await once(socket, 'connect');
      let response = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => { response += chunk; });
      socket.on('error', () => undefined);
      // Headers and half of the body: the server has the request but cannot finish it yet.
      // `Connection: close`: a keep-alive client holds the shutdown open (see the skipped test below).
      socket.write(
        `POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1:${second.port}\r\nContent-Type: application/json\r\n` +
        `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\n\r\n${body.slice(0, 10)}`,
      );
      await child.waitForStdout(new RegExp(`"reqId":"${requestId}".*"msg":"incoming request"`));

      child.signal('SIGTERM');
      await child.waitForStdout(/"msg":"shutting down/);
      // No new connections meanwhile…
      const deadline = Date.now() + 5_000;
      while (!(await connectionRefused(second.port)) && Date.now() < deadline) await sleep(50);
      expect(await connectionRefused(second.port)).toBe(true);
      // …but it waits for the request it has.
      await sleep(300);
      expect(child.running, child.describe()).toBe(true);

      socket.write(body.slice(10));
      const answerDeadline = Date.now() + 10_000;
      while (!/\r\n\r\n[\s\S]*\}$/.test(response) && Date.now() < answerDeadline) await sleep(20);
      expect(response).toMatch(/^HTTP\/1\.1 200 /);
      expect(response).toMatch(/"token":"dhs_/);

      const started = Date.now();
      const exit = await child.waitForExit(10_000);
      socket.destroy();
      expect(exit, child.describe()).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(child.logLines().map((l) => l.msg).at(-1)).toBe('stopped');
      expect(child.stdout).not.toContain('shutdown timed out');
      expect(await isPortFree(second.port)).toBe(true);
    });
  });
});

describe('embedded first start with DESKHOOK_ADMIN_EMAIL / DESKHOOK_ADMIN_PASSWORD', () => {
  afterEach(killAll);

  it('creates that admin and prints no password', async () => {
    const adminPassword = `pw-${randomBytes(8).toString('hex')}`;
    const server = await startServer({
      dataDir: tempDir(),
      env: { DESKHOOK_ADMIN_EMAIL: 'boss@example.com', DESKHOOK_ADMIN_PASSWORD: adminPassword },
    });
    expect(server.child.stdout).not.toMatch(/password/i);
    expect(server.child.stdout).not.toContain(adminPassword);
    expect(server.child.logLines().find((l) => l.msg === 'created the first admin')).toMatchObject({ email: 'boss@example.com' });

    const res = await login(server.baseUrl, 'boss@example.com', adminPassword);
    expect(res.status, res.text).toBe(200);
    expect(res.json.user).toMatchObject({ email: 'boss@example.com', role: 'admin' });
    // No second, generated admin.
    expect((await login(server.baseUrl, GENERATED_ADMIN, adminPassword)).status).toBe(401);
  });
});

describe('configuration errors stop `serve` with one line naming the key', () => {
  const dataDir = tempDir();
  const brokenJson = join(dataDir, 'broken.json');
  const unknownKey = join(dataDir, 'unknown.json');
  const badValue = join(dataDir, 'bad-value.json');
  writeFileSync(brokenJson, '{ "PORT": 3000, ');
  writeFileSync(unknownKey, JSON.stringify({ PORT: 3000, DESKHOOK_LOG_LEVLE: 'debug' }));
  writeFileSync(badValue, JSON.stringify({ DESKHOOK_TOKEN_TTL_HOURS: 0 }));
  afterAll(killAll);

  const serveWith = async (env: Record<string, string | undefined>) => {
    const port = await freePort();
    return runDeskhook(['serve'], childEnv({
      PORT: String(port), DESKHOOK_SMTP_PORT: String(await freePort()), DESKHOOK_DATA_DIR: join(dataDir, 'data'),
      DESKHOOK_LOG_LEVEL: 'info', ...env,
    }));
  };

  // Concurrent: each run is 2 s of loading sources, and they are independent.
  it.concurrent.each([
    { name: 'PORT=abc', env: { PORT: 'abc' }, key: 'PORT' },
    { name: 'DESKHOOK_LOG_LEVEL=loud', env: { DESKHOOK_LOG_LEVEL: 'loud' }, key: 'DESKHOOK_LOG_LEVEL' },
    { name: 'DESKHOOK_SECRET_KEY too short', env: { DESKHOOK_SECRET_KEY: 'tooshort-s3cr3t' }, key: 'DESKHOOK_SECRET_KEY' },
    { name: 'config file with an unknown key', env: { DESKHOOK_CONFIG: unknownKey }, key: 'DESKHOOK_LOG_LEVLE' },
    { name: 'config file with broken JSON', env: { DESKHOOK_CONFIG: brokenJson }, key: 'DESKHOOK_CONFIG' },
    { name: 'config file with a bad value', env: { DESKHOOK_CONFIG: badValue }, key: 'DESKHOOK_TOKEN_TTL_HOURS' },
  ])('$name', async ({ env, key }) => {
    const result = await serveWith(env);
    expectOneLineConfigError(result, key);
    // A secret's value is never echoed back.
    expect(result.stderr).not.toContain('tooshort-s3cr3t');
  }, 30_000);
});

// Concurrent: every run waits for (or kills) its own process; an afterEach(killAll) here would
// kill the runs of the other tests.
describe('CLI help', () => {
  it.concurrent.each([
    { args: ['--help'], expected: [/^Usage: deskhook /m, /serve/, /migrate/, /user/, /api-key/] },
    { args: ['serve', '--help'], expected: [/^Usage: deskhook serve/m, /--role <role>/, /"worker"/] },
    { args: ['migrate', '--help'], expected: [/^Usage: deskhook migrate/m, /migrations/] },
    { args: ['user', 'create', '--help'], expected: [/^Usage: deskhook user create/m, /--email <email>/, /--role <role>/, /--password <password>/] },
    { args: ['api-key', 'create', '--help'], expected: [/^Usage: deskhook api-key create/m, /--user <email>/, /API key/] },
  ])('deskhook $args', async ({ args, expected }) => {
    const result = await runDeskhook(args, childEnv({ DESKHOOK_DATA_DIR: tempDir() }));
    expect(result.code, JSON.stringify(result)).toBe(0);
    for (const pattern of expected) expect(result.stdout).toMatch(pattern);
    expect(result.stderr).toBe('');
  }, 30_000);
});

describe('CLI commands', () => {
  afterEach(killAll);

  it('`migrate` applies the migrations on a fresh data dir, then reports it is up to date', async () => {
    const dataDir = tempDir();
    const env = childEnv({ DESKHOOK_DATA_DIR: dataDir, DESKHOOK_LOG_LEVEL: 'info' });
    const first = await runDeskhook(['migrate'], env);
    expect(first.code, JSON.stringify(first)).toBe(0);
    expect(first.stdout).toMatch(/^applied: \d{4}-\S+/m);
    expect(existsSync(join(dataDir, 'deskhook.sqlite'))).toBe(true);

    const second = await runDeskhook(['migrate'], env);
    expect(second.code, JSON.stringify(second)).toBe(0);
    expect(second.stdout).toMatch(/up to date/);
    expect(second.stdout).not.toMatch(/applied:/);
  }, 30_000);

  it('`npm start -- --role worker` passes the role through: health endpoints, no API', async () => {
    const server = await startServer({ dataDir: tempDir(), viaNpm: true, args: ['--role', 'worker'] });
    expect(server.child.logLines().find((l) => l.msg === 'deskhook is up')).toMatchObject({ role: 'worker', port: server.port });
    expect(server.child.stdout).toContain('"role":"worker"');

    expect((await request(server.baseUrl, 'GET', '/healthz')).json).toEqual({ status: 'ok' });
    expect((await request(server.baseUrl, 'GET', '/readyz')).status).toBe(200);
    expect((await request(server.baseUrl, 'GET', '/metrics')).text).toContain('deskhook_http_request_duration_seconds');

    const tickets = await request(server.baseUrl, 'GET', '/api/v1/tickets');
    expect(tickets.status).toBe(404);
    expect(tickets.contentType).toMatch(/^application\/problem\+json/);
    expect(tickets.json).toMatchObject({ code: 'route_not_found', status: 404 });
  }, 30_000);
});

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL', () => {
  const database = `dh_proc_${randomBytes(6).toString('hex')}`;
  let databaseUrl: string;

  const admin = withAdminClient;

  beforeAll(async () => {
    await admin((c) => c.query(`create database ${database}`));
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
  });
  afterEach(killAll);
  afterAll(async () => {
    await killAll();
    await admin((c) => c.query(`drop database if exists ${database} with (force)`));
  });

  it('refuses to start without DESKHOOK_SECRET_KEY, naming it', async () => {
    const dataDir = tempDir();
    const result = await runDeskhook(['serve'], childEnv({
      PORT: String(await freePort()), DESKHOOK_SMTP_PORT: String(await freePort()), DESKHOOK_DATA_DIR: dataDir,
      DESKHOOK_LOG_LEVEL: 'info', DATABASE_URL: databaseUrl,
    }));
    expectOneLineConfigError(result, 'DESKHOOK_SECRET_KEY');
    // The database URL (it may hold a password) is not echoed.
    expect(result.stderr).not.toContain(database);
    expect(existsSync(join(dataDir, 'secret.key'))).toBe(false);
  }, 30_000);

  it('serves on a fresh database: /readyz 200 and the admin from the environment logs in', async () => {
    const dataDir = tempDir();
    const adminPassword = `pw-${randomBytes(8).toString('hex')}`;
    const server = await startServer({
      dataDir,
      env: {
        DATABASE_URL: databaseUrl,
        DESKHOOK_SECRET_KEY: randomBytes(32).toString('base64'),
        DESKHOOK_ADMIN_EMAIL: 'pg-admin@example.com',
        DESKHOOK_ADMIN_PASSWORD: adminPassword,
      },
    });
    expect(server.child.logLines().find((l) => l.msg === 'deskhook is up')).toMatchObject({ database: 'postgres' });
    expect(server.child.stdout).not.toMatch(/password/i);

    const ready = await request(server.baseUrl, 'GET', '/readyz');
    expect(ready.status, ready.text).toBe(200);
    const res = await login(server.baseUrl, 'pg-admin@example.com', adminPassword);
    expect(res.status, res.text).toBe(200);
    expect(res.json.user).toMatchObject({ email: 'pg-admin@example.com', role: 'admin' });

    // Nothing embedded was created: no SQLite file, no generated key.
    expect(existsSync(join(dataDir, 'deskhook.sqlite'))).toBe(false);
    expect(existsSync(join(dataDir, 'secret.key'))).toBe(false);
    // The tables are in the test's database.
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const users = await client.query<{ email: string }>('select email from users');
      expect(users.rows.map((r) => r.email)).toEqual(['pg-admin@example.com']);
    } finally {
      await client.end();
    }

    const exit = await stopServer(server, 10_000);
    expect(exit, server.child.describe()).toEqual({ code: 0, signal: null });
  }, 40_000);
});

/** Edge cases of shutdown and first start that an operator meets. */
describe('shutdown and first-start edge cases', () => {
  afterEach(killAll);

  // Fastify only sends `Connection: close` for requests that arrive while closing; an in-flight
  // request on a keep-alive connection must not hold the process until the shutdown timeout.
  it('SIGTERM with a request in flight on a keep-alive connection exits promptly', async () => {
    const server = await startServer({
      dataDir: tempDir(),
      env: { DESKHOOK_ADMIN_EMAIL: 'a@example.com', DESKHOOK_ADMIN_PASSWORD: 'longenough1' },
    });
    const body = JSON.stringify({ email: 'a@example.com', password: 'longenough1' });
    const socket = connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => undefined);
    socket.write(
      `POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: keepalive-1\r\n\r\n${body.slice(0, 10)}`,
    );
    await server.child.waitForStdout(/"reqId":"keepalive-1".*"msg":"incoming request"/);
    server.child.signal('SIGTERM');
    await server.child.waitForStdout(/"msg":"shutting down/);
    socket.write(body.slice(10));
    const started = Date.now();
    const exit = await server.child.waitForExit(30_000);
    socket.destroy();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.child.stdout).not.toContain('shutdown timed out');
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 40_000);

  // A `deskhook user create` of an agent before the first `serve` must not leave the install
  // without an admin.
  it('`user create` before the first start still leaves the first start creating an admin', async () => {
    const dataDir = tempDir();
    const created = await runDeskhook(['user', 'create', '--email', 'x@example.com', '--password', 'longenough1'], childEnv({ DESKHOOK_DATA_DIR: dataDir }));
    expect(created.code).toBe(0);
    const server = await startServer({ dataDir });
    const password = generatedPassword(server.child.stdout);
    expect(password, server.child.describe()).not.toBeNull();
    expect((await login(server.baseUrl, GENERATED_ADMIN, password!)).status).toBe(200);
  }, 40_000);

  // A port in use is an operator's problem to fix: one line, no stack trace.
  it('a PORT already in use stops the start with one line naming the port, no stack trace', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await runDeskhook(['serve'], childEnv({
        PORT: String(port), DESKHOOK_SMTP_PORT: String(await freePort()), DESKHOOK_DATA_DIR: tempDir(), DESKHOOK_LOG_LEVEL: 'info',
      }));
      expect(result.code).not.toBe(0);
      const lines = result.stderr.trim().split('\n');
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toContain(String(port));
    } finally {
      blocker.close();
    }
  }, 40_000);
});
