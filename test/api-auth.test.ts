import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { notify } from '../src/app/notifications.ts';
import { BACKENDS } from './support/backends.ts';
import { PASSWORD, startTestApp, type TestApp } from './support/test-app.ts';

describe.each(BACKENDS)('authentication and roles on %s', (kind) => {
  let t: TestApp;
  beforeEach(async () => { t = await startTestApp(kind); });
  afterEach(async () => { await t.close(); });

  it('answers 401 problem+json without a token or with a wrong one', async () => {
    for (const token of [null, 'dhs_not-a-real-token-000000000', 'garbage']) {
      const res = await t.api('GET', '/api/v1/tickets', undefined, token);
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().code).toBe('unauthorized');
    }
  });

  it('lets agents work tickets and read the team, but not settings, user changes, secrets or keys (403)', async () => {
    expect((await t.api('GET', '/api/v1/tickets', undefined, t.agentToken)).statusCode).toBe(200);
    expect((await t.api('GET', '/api/v1/notifications', undefined, t.agentToken)).statusCode).toBe(200);
    expect((await t.api('GET', '/api/v1/users', undefined, t.agentToken)).json().items.map((u: any) => u.email)).toContain('admin@example.com');
    const forbidden: Array<[string, string, unknown?]> = [
      ['POST', '/api/v1/users', { email: 'x@example.com', name: 'x', role: 'admin', password: 'long enough pw' }],
      ['GET', '/api/v1/api-keys'], ['POST', '/api/v1/api-keys', { userId: 1, name: 'x' }],
      ['GET', '/api/v1/secrets'], ['PUT', '/api/v1/secrets/ERP_TOKEN', { value: 'x' }],
      ['GET', '/api/v1/email-accounts'], ['POST', '/api/v1/email-accounts', { name: 'x', address: 'x@example.com', inbound: { type: 'smtp' } }],
      ['GET', '/api/v1/events'],
    ];
    for (const [method, url, body] of forbidden) {
      const res = await t.api(method, url, body, t.agentToken);
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json().code).toBe('forbidden');
    }
  });

  it('stores passwords as scrypt hashes and API keys as digests only', async () => {
    const rows = await sql<{ password_hash: string }>`select password_hash from users where service = 0`.execute(t.db.handle.db);
    expect(rows.rows).toHaveLength(2);
    for (const r of rows.rows) {
      expect(r.password_hash).toMatch(/^scrypt\$/);
      expect(r.password_hash).not.toContain(PASSWORD);
    }
    const created = (await t.api('POST', '/api/v1/api-keys', { userId: t.agentId, name: 'erp sync' })).json();
    expect(created.key).toMatch(/^dhk_/);
    const stored = await sql<{ digest: string; prefix: string }>`select digest, prefix from access_tokens where kind = 'apiKey'`.execute(t.db.handle.db);
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0]!.digest).not.toContain(created.key);
    expect(created.key.startsWith(stored.rows[0]!.prefix)).toBe(true);
    // The key works until it is revoked.
    expect((await t.api('GET', '/api/v1/tickets', undefined, created.key)).statusCode).toBe(200);
    const list = (await t.api('GET', '/api/v1/api-keys')).json();
    expect(list.items).toEqual([expect.objectContaining({ name: 'erp sync', userId: t.agentId })]);
    expect(JSON.stringify(list)).not.toContain(created.key);
    expect((await t.api('DELETE', `/api/v1/api-keys/${created.apiKey.id}`)).statusCode).toBe(204);
    expect((await t.api('GET', '/api/v1/tickets', undefined, created.key)).statusCode).toBe(401);
  });

  it('throttles failed logins per address with 429 and Retry-After, even for the right password', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'agent@example.com', password: 'wrong password' } });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('invalid_credentials');
    }
    const blocked = await t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'agent@example.com', password: PASSWORD } });
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // The window passes.
    t.clock.advance(16 * 60_000);
    const ok = await t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'agent@example.com', password: PASSWORD } });
    expect(ok.statusCode).toBe(200);
  });

  it('does not tell unknown e-mail addresses from wrong passwords', async () => {
    const unknown = await t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'nobody@example.com', password: 'whatever' } });
    const wrong = await t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'agent@example.com', password: 'whatever' } });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual(wrong.json());
  });

  it('expires login tokens and revokes them on logout', async () => {
    expect((await t.api('GET', '/api/v1/auth/me', undefined, t.agentToken)).json()).toMatchObject({ email: 'agent@example.com', role: 'agent' });
    expect((await t.api('POST', '/api/v1/auth/logout', undefined, t.agentToken)).statusCode).toBe(204);
    expect((await t.api('GET', '/api/v1/auth/me', undefined, t.agentToken)).statusCode).toBe(401);
    t.clock.advance(13 * 3_600_000);
    expect((await t.api('GET', '/api/v1/auth/me', undefined, t.adminToken)).statusCode).toBe(401);
  });

  it('manages users: create, disable (tokens stop working), and never demotes the last admin', async () => {
    const created = await t.api('POST', '/api/v1/users', { email: 'Neu@Example.com', name: 'Neu', role: 'agent', password: 'a long password' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ email: 'neu@example.com', role: 'agent', disabled: false });
    expect(JSON.stringify(created.json())).not.toContain('password');
    expect((await t.api('POST', '/api/v1/users', { email: 'neu@example.com', name: 'x', role: 'agent', password: 'a long password' })).statusCode).toBe(409);
    expect((await t.api('POST', '/api/v1/users', { email: 'short@example.com', name: 'x', role: 'agent', password: 'short' })).statusCode).toBe(400);
    expect((await t.api('PATCH', `/api/v1/users/${t.agentId}`, { disabled: true })).statusCode).toBe(200);
    expect((await t.api('GET', '/api/v1/tickets', undefined, t.agentToken)).statusCode).toBe(401);
    const demote = await t.api('PATCH', `/api/v1/users/${t.adminId}`, { role: 'agent' });
    expect(demote.statusCode).toBe(409);
  });

  it('service users cannot log in with a password; they use API keys', async () => {
    const svc = (await t.api('POST', '/api/v1/users', { email: 'erp@example.com', name: 'ERP', role: 'agent', service: true })).json();
    expect(svc.service).toBe(true);
    const key = (await t.api('POST', '/api/v1/api-keys', { userId: svc.id, name: 'erp' })).json().key;
    expect((await t.api('GET', '/api/v1/auth/me', undefined, key)).json()).toMatchObject({ email: 'erp@example.com', service: true });
  });

  it('keeps secrets write-only and encrypted at rest', async () => {
    const value = 'sk_live_very_secret_value_123';
    expect((await t.api('PUT', '/api/v1/secrets/ERP_TOKEN', { value })).statusCode).toBe(200);
    const list = await t.api('GET', '/api/v1/secrets');
    expect(list.json().items).toEqual([expect.objectContaining({ key: 'ERP_TOKEN' })]);
    expect(list.body).not.toContain(value);
    const raw = await sql<{ value_sealed: string }>`select value_sealed from secrets`.execute(t.db.handle.db);
    expect(raw.rows[0]!.value_sealed).toMatch(/^v1:/);
    expect(raw.rows[0]!.value_sealed).not.toContain(value);
    expect(t.deps.secretBox.open(raw.rows[0]!.value_sealed)).toBe(value);
    expect((await t.api('PUT', '/api/v1/secrets/bad key!', { value })).statusCode).toBe(400);
    expect((await t.api('DELETE', '/api/v1/secrets/ERP_TOKEN')).statusCode).toBe(204);
    expect((await t.api('DELETE', '/api/v1/secrets/ERP_TOKEN')).statusCode).toBe(404);
  });

  it('lists notifications of the caller only and marks them read', async () => {
    await notify(t.deps, [t.agentId], { kind: 'webhook_failed', message: 'webhook for new emails failed on ticket 42: timeout after 5000 ms', ticketId: null, link: null });
    await notify(t.deps, [t.agentId, t.adminId], { kind: 'info', message: 'second', ticketId: null, link: null });
    const mine = (await t.api('GET', '/api/v1/notifications', undefined, t.agentToken)).json();
    expect(mine.unread).toBe(2);
    expect(mine.items.map((n: { message: string }) => n.message)).toEqual(['second', 'webhook for new emails failed on ticket 42: timeout after 5000 ms']);
    const marked = await t.api('POST', '/api/v1/notifications/read', { ids: [mine.items[0].id] }, t.agentToken);
    expect(marked.json()).toEqual({ marked: 1 });
    expect((await t.api('GET', '/api/v1/notifications?unread=true', undefined, t.agentToken)).json().items).toHaveLength(1);
    expect((await t.api('POST', '/api/v1/notifications/read', { all: true }, t.agentToken)).json()).toEqual({ marked: 1 });
    expect((await t.api('GET', '/api/v1/notifications', undefined, t.adminToken)).json().unread).toBe(1);
  });
});
