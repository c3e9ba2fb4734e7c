import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { login as login_ } from '../src/app/auth/login.ts';
import { bootstrapAdmin } from '../src/app/auth/users.ts';
import { BACKENDS, openTestDatabase } from './support/backends.ts';
import { childEnv, removeTempDirs, runDeskhook, tempDir } from './support/process.ts';
import { makeDeps, PASSWORD, startTestApp, TestClock, type TestApp } from './support/test-app.ts';

// The test app allows 5 failed logins per e-mail address and per client address in 900 s.
const LIMIT = 5;
const WINDOW_SECONDS = 900;

describe.each(BACKENDS)('auth hardening on %s', (kind) => {
  let t: TestApp;
  beforeEach(async () => { t = await startTestApp(kind); });
  afterEach(async () => { await t.close(); });

  const login = (email: string, password: string, remoteAddress = '127.0.0.1') =>
    t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress });

  function tally(results: Array<{ statusCode: number; headers: Record<string, unknown> }>) {
    const checked = results.filter((r) => r.statusCode === 401).length;
    const refused = results.filter((r) => r.statusCode === 429);
    expect(checked + refused.length).toBe(results.length);
    for (const r of refused) {
      const retryAfter = Number(r.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    }
    return { checked, refused: refused.length };
  }

  describe('login throttling', () => {
    it('checks at most the limit of 50 parallel wrong passwords for one account; the owner is back after the window', async () => {
      // From many addresses, so only the per-account count can stop them.
      const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => login('agent@example.com', `wrong password ${i}`, `10.0.0.${i + 1}`)));
      const { checked, refused } = tally(burst);
      expect(checked).toBeLessThanOrEqual(LIMIT);
      expect(refused).toBeGreaterThanOrEqual(50 - LIMIT);
      // The right password is refused too while the account is locked …
      const locked = await login('agent@example.com', PASSWORD, '192.0.2.7');
      expect(locked.statusCode).toBe(429);
      // … but no longer than the window, however large the burst was.
      t.clock.advance(WINDOW_SECONDS * 1000 + 1000);
      expect((await login('agent@example.com', PASSWORD, '192.0.2.7')).statusCode).toBe(200);
    });

    it('checks at most the limit of 50 parallel wrong logins from one address, for any accounts', async () => {
      const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => login(`user${i}@example.com`, 'wrong password', '10.9.9.9')));
      const { checked, refused } = tally(burst);
      expect(checked).toBeLessThanOrEqual(LIMIT);
      expect(refused).toBeGreaterThanOrEqual(50 - LIMIT);
      expect((await login('agent@example.com', PASSWORD, '10.9.9.9')).statusCode).toBe(429);
      // Other addresses are not affected.
      expect((await login('agent@example.com', PASSWORD, '10.9.9.10')).statusCode).toBe(200);
    });

    it('holds across two processes sharing the database', async () => {
      const second = await t.db.reopen();
      const other = makeDeps(t.db, t.clock, { store: second.store, auth: t.deps.auth });
      const attempt = (i: number) => login_(i % 2 ? t.deps : other, 'agent@example.com', `wrong ${i}`, `10.7.0.${i}`).then(
        () => 200, (err: { status?: number }) => err.status ?? 500);
      const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => attempt(i)));
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(LIMIT);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(50 - LIMIT);
    });

    it("the owner's successful login neither erases an attacker's failures nor uses up the budget", async () => {
      for (let i = 0; i < LIMIT - 1; i++) expect((await login('agent@example.com', 'wrong password', '10.1.1.1')).statusCode).toBe(401);
      expect((await login('agent@example.com', PASSWORD, '10.2.2.2')).statusCode).toBe(200);
      // One failure is left in the window, then the account is locked.
      expect((await login('agent@example.com', 'wrong password', '10.3.3.3')).statusCode).toBe(401);
      expect((await login('agent@example.com', 'wrong password', '10.3.3.3')).statusCode).toBe(429);

      // Many successful logins from one address (an office behind one NAT) are never throttled.
      for (let i = 0; i < LIMIT * 2; i++) expect((await login('admin@example.com', PASSWORD, '10.4.4.4')).statusCode).toBe(200);
    });
  });

  describe('sessions end when they should', () => {
    it('a password change ends the other sessions of that user, keeps API keys, and the new password works', async () => {
      const second = (await login('agent@example.com', PASSWORD)).json().token as string;
      const key = (await t.api('POST', '/api/v1/api-keys', { userId: t.agentId, name: 'sync' })).json().key as string;
      const newPassword = 'a completely new passphrase';
      expect((await t.api('PATCH', `/api/v1/users/${t.agentId}`, { password: newPassword })).statusCode).toBe(200);
      for (const token of [t.agentToken, second]) expect((await t.api('GET', '/api/v1/auth/me', undefined, token)).statusCode).toBe(401);
      expect((await t.api('GET', '/api/v1/auth/me', undefined, key)).statusCode).toBe(200);
      expect((await login('agent@example.com', PASSWORD)).statusCode).toBe(401);
      expect((await login('agent@example.com', newPassword)).statusCode).toBe(200);

      // An admin changing their own password stays logged in in that session only.
      const otherAdminSession = (await login('admin@example.com', PASSWORD)).json().token as string;
      expect((await t.api('PATCH', `/api/v1/users/${t.adminId}`, { password: newPassword })).statusCode).toBe(200);
      expect((await t.api('GET', '/api/v1/auth/me')).statusCode).toBe(200);
      expect((await t.api('GET', '/api/v1/auth/me', undefined, otherAdminSession)).statusCode).toBe(401);
    });

    it('disabling ends sessions and API keys for good: enabling again revives neither', async () => {
      const key = (await t.api('POST', '/api/v1/api-keys', { userId: t.agentId, name: 'sync' })).json().key as string;
      expect((await t.api('GET', '/api/v1/tickets', undefined, key)).statusCode).toBe(200);
      expect((await t.api('PATCH', `/api/v1/users/${t.agentId}`, { disabled: true })).statusCode).toBe(200);
      expect((await t.api('PATCH', `/api/v1/users/${t.agentId}`, { disabled: false })).statusCode).toBe(200);
      expect((await t.api('GET', '/api/v1/tickets', undefined, t.agentToken)).statusCode).toBe(401);
      expect((await t.api('GET', '/api/v1/tickets', undefined, key)).statusCode).toBe(401);
      expect((await t.api('GET', `/api/v1/api-keys?userId=${t.agentId}`)).json().items).toEqual([]);
      // The user logs in afresh.
      expect((await login('agent@example.com', PASSWORD)).statusCode).toBe(200);
    });

    it('a role change ends the sessions of that user', async () => {
      expect((await t.api('PATCH', `/api/v1/users/${t.agentId}`, { role: 'admin' })).statusCode).toBe(200);
      expect((await t.api('GET', '/api/v1/auth/me', undefined, t.agentToken)).statusCode).toBe(401);
      const fresh = (await login('agent@example.com', PASSWORD)).json().token as string;
      expect((await t.api('GET', '/api/v1/api-keys', undefined, fresh)).statusCode).toBe(200);
      expect((await t.api('PATCH', `/api/v1/users/${t.agentId}`, { role: 'agent' })).statusCode).toBe(200);
      expect((await t.api('GET', '/api/v1/api-keys', undefined, fresh)).statusCode).toBe(401);
    });
  });

  describe('API key scope and expiry', () => {
    const createKey = (body: Record<string, unknown>) => t.api('POST', '/api/v1/api-keys', { name: 'k', ...body });

    it('read keys only read, agent keys do what agents do, and a key never exceeds its owner', async () => {
      const read = await createKey({ userId: t.adminId, scope: 'read' });
      expect(read.statusCode).toBe(201);
      expect(read.json().apiKey).toMatchObject({ scope: 'read', expiresAt: null });
      const readKey = read.json().key as string;
      expect((await t.api('GET', '/api/v1/tickets', undefined, readKey)).statusCode).toBe(200);
      expect((await t.api('GET', '/api/v1/api-keys', undefined, readKey)).statusCode).toBe(200);
      const write = await t.api('PUT', '/api/v1/secrets/ERP_TOKEN', { value: 'x' }, readKey);
      expect(write.statusCode).toBe(403);
      expect(write.json().detail).toContain('read-only');
      expect((await t.api('POST', '/api/v1/api-keys', { userId: t.adminId, name: 'x' }, readKey)).statusCode).toBe(403);

      const agentKey = (await createKey({ userId: t.adminId, scope: 'agent' })).json().key as string;
      expect((await t.api('GET', '/api/v1/tickets', undefined, agentKey)).statusCode).toBe(200);
      expect((await t.api('GET', '/api/v1/api-keys', undefined, agentKey)).statusCode).toBe(403);
      expect((await t.api('GET', '/api/v1/auth/me', undefined, agentKey)).json()).toMatchObject({ email: 'admin@example.com', role: 'agent' });

      const adminKey = (await createKey({ userId: t.adminId, scope: 'admin' })).json().key as string;
      expect((await t.api('GET', '/api/v1/api-keys', undefined, adminKey)).statusCode).toBe(200);

      // An agent's key cannot be an admin key; by default a key has its owner's role.
      const tooMuch = await createKey({ userId: t.agentId, scope: 'admin' });
      expect(tooMuch.statusCode).toBe(400);
      expect(tooMuch.json().errors).toEqual([expect.objectContaining({ field: 'scope' })]);
      expect((await createKey({ userId: t.agentId })).json().apiKey.scope).toBe('agent');
      expect((await createKey({ userId: t.adminId })).json().apiKey.scope).toBe('admin');

      // Demoting the owner caps an admin key at once.
      const second = await t.api('POST', '/api/v1/users', { email: 'boss@example.com', name: 'Boss', role: 'admin', password: 'another strong passphrase' });
      expect(second.statusCode).toBe(201);
      const boss = (await login('boss@example.com', 'another strong passphrase')).json().token as string;
      expect((await t.api('PATCH', `/api/v1/users/${t.adminId}`, { role: 'agent' }, boss)).statusCode).toBe(200);
      expect((await t.api('GET', '/api/v1/api-keys', undefined, adminKey)).statusCode).toBe(403);
      expect((await t.api('GET', '/api/v1/tickets', undefined, adminKey)).statusCode).toBe(200);

      const listed = (await t.api('GET', '/api/v1/api-keys', undefined, boss)).json().items;
      expect(listed.map((k: { scope: string }) => k.scope)).toEqual(['read', 'agent', 'admin', 'agent', 'admin']);
    });

    it('a key with an expiry stops working then; an expiry in the past is refused', async () => {
      const expiresAt = new Date(t.clock.now().getTime() + 3_600_000).toISOString();
      const created = await createKey({ userId: t.agentId, expiresAt });
      expect(created.statusCode).toBe(201);
      expect(created.json().apiKey).toMatchObject({ expiresAt, scope: 'agent' });
      expect((await t.api('GET', '/api/v1/api-keys')).json().items).toEqual([expect.objectContaining({ expiresAt, scope: 'agent' })]);
      const key = created.json().key as string;
      expect((await t.api('GET', '/api/v1/tickets', undefined, key)).statusCode).toBe(200);
      t.clock.advance(3_600_000 + 1000);
      expect((await t.api('GET', '/api/v1/tickets', undefined, key)).statusCode).toBe(401);
      const past = await createKey({ userId: t.agentId, expiresAt: new Date(t.clock.now().getTime() - 1000).toISOString() });
      expect(past.statusCode).toBe(400);
      expect(past.json().errors).toEqual([expect.objectContaining({ field: 'expiresAt' })]);
    });
  });

  describe('passwords worth the name', () => {
    it('refuses guessable passwords with the reason and what to do, on create and on change', async () => {
      const cases: Array<[string, RegExp]> = [
        ['short', /at least 10 characters/],
        ['aaaaaaaaaa', /Repeated characters/i],
        ['password12', /commonly used password/i],
        ['qwertzuiop', /easy to guess|keyboard|common/i],
      ];
      for (const [password, reason] of cases) {
        const res = await t.api('POST', '/api/v1/users', { email: 'neu@example.com', name: 'Neu', role: 'agent', password });
        expect(res.statusCode, password).toBe(400);
        expect(res.json().code).toBe('validation_failed');
        expect(res.json().detail, password).toMatch(reason);
        expect(res.json().errors).toEqual([expect.objectContaining({ field: 'password' })]);
        expect(res.json().detail).not.toContain(password === 'short' ? 'never' : password);
      }
      // A password built from the user's own name or address is weak too.
      const own = await t.api('POST', '/api/v1/users', { email: 'mariannemustermann@example.com', name: 'Marianne Mustermann', role: 'agent', password: 'mariannemustermann' });
      expect(own.statusCode).toBe(400);
      const change = await t.api('PATCH', `/api/v1/users/${t.agentId}`, { password: 'password12' });
      expect(change.statusCode).toBe(400);
      expect(change.json().detail).toMatch(/passphrase|password manager/);
      expect((await t.api('POST', '/api/v1/users', { email: 'neu@example.com', name: 'Neu', role: 'agent', password: 'quiet lantern orbit 42' })).statusCode).toBe(201);
    });

    it('a generated first-start admin password passes the policy', async () => {
      const db = await openTestDatabase(kind);
      try {
        const created = await bootstrapAdmin(makeDeps(db, new TestClock()), null, null);
        expect(created?.generatedPassword).toBeTruthy();
      } finally {
        await db.cleanup();
      }
    });
  });
});

describe('CLI: password policy, key scope and expiry', () => {
  afterAll(() => removeTempDirs());

  it('`user create` refuses a weak password with the reason; `api-key create --scope --expires` makes a limited key', async () => {
    const env = childEnv({ DESKHOOK_DATA_DIR: tempDir() });
    const weak = await runDeskhook(['user', 'create', '--email', 'w@example.com', '--password', 'password12'], env);
    expect(weak.code).toBe(1);
    expect(weak.stderr).toMatch(/commonly used password/i);
    const ok = await runDeskhook(['user', 'create', '--email', 'w@example.com', '--role', 'admin', '--password', 'quiet lantern orbit 42'], env);
    expect(ok.code, ok.stderr).toBe(0);
    const key = await runDeskhook(['api-key', 'create', '--user', 'w@example.com', '--scope', 'read', '--expires', '30d'], env);
    expect(key.code, key.stderr).toBe(0);
    expect(key.stdout.trim()).toMatch(/^dhk_/);
    const bad = await runDeskhook(['api-key', 'create', '--user', 'w@example.com', '--expires', 'soon'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--expires/);
  }, 90_000);
});
