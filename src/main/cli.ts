import { Command, Option } from 'commander';
import { createApiKey, createUser, listApiKeys, revokeApiKey, updateUser } from '../app/auth/users.ts';
import type { AppDeps } from '../app/deps.ts';
import type { User } from '../domain/user.ts';
import { AppError } from '../app/errors.ts';
import { API_KEY_SCOPES, type ApiKeyScope } from '../domain/user.ts';
import { ConfigError, loadConfig, type Role } from '../config/load-config.ts';
import { migrateToLatest, openDatabase } from '../adapters/db/dialect.ts';
import { createContext, createLogger, databaseTarget } from './context.ts';
import { serve, VERSION } from './serve.ts';
import { allPages } from '../app/all-pages.ts';

/** One clear line for the operator instead of a stack trace, for the errors an operator can fix. */
function fail(err: unknown): never {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (err instanceof ConfigError || err instanceof AppError) {
    process.stderr.write(`deskhook: ${err.message}\n`);
  } else if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    process.stderr.write(`deskhook: cannot listen on ${e.address ?? ''}:${e.port ?? ''} (${code}); choose another PORT / DESKHOOK_SMTP_PORT or stop what uses it\n`);
  } else {
    process.stderr.write(`deskhook: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  }
  process.exit(1);
}

async function withContext<T>(fn: (ctx: Awaited<ReturnType<typeof createContext>>) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // Commands print their result on stdout; routine log lines would get mixed into it.
  const ctx = await createContext(config, { logger: createLogger({ ...config, logLevel: 'warn' }) });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** `--expires`: `90d` (days from now), or an ISO date (midnight UTC) or date-time. */
function parseExpiry(value: string, now: Date): string {
  const days = /^(\d{1,5})d$/.exec(value.trim());
  const at = days ? now.getTime() + Number(days[1]) * 86_400_000 : /^\d{4}-\d{2}-\d{2}/.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (!Number.isFinite(at)) throw new AppError('validation_failed', `--expires ${value}: give a number of days (90d) or an ISO date or date-time (2027-01-31)`);
  return new Date(at).toISOString();
}

const program = new Command()
  .name('deskhook')
  .description('Self-hosted customer-service hub: email tickets, synchronous webhooks, events, live ERP data.')
  .version(VERSION);

program
  .command('serve')
  .description('Run deskhook: API and UI, SMTP, worker and scheduler (role all), or one of them')
  .addOption(new Option('--role <role>', 'what this process runs').choices(['all', 'api', 'worker', 'smtp']))
  .action(async (opts: { role?: Role }) => {
    const config = loadConfig();
    const server = await serve(config, opts.role ?? config.role);
    const onSignal = (signal: string) => {
      server.context.logger.info({ signal }, 'signal received');
      server.stop().then(() => process.exit(0), (err: unknown) => fail(err));
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });

program
  .command('demo')
  .description('Run deskhook with demo data, a demo ERP API, a webhook receiver and sample emails (data in ./data-demo, deleted at each start)')
  .action(async () => {
    const { runDemoCommand } = await import('./demo.ts');
    await runDemoCommand();
  });

program
  .command('migrate')
  .description('Apply pending database migrations and exit')
  .action(async () => {
    const handle = openDatabase(databaseTarget(loadConfig()));
    try {
      const applied = await migrateToLatest(handle);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'the database is up to date\n');
    } finally {
      await handle.close();
    }
  });

const user = program.command('user').description('Manage users');
user
  .command('create')
  .description('Create a user (admin or agent); service users authenticate with API keys only')
  .requiredOption('--email <email>', 'login e-mail')
  .option('--name <name>', 'display name')
  .addOption(new Option('--role <role>', 'role').choices(['admin', 'agent']).default('agent'))
  .option('--password <password>', 'password (at least 10 characters and hard to guess); read from DESKHOOK_NEW_PASSWORD when omitted')
  .option('--service', 'a service user for integrations (no password)')
  .action(async (opts: { email: string; name?: string; role: 'admin' | 'agent'; password?: string; service?: boolean }) => {
    const password = opts.password ?? process.env.DESKHOOK_NEW_PASSWORD;
    const created = await withContext((ctx) => createUser(ctx.deps, {
      email: opts.email, name: opts.name ?? opts.email, role: opts.role, service: opts.service ?? false,
      ...(password !== undefined && !opts.service ? { password } : {}),
    }));
    process.stdout.write(`created user ${created.id} ${created.email} (${created.role}${created.service ? ', service' : ''})\n`);
  });

/** Columns padded to their widest cell: a table for a person at a terminal. */
function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

async function userByEmail(deps: AppDeps, email: string): Promise<User> {
  const found = await deps.store.users.getByEmail(email.trim().toLowerCase());
  if (!found) throw new AppError('not_found', `no user with e-mail ${email}`);
  return found;
}

user
  .command('list')
  .description('List every user: id, e-mail, name, role, and whether it is a service user or disabled')
  .option('--json', 'one JSON object per line instead of a table')
  .action(async (opts: { json?: boolean }) => {
    const users = await withContext((ctx) => allPages((page) => ctx.deps.store.users.list(page)));
    if (opts.json) {
      process.stdout.write(users.map((u) => JSON.stringify(u)).join('\n') + (users.length ? '\n' : ''));
      return;
    }
    const state = (u: User) => [u.service ? 'service' : '', u.disabled ? 'disabled' : ''].filter(Boolean).join(', ') || 'active';
    process.stdout.write(table(['ID', 'E-MAIL', 'NAME', 'ROLE', 'STATE'], users.map((u) => [String(u.id), u.email, u.name, u.role, state(u)])));
  });

user
  .command('set-password')
  .description('Set a user\'s password (the same strength rule as everywhere); their sessions end')
  .requiredOption('--email <email>', 'the user')
  .option('--password <password>', 'the new password; read from DESKHOOK_NEW_PASSWORD when omitted (keeps it out of the shell history)')
  .action(async (opts: { email: string; password?: string }) => {
    const password = opts.password ?? process.env.DESKHOOK_NEW_PASSWORD;
    if (!password) throw new AppError('validation_failed', 'give the new password with --password or in DESKHOOK_NEW_PASSWORD');
    const changed = await withContext(async (ctx) => {
      const found = await userByEmail(ctx.deps, opts.email);
      if (found.service) throw new AppError('conflict', `${found.email} is a service user: it signs in with API keys only`);
      return updateUser(ctx.deps, found.id, { password });
    });
    process.stdout.write(`password of ${changed.email} changed; their sessions have ended\n`);
  });

for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
  user
    .command(name)
    .description(disabled
      ? 'Disable a user: they cannot sign in, their sessions and API keys end (the last active admin cannot be disabled)'
      : 'Enable a disabled user again (their old sessions and API keys stay revoked)')
    .requiredOption('--email <email>', 'the user')
    .action(async (opts: { email: string }) => {
      const changed = await withContext(async (ctx) => updateUser(ctx.deps, (await userByEmail(ctx.deps, opts.email)).id, { disabled }));
      process.stdout.write(`${changed.email} ${disabled ? 'disabled' : 'enabled'}\n`);
    });
}

const apiKey = program.command('api-key').description('Manage API keys');
apiKey
  .command('list')
  .description('List API keys (never the keys themselves): id, prefix, name, owner, scope, created, expires, last used')
  .option('--user <email>', 'only this user\'s keys')
  .option('--json', 'one JSON object per line instead of a table')
  .action(async (opts: { user?: string; json?: boolean }) => {
    const { keys, owners } = await withContext(async (ctx) => {
      const owner = opts.user === undefined ? null : await userByEmail(ctx.deps, opts.user);
      const keys = await allPages((page) => listApiKeys(ctx.deps, owner?.id ?? null, page));
      const owners = new Map((await allPages((page) => ctx.deps.store.users.list(page))).map((u) => [u.id, u.email]));
      return { keys, owners };
    });
    if (opts.json) {
      process.stdout.write(keys.map((k) => JSON.stringify({ ...k, user: owners.get(k.userId) ?? null })).join('\n') + (keys.length ? '\n' : ''));
      return;
    }
    const day = (at: string | null) => (at ? at.slice(0, 10) : '-');
    process.stdout.write(table(['ID', 'PREFIX', 'NAME', 'USER', 'SCOPE', 'CREATED', 'EXPIRES', 'LAST USED'],
      keys.map((k) => [String(k.id), `${k.prefix}…`, k.name, owners.get(k.userId) ?? String(k.userId), k.scope, day(k.createdAt), day(k.expiresAt), day(k.lastUsedAt)])));
  });

apiKey
  .command('revoke')
  .description('Revoke an API key by its id (see api-key list); it stops working at once')
  .argument('<id>', 'the key\'s id')
  .action(async (id: string) => {
    if (!/^\d{1,15}$/.test(id)) throw new AppError('validation_failed', `api-key revoke ${id}: give the key's id, a number (see deskhook api-key list)`);
    await withContext((ctx) => revokeApiKey(ctx.deps, Number(id)));
    process.stdout.write(`API key ${id} revoked\n`);
  });
apiKey
  .command('create')
  .description('Create an API key for a user and print it (it is shown only once)')
  .requiredOption('--user <email>', 'the user the key acts as')
  .option('--name <name>', 'what the key is for', 'cli')
  .addOption(new Option('--scope <scope>', 'read (GET only), agent, or admin (admins only); default: the user\'s role').choices([...API_KEY_SCOPES]))
  .option('--expires <when>', 'when the key stops working: a number of days (90d) or an ISO date or date-time; default: never')
  .action(async (opts: { user: string; name: string; scope?: ApiKeyScope; expires?: string }) => {
    const expiresAt = opts.expires === undefined ? null : parseExpiry(opts.expires, new Date());
    const key = await withContext(async (ctx) => {
      const owner = await userByEmail(ctx.deps, opts.user);
      return createApiKey(ctx.deps, owner.id, opts.name, { ...(opts.scope ? { scope: opts.scope } : {}), expiresAt });
    });
    process.stdout.write(`${key.key}\n`);
  });

program
  .command('doctor')
  .description('Check the configuration, database and migrations, secret key, ports, Redis, the egress policy and each account\'s outbound SMTP; exit 1 when something must be fixed')
  .option('--json', 'the findings as JSON')
  .action(async (opts: { json?: boolean }) => {
    const { formatFindings, runDoctor } = await import('./doctor.ts');
    const findings = await runDoctor();
    process.stdout.write(opts.json ? `${JSON.stringify(findings, null, 2)}\n` : formatFindings(findings));
    process.exitCode = findings.some((f) => f.status === 'fail') ? 1 : 0;
  });

program.parseAsync(process.argv).catch(fail);
