import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../src/app/auth/users.ts';
import { buildHttpApp } from '../src/adapters/http/app.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { createContext } from '../src/main/context.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { makeDeps, PASSWORD, TestClock } from './support/test-app.ts';

// Small leaks: query strings in logs, whatever a client sends as x-request-id, a database file
// others can read, an open /metrics.

type App = Awaited<ReturnType<typeof buildHttpApp>>;

describe.each(BACKENDS)('no small leaks on %s', (kind) => {
  let db: TestDatabase;
  const lines: Array<Record<string, any>> = [];
  const apps: App[] = [];
  let token: string;

  /** The HTTP app as serve builds it, its pino log captured line by line. */
  const start = async (metricsToken: string | null = null): Promise<App> => {
    const out = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); done(); } });
    const logger = pino({ level: 'info', redact: { paths: ['req.headers.authorization'], censor: '[redacted]' } }, out);
    const deps = makeDeps(db, new TestClock());
    const app = await buildHttpApp({ deps, logger, registry: new Registry(), bodyLimitBytes: 1_048_576, ready: async () => true, version: 'test', api: true, metricsToken });
    apps.push(app);
    if (!token) {
      await createUser(deps, { email: 'admin@example.com', name: 'Admin', role: 'admin', password: PASSWORD });
    }
    const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'admin@example.com', password: PASSWORD } });
    token = login.json().token;
    lines.length = 0;
    return app;
  };
  beforeAll(async () => { db = await openTestDatabase(kind); });
  afterEach(async () => {
    lines.length = 0;
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db.cleanup();
  });

  it('query strings are redacted in the request log', async () => {
    const app = await start();
    const secret = 'qs-secret-4f7c2a9e';
    await app.inject({ method: 'GET', url: `/api/v1/tickets?token=${secret}&q=erika%40example.com&limit=5`, headers: { authorization: `Bearer ${token}` } });
    await app.inject({ method: 'GET', url: `/api/v1/tickets?access_token=${secret}` });
    await app.inject({ method: 'GET', url: `/nowhere?token=${secret}` });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('erika');
    const urls = lines.filter((l) => l.msg === 'incoming request').map((l) => l.req.url);
    expect(urls).toEqual(['/api/v1/tickets?token=[redacted]&q=[redacted]&limit=[redacted]', '/api/v1/tickets?access_token=[redacted]', '/nowhere?token=[redacted]']);
  });

  it('an incoming x-request-id is kept only when short and plain', async () => {
    const app = await start();
    const idOf = async (value: string) => {
      lines.length = 0;
      await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'x-request-id': value } });
      await app.inject({ method: 'GET', url: '/api/v1/tickets', headers: { 'x-request-id': value } });
      const ids = [...new Set(lines.filter((l) => l.reqId !== undefined).map((l) => l.reqId as string))];
      return ids;
    };
    expect(await idOf('trace-01:ab.CD_9')).toEqual(['trace-01:ab.CD_9']);
    expect(await idOf('a'.repeat(64))).toEqual(['a'.repeat(64)]);
    for (const bad of ['a'.repeat(65), 'x"}, {"admin":true', 'id with spaces', 'ümlaut', '../../etc', '']) {
      const ids = await idOf(bad);
      expect(ids, bad).toHaveLength(2);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('/metrics needs the bearer token when DESKHOOK_METRICS_TOKEN is set, and is open when not', async () => {
    const open = await start();
    expect((await open.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    const guarded = await start('scrape-token-0123456789');
    for (const authorization of [undefined, 'Bearer wrong', 'Bearer scrape-token-01234567890', 'Basic c2NyYXBlOnRva2Vu', `Bearer ${token}`]) {
      const res = await guarded.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });
      expect(res.statusCode, String(authorization)).toBe(401);
      expect(res.json()).toMatchObject({ code: 'unauthorized' });
      expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(res.body).not.toContain('deskhook_');
    }
    const ok = await guarded.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-token-0123456789' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('deskhook_http_request_duration_seconds');
    // Health checks stay open for load balancers.
    expect((await guarded.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('the embedded database is readable by its owner only', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  const silent = pino({ level: 'silent' });
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('deskhook.sqlite, its -wal and -shm are created 0600 like secret.key; the directory is left as it was', async () => {
    const previous = process.umask(0o022);
    try {
      const dir = mkdtempSync(join(tmpdir(), 'deskhook-leaks-'));
      dirs.push(dir);
      const data = join(dir, 'data');
      mkdirSync(data, { mode: 0o750 });
      const context = await createContext(loadConfig({ DESKHOOK_DATA_DIR: data }), { logger: silent });
      try {
        await context.deps.store.settings.put('probe', 'x', new Date().toISOString());
        expect(mode(join(data, 'secret.key'))).toBe(0o600);
        expect(mode(join(data, 'deskhook.sqlite'))).toBe(0o600);
        expect(mode(join(data, 'deskhook.sqlite-wal'))).toBe(0o600);
        expect(mode(join(data, 'deskhook.sqlite-shm'))).toBe(0o600);
        expect(mode(data)).toBe(0o750);
      } finally {
        await context.close();
      }
    } finally {
      process.umask(previous);
    }
  });

  it('a database file from before, readable by others, is tightened to 0600', async () => {
    const previous = process.umask(0o022);
    try {
      const dir = mkdtempSync(join(tmpdir(), 'deskhook-leaks-'));
      dirs.push(dir);
      writeFileSync(join(dir, 'deskhook.sqlite'), '', { mode: 0o644 });
      const context = await createContext(loadConfig({ DESKHOOK_DATA_DIR: dir }), { logger: silent });
      try {
        await context.deps.store.settings.put('probe', 'x', new Date().toISOString());
        expect(mode(join(dir, 'deskhook.sqlite'))).toBe(0o600);
        expect(mode(join(dir, 'deskhook.sqlite-wal'))).toBe(0o600);
      } finally {
        await context.close();
      }
    } finally {
      process.umask(previous);
    }
  });
});
