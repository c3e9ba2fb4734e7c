import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin, customCodeToken } from '../app/auth/users.ts';
import { reopenDueTickets } from '../app/tickets/reopen-due-tickets.ts';
import { processPendingInbound } from '../app/mail/ingest-inbound.ts';
import { nextTurn } from '../app/next-turn.ts';
import { sendQueuedMail } from '../app/mail/send-outbound.ts';
import { deliverLateWebhooks } from '../app/webhooks/deliver-late.ts';
import { createSmtpInbound } from '../adapters/smtp/inbound-server.ts';
import { ImapPoller } from '../adapters/imap/imap-poller.ts';
import { buildHttpApp } from '../adapters/http/app.ts';
import type { Config, Role } from '../config/load-config.ts';
import { createContext, databaseTarget, prettyLogs, type Context } from './context.ts';
import { Ticker } from './ticker.ts';
import { DeliveryWorker } from './delivery-worker.ts';
import { refreshStatistics } from '../adapters/db/dialect.ts';
import { registerEventMetrics } from './event-metrics.ts';
import { publishDueCronEvents, pruneEventHistory } from '../app/events/deliver-events.ts';

export const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

export interface RunningServer {
  context: Context;
  http: FastifyInstance;
  /** The HTTP port actually bound (useful with PORT=0). */
  port: number;
  /** The SMTP port bound, when this role receives mail. */
  smtpPort: number | null;
  stop(): Promise<void>;
}

const runsApi = (role: Role) => role === 'all' || role === 'api';
const runsWorker = (role: Role) => role === 'all' || role === 'worker';
const runsSmtp = (role: Role) => role === 'all' || role === 'smtp';

/** Prints the generated admin password once, to the terminal rather than into the JSON log. */
async function ensureAdmin(context: Context): Promise<void> {
  const created = await bootstrapAdmin(context.deps, context.config.adminEmail, context.config.adminPassword);
  if (!created) return;
  context.logger.info({ userId: created.user.id, email: created.user.email }, 'created the first admin');
  if (created.generatedPassword) {
    process.stdout.write(
      `\n  deskhook: first start, an admin was created\n    e-mail:   ${created.user.email}\n    password: ${created.generatedPassword}\n  This password is shown only now. Change it after logging in (or later: deskhook user set-password --email ${created.user.email}).\n\n`,
    );
  }
}

/** Where things are, for a person at a terminal: printed once the process is up (pretty logs only). */
function startBanner(config: Config, role: Role, port: number, smtpPort: number | null): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
  const base = `http://${host}:${port}`;
  const target = databaseTarget(config);
  const database = target.kind === 'postgres' ? `PostgreSQL ${withoutCredentials(target.url)}` : `SQLite ${target.path}`;
  const rows: Array<[string, string]> = [];
  if (runsApi(role)) rows.push(['UI', `${base}/`], ['API docs', `${base}/api/docs`]);
  rows.push(['health', `${base}/healthz`], ['metrics', `${base}/metrics`]);
  if (smtpPort !== null) rows.push(['SMTP', `${host}:${smtpPort}`]);
  rows.push(['data', resolve(config.dataDir)], ['database', database]);
  return `\n  deskhook ${VERSION} is up (role ${role})\n${rows.map(([k, v]) => `    ${k.padEnd(9)} ${v}`).join('\n')}\n\n`;
}

function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(DATABASE_URL)';
  }
}

/**
 * Starts one process in the given role: every role answers the health endpoints on PORT; `api`
 * serves the REST API and UI; `worker` runs scheduled work. `all` does everything in one process.
 */
export async function serve(config: Config, role: Role = config.role): Promise<RunningServer> {
  const context = await createContext(config);
  const { deps, logger } = context;
  // Before listening: a process that answers /healthz already has its admin.
  await ensureAdmin(context);

  const http = await buildHttpApp({
    deps,
    logger,
    registry: context.registry,
    bodyLimitBytes: config.bodyLimitBytes,
    ready: () => deps.store.ready(),
    version: VERSION,
    api: runsApi(role),
    webRoot: fileURLToPath(new URL('../../web/dist', import.meta.url)),
    trustProxy: config.trustProxy,
    metricsToken: config.metricsToken,
  });

  if (runsApi(role)) {
    // ctx.deskhook: custom code calls this API in-process, as the custom-code service user.
    let session: { token: string; expiresAt: string } | null = null;
    context.apiBridge.current = async (req) => {
      if (!session || Date.parse(session.expiresAt) - Date.now() < 300_000) session = await customCodeToken(deps);
      const res = await http.inject({
        method: req.method, url: `/api/v1${req.path.startsWith('/') ? req.path : `/${req.path}`}`,
        headers: { authorization: `Bearer ${session.token}` },
        ...(req.body !== undefined ? { payload: req.body as object } : {}),
      });
      let body: unknown = res.body;
      try { body = res.json(); } catch { /* not JSON: keep the text */ }
      return { status: res.statusCode, body };
    };
  }

  const tickers: Ticker[] = [];
  if (runsWorker(role)) {
    tickers.push(new Ticker('reopen-due-tickets', config.schedulerIntervalMs, async () => {
      const reopened = await reopenDueTickets(deps);
      if (reopened.length) logger.info({ tickets: reopened }, 'reopened pending tickets at dueBy');
    }, logger));
    tickers.push(new Ticker('expire-tokens', 3_600_000, () => deps.store.tokens.deleteExpired(deps.clock.now().toISOString()), logger));
    tickers.push(new Ticker('prune-login-attempts', 3_600_000, () => deps.store.loginThrottle.prune(new Date(deps.clock.now().getTime() - deps.auth.loginWindowSeconds * 1000).toISOString()), logger));
    tickers.push(new Ticker('ingest-inbound', 1000, async () => {
      // Drain: keep going while full batches come back.
      while ((await processPendingInbound(deps)).length > 0) await nextTurn();
    }, logger));
    tickers.push(new Ticker('send-outbound', 1000, () => sendQueuedMail(deps), logger));
  }
  const holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  if (runsWorker(role)) {
    // Synchronous hooks that failed under policy notify get their payload late (webhooks.deliverLate).
    tickers.push(new Ticker('deliver-late-webhooks', 1000, async () => {
      while ((await deliverLateWebhooks(deps, holder)) > 0) await nextTurn();
    }, logger));
  }
  const metrics = registerEventMetrics(context.registry, deps.store);
  const delivery = runsWorker(role)
    ? new DeliveryWorker({
      deps, holder, concurrency: config.eventConcurrency, pollMs: config.eventPollMs, leaseMs: config.eventTimeoutMs + 30_000,
      onAttempt: (outcome) => metrics.attempts.inc({ outcome }),
    })
    : null;
  if (runsWorker(role)) {
    // Every worker looks; the period key lets only one of them publish each period.
    tickers.push(new Ticker('cron-events', Math.min(config.schedulerIntervalMs, 15_000), async () => {
      const fired = await publishDueCronEvents(deps);
      if (fired.length) logger.info({ periods: fired }, 'published schedule events');
    }, logger));
    // Also at start: statistics current after a migration, a restore or a large import.
    tickers.push(new Ticker('refresh-statistics', 3_600_000, () => refreshStatistics(context.handle), logger));
    tickers.push(new Ticker('prune-events', 3_600_000, async () => {
      const pruned = await pruneEventHistory(deps, { eventDays: config.eventRetentionDays, deliveryDays: config.deliveryRetentionDays });
      if (pruned.events || pruned.deliveries) logger.info(pruned, 'pruned event history past retention');
    }, logger));
  }
  const ingest = tickers.find((t) => t.name === 'ingest-inbound');
  // Every worker runs one; each IMAP account is read only by the process holding its lease.
  const imap = runsWorker(role)
    ? new ImapPoller({
      deps, holder, pollSeconds: config.imapPollSeconds,
      maxMessageBytes: config.smtpMaxMessageBytes, onAccepted: () => ingest?.kick(), policy: context.egressPolicy,
    })
    : null;

  const smtp = runsSmtp(role)
    ? createSmtpInbound({ deps, maxMessageBytes: config.smtpMaxMessageBytes, tls: config.smtpTls, auth: config.smtpAuth, onAccepted: () => ingest?.kick() })
    : null;

  // Once shutdown begins, answers close their connection, so a keep-alive client does not hold
  // the process open until the shutdown timeout.
  let closing = false;
  http.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  let smtpPort: number | null = null;
  try {
    await http.listen({ port: config.port, host: config.host });
    if (smtp) {
      await new Promise<void>((resolve, reject) => {
        smtp.once('error', reject);
        smtp.listen(config.smtpPort, config.host, () => resolve());
      });
      // A client hanging up mid-session is the client's business, not a server error.
      smtp.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNRESET' || err.code === 'EPIPE') logger.debug({ err }, 'an SMTP client dropped its connection');
        else logger.error({ err }, 'SMTP server error');
      });
      smtpPort = (smtp.server.address() as { port: number }).port;
    }
  } catch (err) {
    await http.close();
    await context.close();
    throw err;
  }
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  for (const t of tickers) t.start();
  imap?.start();
  delivery?.start();
  logger.info({ role, port, smtpPort, database: context.handle.kind }, 'deskhook is up');
  if (prettyLogs(config)) process.stdout.write(startBanner(config, role, port, smtpPort));

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      closing = true;
      logger.info('shutting down: no new requests, finishing in-flight work');
      const deadline = setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; closing anyway');
        http.server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      deadline.unref();
      // SMTP first: a message half-received is answered 4xx by the client timing out, never lost.
      if (smtp) await new Promise<void>((resolve) => smtp.close(() => resolve()));
      await http.close();
      // Before the tickers: it finishes the message in flight, logs out and releases its leases.
      await imap?.stop();
      await Promise.all([...tickers.map((t) => t.stop()), delivery?.stop()]);
      await context.close();
      clearTimeout(deadline);
      logger.info('stopped');
    })();
    return stopping;
  };
  return { context, http, port, smtpPort, stop };
}
