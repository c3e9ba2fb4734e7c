import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Executor } from '../domain/executor.ts';
import { AesGcmSecretBox } from '../adapters/crypto/node-crypto.ts';
import { openDatabase, pendingMigrations, ping, type DatabaseHandle } from '../adapters/db/dialect.ts';
import { KyselyStore } from '../adapters/db/kysely-store.ts';
import { EgressPolicy, parseAllowList } from '../adapters/egress/address-policy.ts';
import { EgressClient } from '../adapters/egress/egress-client.ts';
import { NodemailerMailer } from '../adapters/mail-out/nodemailer-mailer.ts';
import { ConfigError, loadConfig, type Config } from '../config/load-config.ts';
import { databaseTarget, keyFitsDatabase, secretKeyFile } from './context.ts';
import { allPages } from '../app/all-pages.ts';

/** One line of `deskhook doctor`: what was checked, how it went, and what to do about it. */
export interface Finding {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

const TIMEOUT_MS = 10_000;

/** Whether a TCP port can be listened on (free), or the error that says why not. */
function portProblem(host: string, port: number): Promise<string | null> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    server.listen(port, host, () => server.close(() => done(null)));
  });
}

function withTimeout<T>(what: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([what, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); })]).finally(() => clearTimeout(timer));
}

/**
 * Checks what a start needs and what an operator gets wrong: the configuration, the database and
 * its migrations, the secret key, the ports, Redis, the egress policy against the hooks' targets,
 * and each email account's outbound SMTP server. Reads only: it creates no database, applies no
 * migration and sends no mail.
 */
export async function runDoctor(env: NodeJS.ProcessEnv = process.env): Promise<Finding[]> {
  const findings: Finding[] = [];
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    findings.push({ check: 'config', status: 'fail', detail: err.message, fix: `correct ${err.key} (docs/config.md lists every key with its allowed values)` });
    return findings;
  }
  const embedded = config.databaseUrl === null;
  findings.push({ check: 'config', status: 'ok', detail: embedded ? `embedded SQLite in ${resolve(config.dataDir)}` : 'PostgreSQL from DATABASE_URL' });

  // The secret key: where it comes from, and whether it opens this database (checked below).
  let secretKey: string | null = config.secretKey;
  const keyFile = secretKeyFile(config);
  if (!secretKey && !embedded) {
    findings.push({ check: 'secret key', status: 'fail', detail: 'DESKHOOK_SECRET_KEY is not set, and DATABASE_URL needs it', fix: 'generate one with `openssl rand -base64 32` and give every process the same value' });
  } else if (!secretKey && existsSync(keyFile)) {
    secretKey = readFileSync(keyFile, 'utf8').trim();
  }

  const target = databaseTarget(config);
  let handle: DatabaseHandle | null = null;
  if (target.kind === 'sqlite' && !existsSync(target.path)) {
    findings.push({ check: 'database', status: 'ok', detail: `no database yet at ${target.path}: the first start creates it (and the secret key beside it)` });
  } else {
    handle = openDatabase(target);
  }
  try {
    const pending = handle ? await checkDatabase(handle, config, secretKey, findings) : null;
    if (handle && pending) await checkTargets(handle, config, secretKey, pending, findings);
  } finally {
    await handle?.close();
  }

  for (const [name, port, needed] of [['HTTP port', config.port, true], ['SMTP port', config.smtpPort, config.role === 'all' || config.role === 'smtp']] as const) {
    if (!needed) continue;
    const problem = await portProblem(config.host, port);
    findings.push(problem === null
      ? { check: name, status: 'ok', detail: `${config.host}:${port} is free` }
      : { check: name, status: 'warn', detail: `${config.host}:${port} cannot be listened on (${problem})`, fix: problem === 'EADDRINUSE' ? `stop what uses it (a running deskhook?) or choose another ${name === 'HTTP port' ? 'PORT' : 'DESKHOOK_SMTP_PORT'}` : 'choose another port or DESKHOOK_HOST' });
  }

  if (config.redisUrl) {
    const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await withTimeout(redis.connect().then(() => redis.ping()), 5000, 'no answer within 5 s');
      findings.push({ check: 'redis', status: 'ok', detail: 'REDIS_URL answers PING' });
    } catch (err) {
      findings.push({ check: 'redis', status: 'fail', detail: `REDIS_URL: ${(err as Error).message}`, fix: 'start Redis or correct REDIS_URL (without it every process keeps its own ERP cache)' });
    } finally {
      redis.disconnect();
    }
  }
  return findings;
}

/** Reachability, migrations and the secret key; the pending migrations, or null when the database cannot be reached. */
async function checkDatabase(handle: DatabaseHandle, config: Config, secretKey: string | null, findings: Finding[]): Promise<string[] | null> {
  try {
    await withTimeout(ping(handle), TIMEOUT_MS, `no answer within ${TIMEOUT_MS / 1000} s`);
  } catch (err) {
    findings.push({ check: 'database', status: 'fail', detail: (err as Error).message, fix: config.databaseUrl ? 'start PostgreSQL or correct DATABASE_URL (host, port, user, database)' : `check that ${config.dataDir} is readable and writable` });
    return null;
  }
  const pending = await pendingMigrations(handle);
  findings.push(pending.length
    ? { check: 'database', status: 'warn', detail: `reachable; ${pending.length} migration(s) pending: ${pending.join(', ')}`, fix: 'the next start applies them, or run `deskhook migrate` first (after a backup)' }
    : { check: 'database', status: 'ok', detail: `reachable (${handle.kind}); every migration applied` });
  if (secretKey === null) {
    if (!config.databaseUrl) findings.push({ check: 'secret key', status: 'fail', detail: `the database exists but ${secretKeyFile(config)} does not`, fix: 'restore secret.key from the backup next to the database; without it sealed passwords and secrets cannot be opened' });
    return pending;
  }
  const fits = pending.includes('0001-core') ? null : await keyFitsDatabase(new KyselyStore(handle), new AesGcmSecretBox(secretKey)).catch(() => false);
  findings.push(fits === false
    ? { check: 'secret key', status: 'fail', detail: 'the key does not open what this database was sealed with', fix: 'start with the key from the backup (the data directory\'s secret.key, or the DESKHOOK_SECRET_KEY every process shares)' }
    : { check: 'secret key', status: 'ok', detail: fits ? 'opens this database\'s sealed values' : 'set; the first start seals with it' });
  return pending;
}

/** The egress policy against every hook's target, and each account's outbound SMTP server. */
async function checkTargets(handle: DatabaseHandle, config: Config, secretKey: string | null, pending: readonly string[], findings: Finding[]): Promise<void> {
  let policy: EgressPolicy;
  try {
    policy = new EgressPolicy(parseAllowList(config.egressAllow.join(',')));
  } catch (err) {
    findings.push({ check: 'egress policy', status: 'fail', detail: (err as Error).message, fix: 'DESKHOOK_EGRESS_ALLOW takes CIDRs or host names, separated by commas' });
    return;
  }
  findings.push({ check: 'egress policy', status: 'ok', detail: config.egressAllow.length ? `private addresses allowed: ${config.egressAllow.join(', ')}` : 'public addresses only (DESKHOOK_EGRESS_ALLOW is empty)' });
  // The accounts and hooks are read only from a database whose tables are current.
  if (pending.length) return;
  const store = new KyselyStore(handle);
  const egress = new EgressClient({ policy });
  const mailer = new NodemailerMailer({ policy, plaintextHosts: config.mailPlaintextHosts, connectionTimeoutMs: TIMEOUT_MS });
  try {
    const accounts = await allPages((page) => store.emailAccounts.list(page));
    const hooks = await allPages((page) => store.eventHooks.list(page));
    const targets: Array<[string, Executor | null]> = [
      ...accounts.flatMap((a) => [[`account ${a.id} (${a.address}) ticketUpdates`, a.webhooks.ticketUpdates], [`account ${a.id} (${a.address}) newEmails`, a.webhooks.newEmails]] as Array<[string, Executor | null]>),
      ...hooks.map((h) => [`event hook ${h.id} (${h.name})`, h.executor] as [string, Executor | null]),
    ];
    for (const [what, executor] of targets) {
      if (executor?.type !== 'apiCall') continue;
      const refused = egress.refusedLiteral(executor.url);
      if (refused) findings.push({ check: 'egress policy', status: 'fail', detail: `${what}: ${refused}`, fix: `add the address to DESKHOOK_EGRESS_ALLOW, or point the hook at a public address` });
    }
    const box = secretKey ? new AesGcmSecretBox(secretKey) : null;
    for (const account of accounts) {
      if (!account.outbound) continue;
      const name = `outbound SMTP of account ${account.id} (${account.address})`;
      let password: string | null = null;
      try {
        const sealed = (await store.emailAccounts.get(account.id))?.sealed.smtpPassword ?? null;
        password = sealed !== null && box ? box.open(sealed) : null;
      } catch {
        findings.push({ check: 'outbound SMTP', status: 'fail', detail: `${name}: its password cannot be opened with this secret key`, fix: 'start with the secret key the database was sealed with' });
        continue;
      }
      const { host, port, secure, user } = account.outbound;
      const problem = await mailer.verify({ host, port, secure, user, password });
      findings.push(problem === null
        ? { check: 'outbound SMTP', status: 'ok', detail: `${name}: ${host}:${port} accepts the account's settings` }
        : { check: 'outbound SMTP', status: 'fail', detail: `${name}: ${host}:${port}: ${problem}`, fix: 'check host, port, TLS (secure), user and password of the account\'s outbound server, and that this machine may reach it' });
    }
  } finally {
    mailer.close();
    await egress.close();
  }
}

/** The findings for a person at a terminal: one line each, the fix indented below a problem. */
export function formatFindings(findings: readonly Finding[]): string {
  const label = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
  const lines = findings.flatMap((f) => [`${label[f.status]}  ${f.check}: ${f.detail}`, ...(f.fix ? [`      fix: ${f.fix}`] : [])]);
  const failed = findings.filter((f) => f.status === 'fail').length;
  const warned = findings.filter((f) => f.status === 'warn').length;
  lines.push(failed ? `${failed} problem(s) to fix${warned ? `, ${warned} warning(s)` : ''}` : warned ? `no problem; ${warned} warning(s)` : 'everything checked is fine');
  return lines.join('\n') + '\n';
}
