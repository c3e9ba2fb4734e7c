import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, removeTempDirs, runDeskhook, startServer, stopServer, tempDir, type RunningServer } from './support/process.ts';

/**
 * What an operator does from a shell on the server: list users, reset a password, disable and
 * enable someone, list API keys and revoke one, without the UI or an admin token. Every command
 * works on the same data directory a running server uses, and the server sees the effect at once.
 */
describe('CLI: users and API keys', () => {
  let server: RunningServer | null = null;
  afterAll(async () => {
    if (server) await stopServer(server);
    removeTempDirs();
  });

  it('lists users, sets a password, disables and enables, lists and revokes API keys', async () => {
    const dataDir = tempDir();
    const env = childEnv({ DESKHOOK_DATA_DIR: dataDir });
    const admin = { email: 'chefin@example.com', password: 'quiet lantern orbit 42' };
    expect((await runDeskhook(['user', 'create', '--email', admin.email, '--name', 'Chefin', '--role', 'admin', '--password', admin.password], env)).code).toBe(0);
    expect((await runDeskhook(['user', 'create', '--email', 'anna@example.com', '--name', 'Anna Agentin', '--password', 'amber violin harbor 17'], env)).code).toBe(0);
    expect((await runDeskhook(['user', 'create', '--email', 'erp@example.com', '--name', 'ERP sync', '--service'], env)).code).toBe(0);

    const list = await runDeskhook(['user', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    const rows = list.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^ID\s+E-MAIL\s+NAME\s+ROLE\s+STATE$/);
    expect(rows.slice(1).map((r) => r.split(/\s{2,}/).slice(1))).toEqual([
      ['chefin@example.com', 'Chefin', 'admin', 'active'],
      ['anna@example.com', 'Anna Agentin', 'agent', 'active'],
      ['erp@example.com', 'ERP sync', 'agent', 'service'],
    ]);
    const json = (await runDeskhook(['user', 'list', '--json'], env)).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json.map((u) => u.email)).toEqual(['chefin@example.com', 'anna@example.com', 'erp@example.com']);
    expect(json.every((u) => !('passwordHash' in u))).toBe(true);

    server = await startServer({ dataDir, env: { DESKHOOK_DATA_DIR: dataDir } });
    const login = (email: string, password: string) => fetch(`${server!.baseUrl}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }),
    });
    const session = ((await (await login('anna@example.com', 'amber violin harbor 17')).json()) as { token: string }).token;
    const me = (token: string) => fetch(`${server!.baseUrl}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    expect(await me(session)).toBe(200);

    // A weak password is refused with the reason; a good one ends the user's sessions.
    const weak = await runDeskhook(['user', 'set-password', '--email', 'anna@example.com', '--password', 'password12'], env);
    expect(weak.code).toBe(1);
    expect(weak.stderr).toMatch(/commonly used password/i);
    const reset = await runDeskhook(['user', 'set-password', '--email', 'Anna@Example.com'], childEnv({ DESKHOOK_DATA_DIR: dataDir, DESKHOOK_NEW_PASSWORD: 'copper meadow signal 58' }));
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toMatch(/password of anna@example\.com changed/);
    expect(await me(session)).toBe(401);
    expect((await login('anna@example.com', 'amber violin harbor 17')).status).toBe(401);
    expect((await login('anna@example.com', 'copper meadow signal 58')).status).toBe(200);
    expect((await runDeskhook(['user', 'set-password', '--email', 'erp@example.com', '--password', 'copper meadow signal 58'], env)).stderr).toMatch(/service user/);
    expect((await runDeskhook(['user', 'set-password', '--email', 'nobody@example.com', '--password', 'copper meadow signal 58'], env)).stderr).toMatch(/no user with e-mail nobody@example\.com/);

    // API keys: listed without the key, revoked by id.
    const key = (await runDeskhook(['api-key', 'create', '--user', 'erp@example.com', '--name', 'erp sync', '--expires', '2030-01-31'], env)).stdout.trim();
    const keys = await runDeskhook(['api-key', 'list'], env);
    expect(keys.code, keys.stderr).toBe(0);
    const [header, row] = keys.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+PREFIX\s+NAME\s+USER\s+SCOPE\s+CREATED\s+EXPIRES\s+LAST USED$/);
    const cells = row!.split(/\s{2,}/);
    expect(cells.slice(1, 5)).toEqual([`${key.slice(0, 10)}…`, 'erp sync', 'erp@example.com', 'agent']);
    expect(cells[6]).toBe('2030-01-31');
    expect(keys.stdout).not.toContain(key);
    const tickets = () => fetch(`${server!.baseUrl}/api/v1/tickets`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
    expect(await tickets()).toBe(200);
    expect((await runDeskhook(['api-key', 'list', '--user', 'anna@example.com'], env)).stdout.trim().split('\n')).toHaveLength(1);
    expect((await runDeskhook(['api-key', 'revoke', 'seven'], env)).stderr).toMatch(/give the key's id/);
    const revoked = await runDeskhook(['api-key', 'revoke', cells[0]!], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await tickets()).toBe(401);
    expect((await runDeskhook(['api-key', 'revoke', cells[0]!], env)).stderr).toMatch(/API key \d+ does not exist/);

    // Disable and enable: sign-in refused while disabled; the last active admin stays.
    expect((await runDeskhook(['user', 'disable', '--email', 'anna@example.com'], env)).stdout).toMatch(/anna@example\.com disabled/);
    expect((await login('anna@example.com', 'copper meadow signal 58')).status).toBe(401);
    expect((await runDeskhook(['user', 'list'], env)).stdout).toMatch(/anna@example\.com\s+Anna Agentin\s+agent\s+disabled/);
    expect((await runDeskhook(['user', 'enable', '--email', 'anna@example.com'], env)).code).toBe(0);
    expect((await login('anna@example.com', 'copper meadow signal 58')).status).toBe(200);
    const last = await runDeskhook(['user', 'disable', '--email', admin.email], env);
    expect(last.code).toBe(1);
    expect(last.stderr).toMatch(/last active admin/);
  }, 180_000);
});
