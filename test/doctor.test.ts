import { createServer as createTcpServer, type Server } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmailAccount } from '../src/app/email-accounts.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { createContext } from '../src/main/context.ts';
import { childEnv, freePort, removeTempDirs, runDeskhook, tempDir } from './support/process.ts';

/**
 * `deskhook doctor` as an operator runs it before a start or after a change: one line per check,
 * the fix under each problem, exit code 1 when something must be fixed. Everything here is real:
 * the data directory a server would use, an SMTP server on 127.0.0.1 that checks the login, a
 * port held by another process, Redis (up, and a port where none listens).
 */
describe('deskhook doctor', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    removeTempDirs();
  });

  it('a fresh data directory is fine; a wrong setup gets one line per problem with its fix', async () => {
    const dataDir = tempDir();
    const base = { DESKHOOK_DATA_DIR: dataDir, PORT: String(await freePort()), DESKHOOK_SMTP_PORT: String(await freePort()) };
    const fresh = await runDeskhook(['doctor'], childEnv(base));
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
    expect(fresh.stdout).toMatch(/^ok {4}database: no database yet at .*deskhook\.sqlite: the first start creates it/m);
    expect(fresh.stdout.trim().split('\n').at(-1)).toBe('everything checked is fine');

    // An SMTP server that takes one login, and accounts set up while a wider egress policy held.
    const smtp = new SMTPServer({
      authOptional: false, allowInsecureAuth: true, disabledCommands: ['STARTTLS'],
      onAuth: (auth, _session, done) => (auth.username === 'service' && auth.password === 'smtp-pass-456' ? done(null, { user: 'service' }) : done(new Error('535 5.7.8 authentication failed'))),
    });
    const smtpPort = await freePort();
    await new Promise<void>((resolve) => smtp.listen(smtpPort, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => smtp.close(() => resolve())));
    const ctx = await createContext(loadConfig({ ...base, DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32,10.0.0.0/8', DESKHOOK_LOG_LEVEL: 'silent' }));
    try {
      const outbound = (port: number, password: string) => ({ host: '127.0.0.1', port, secure: false, user: 'service', password, senderName: 'Stadtwerke' });
      await createEmailAccount(ctx.deps, { name: 'Service', address: 'service@stadtwerke.example', inbound: { type: 'smtp' }, outbound: outbound(smtpPort, 'smtp-pass-456') });
      await createEmailAccount(ctx.deps, { name: 'Wrong password', address: 'falsch@stadtwerke.example', inbound: { type: 'smtp' }, outbound: outbound(smtpPort, 'nope') });
      await createEmailAccount(ctx.deps, {
        name: 'Internal hook', address: 'intern@stadtwerke.example', inbound: { type: 'smtp' },
        webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url: 'http://10.20.30.40/hook', method: 'POST', headers: {} }, newEmails: null, failurePolicy: 'notify' },
      });
    } finally {
      await ctx.close();
    }

    const env = { ...base, DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32', DESKHOOK_MAIL_PLAINTEXT_HOSTS: '127.0.0.1' };
    const good = await runDeskhook(['doctor'], childEnv(env));
    const lines = good.stdout.trim().split('\n');
    expect(good.code).toBe(1);
    expect(lines).toContain('ok    database: reachable (sqlite); every migration applied');
    expect(lines).toContain('ok    secret key: opens this database\'s sealed values');
    expect(lines.some((l) => /^ok {4}outbound SMTP: outbound SMTP of account \d+ \(service@stadtwerke\.example\): 127\.0\.0\.1:\d+ accepts the account's settings$/.test(l))).toBe(true);
    expect(good.stdout).toMatch(/^FAIL {2}outbound SMTP: outbound SMTP of account \d+ \(falsch@stadtwerke\.example\): 127\.0\.0\.1:\d+: .*authentication failed\n {6}fix: check host, port, TLS/m);
    expect(good.stdout).toMatch(/^FAIL {2}egress policy: account \d+ \(intern@stadtwerke\.example\) ticketUpdates: .*10\.20\.30\.40.*\n {6}fix: add the address to DESKHOOK_EGRESS_ALLOW/m);
    expect(lines.at(-1)).toBe('2 problem(s) to fix');
    const json = JSON.parse((await runDeskhook(['doctor', '--json'], childEnv(env))).stdout) as Array<{ check: string; status: string }>;
    expect(json.filter((f) => f.status === 'fail').map((f) => f.check)).toEqual(['egress policy', 'outbound SMTP']);

    // Another secret key, a taken port, Redis down: each named, each with its fix.
    const holder: Server = createTcpServer();
    await new Promise<void>((resolve) => holder.listen(Number(base.PORT), '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const deadRedis = await freePort();
    const broken = await runDeskhook(['doctor'], childEnv({ ...env, DESKHOOK_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'), REDIS_URL: `redis://127.0.0.1:${deadRedis}` }));
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/^FAIL {2}secret key: the key does not open what this database was sealed with\n {6}fix: start with the key from the backup/m);
    expect(broken.stdout).toMatch(new RegExp(`^WARN {2}HTTP port: 127\\.0\\.0\\.1:${base.PORT} cannot be listened on \\(EADDRINUSE\\)\\n {6}fix: stop what uses it`, 'm'));
    expect(broken.stdout).toMatch(/^FAIL {2}redis: REDIS_URL: .*\n {6}fix: start Redis or correct REDIS_URL/m);
    const redis = await runDeskhook(['doctor'], childEnv({ ...env, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }));
    expect(redis.stdout).toContain('ok    redis: REDIS_URL answers PING');

    // A configuration error stops everything else: the key, the value, where to look.
    const config = await runDeskhook(['doctor'], childEnv({ ...base, PORT: 'eighty' }));
    expect(config.code).toBe(1);
    expect(config.stdout).toMatch(/^FAIL {2}config: config PORT: .*\n {6}fix: correct PORT/m);
  }, 180_000);
});
