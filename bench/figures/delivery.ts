import { createRequire } from 'node:module';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { Agent, request } from 'undici';
import type { AppDeps } from '../../src/app/deps.ts';
import { createEventHook } from '../../src/app/events/event-hooks.ts';
import { publish, type EventDraft } from '../../src/app/record-change.ts';
import { nodeIds } from '../../src/adapters/crypto/node-crypto.ts';
import { envelopeOf, type EventEnvelope } from '../../src/domain/event-hook.ts';
import { DeliveryWorker } from '../../src/main/delivery-worker.ts';
import { abba, quick, round3, rounded, startReceiver, type Benchmark, type Receiver, type SideStats } from '../harness.ts';
import { BENCH_DATABASE_URL, benchDeps, throwawaySchema } from '../support.ts';

const PGBOSS_VERSION = (createRequire(import.meta.url)('pg-boss/package.json') as { version: string }).version;

/** Deliveries per side and round, after one warm-up round of WARMUP per side. */
const DELIVERIES = quick(3000, 300);
const WARMUP = quick(500, 100);
/** Rounds per side, in ABBA order so drift hits both alike; the figure takes the medians. */
const ROUNDS = quick(6, 5);
/** Requests in flight on every side: DESKHOOK_EVENT_CONCURRENCY's default. */
const CONCURRENCY = 16;
/** PostgreSQL connections on both PostgreSQL sides: DESKHOOK_DATABASE_POOL_SIZE's default (pg-boss's is 10 too). */
const POOL_SIZE = 10;
/** Events per publishing transaction while the outbox is filled. */
const PUBLISH_CHUNK = 500;
/** A round that has not finished by then has stalled (a lost delivery would otherwise wait for its lease). */
const ROUND_DEADLINE_MS = 120_000;

function deadline(what: string): { promise: Promise<never>; passed(): boolean; clear(): void } {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ROUND_DEADLINE_MS / 1000} s`)), ROUND_DEADLINE_MS);
  });
  promise.catch(() => undefined);
  return { promise, passed: () => performance.now() - started > ROUND_DEADLINE_MS, clear: () => clearTimeout(timer) };
}

/** A TicketCreated event as createTicket publishes it: the ticket snapshot, about 0.8 KB of JSON in its envelope. */
function draft(i: number): EventDraft {
  const ticketId = 1000 + i;
  const at = '2026-11-28T10:00:00.000Z';
  const ticket = {
    id: ticketId, version: 1, externalTicketId: null, emailAccountId: 1, channel: 'email', subject: `Zählerstand und Abschlag ${i}`,
    from: 'erika.mustermann@example.com', fromName: 'Erika Mustermann', to: ['support@stadtwerke.example'],
    status: 'open', priority: 'medium', dueBy: null, firstResponseDueBy: '2026-11-29T10:00:00.000Z', agentId: null,
    tags: ['strom'], contractId: null, customerId: null, legitimationLevel: 0,
    createdAt: at, modifiedAt: at, closedAt: null, lastMessageAt: at,
  };
  return { type: 'TicketCreated', ticketId, userId: null, data: { ticketId, ticket } };
}

/** The envelopes the baselines send: what envelopeOf makes of the drafts deskhook publishes, with fresh ids (same bytes). */
function envelopes(n: number): EventEnvelope[] {
  const createdAt = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => envelopeOf({ ...draft(i), id: nodeIds.eventId(), createdAt }));
}

async function post(url: string, agent: Agent, envelope: unknown): Promise<void> {
  const res = await request(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
  await res.body.dump();
  if (res.statusCode !== 204) throw new Error(`receiver answered ${res.statusCode}`);
}

/** CONCURRENCY lanes, each posting the next envelope as soon as its previous answer is in. */
async function bareLoop(url: string, agent: Agent, items: EventEnvelope[]): Promise<number> {
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < items.length) await post(url, agent, items[next++]);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return performance.now() - started;
}

interface DeskhookSide {
  deps: AppDeps;
  close(): Promise<void>;
}

async function deskhookSide(kind: 'sqlite' | 'postgres', url: string): Promise<DeskhookSide> {
  const { deps, close } = await benchDeps({ kind, poolSize: POOL_SIZE });
  await createEventHook(deps, { name: 'bench receiver', events: ['TicketCreated'], executor: { type: 'apiCall', url, method: 'POST', headers: {} } }, null);
  return { deps, close };
}

let deskhookRounds = 0;

/**
 * Fills the outbox with `n` events (one pending delivery each, written by publish's fan-out),
 * then times a DeliveryWorker as `serve` runs it from start until every delivery is recorded as
 * succeeded.
 */
async function deskhookRound(deps: AppDeps, n: number): Promise<number> {
  let offset = 0;
  while (offset < n) {
    const size = Math.min(PUBLISH_CHUNK, n - offset);
    const drafts = Array.from({ length: size }, (_, i) => draft(offset + i));
    await deps.store.transaction((tx) => publish(tx, deps, drafts));
    offset += size;
  }
  const queued = await deps.store.deliveries.stats();
  if (queued.pending !== n) throw new Error(`expected ${n} pending deliveries, found ${queued.pending}`);
  let succeeded = 0;
  let failed = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => { finish = resolve; });
  const worker = new DeliveryWorker({
    deps, holder: `bench-${++deskhookRounds}`, concurrency: CONCURRENCY, pollMs: 50, leaseMs: 45_000,
    onAttempt: (outcome) => {
      if (outcome === 'succeeded') succeeded++;
      else failed++;
      if (succeeded + failed === n) finish();
    },
  });
  const limit = deadline('a deskhook round');
  const started = performance.now();
  worker.start();
  try {
    await Promise.race([done, limit.promise]);
  } finally {
    limit.clear();
    await worker.stop();
  }
  const elapsed = performance.now() - started;
  if (failed) throw new Error(`${failed} deskhook deliveries failed`);
  const left = await deps.store.deliveries.stats();
  if (left.pending !== 0) throw new Error(`${left.pending} deliveries still pending after every attempt succeeded`);
  return elapsed;
}

interface BossLayout {
  /** work() calls on the queue. */
  workers: number;
  /** Jobs each fetch takes; the handler posts them all at once. */
  batchSize: number;
}

/**
 * Ways of keeping 16 requests in flight with pg-boss 10, from one job per worker (deskhook's own
 * shape) to one worker taking 16 jobs per fetch; the figure is read against the fastest. Each
 * layout has a queue (a partition of pg-boss's job table) of its own, so every side's table grows
 * at the same pace.
 */
const BOSS_LAYOUTS: BossLayout[] = [{ workers: 16, batchSize: 1 }, { workers: 4, batchSize: 4 }, { workers: 1, batchSize: 16 }];

const layoutName = (layout: BossLayout) => `${layout.workers}x${layout.batchSize}`;

interface BossSide {
  boss: PgBoss;
  schema: string;
  agent: Agent;
  waitClient: pg.Client;
  close(): Promise<void>;
}

/**
 * deskhook's database adapter sets process-wide pg type parsers (jsonb as text, int8 as number);
 * pg-boss gets node-postgres' own defaults back, so its handlers see `job.data` parsed as usual.
 */
const PG_DEFAULT_TYPES = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 3802 || oid === 114
    ? (text: string) => JSON.parse(text) as unknown
    : oid === 20 ? (text: string) => text : pg.types.getTypeParser(oid, format)),
};

async function bossSide(): Promise<BossSide> {
  const schema = await throwawaySchema('bench_pgboss');
  // supervise/schedule off: no maintenance or cron queries run beside the workers being timed.
  // pg-boss hands its whole configuration to pg.Pool, `types` included.
  const options = { connectionString: BENCH_DATABASE_URL, schema: schema.name, max: POOL_SIZE, supervise: false, schedule: false, migrate: true, types: PG_DEFAULT_TYPES };
  const boss = new PgBoss(options as PgBoss.ConstructorOptions);
  boss.on('error', (err) => process.stderr.write(`pg-boss: ${err.message}\n`));
  const waitClient = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  try {
    await boss.start();
    for (const layout of BOSS_LAYOUTS) await boss.createQueue(`deliveries-${layoutName(layout)}`);
    await waitClient.connect();
  } catch (err) {
    await boss.stop({ graceful: false, wait: true, timeout: 1000 }).catch(() => undefined);
    await waitClient.end().catch(() => undefined);
    await schema.drop();
    throw err;
  }
  const agent = new Agent({ keepAliveTimeout: 60_000 });
  return {
    boss, schema: schema.name, agent, waitClient,
    close: async () => {
      await boss.stop({ graceful: false, wait: true, timeout: 1000 });
      await waitClient.end();
      await agent.close();
      await schema.drop();
    },
  };
}

/**
 * Inserts `items` as jobs (before the clock starts, like deskhook's filled outbox), then times
 * `layout.workers` work() handlers that POST each job's envelope with undici, from the first
 * work() call until pg-boss has marked every job completed. pg-boss 10 waits its polling interval
 * (at least 0.5 s) after every fetch, even one that found jobs; each handler therefore calls
 * notifyWorker for its own worker so a busy worker fetches again at once, as the API intends.
 */
async function bossRound(side: BossSide, url: string, layout: BossLayout, items: EventEnvelope[]): Promise<number> {
  const { boss, agent, waitClient } = side;
  const queue = `deliveries-${layoutName(layout)}`;
  for (let i = 0; i < items.length; i += PUBLISH_CHUNK) {
    await boss.insert(items.slice(i, i + PUBLISH_CHUNK).map((data) => ({ name: queue, data })));
  }
  const open = async () => Number((await waitClient.query(
    `select count(*)::int as n from ${side.schema}.job where name = $1 and state <> 'completed'`, [queue])).rows[0].n);
  if ((await open()) !== items.length) throw new Error('pg-boss queue not as filled');
  let handled = 0;
  let errors = 0;
  const limit = deadline('a pg-boss round');
  const started = performance.now();
  for (let w = 0; w < layout.workers; w++) {
    const self = { id: '' };
    self.id = await boss.work<EventEnvelope>(queue, { batchSize: layout.batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      try {
        await Promise.all(jobs.map((job) => post(url, agent, job.data)));
      } catch (err) {
        errors++;
        throw err;
      } finally {
        handled += jobs.length;
        if (self.id) boss.notifyWorker(self.id);
      }
    });
  }
  let elapsed: number;
  try {
    const stalled = () => {
      if (limit.passed()) throw new Error(`a pg-boss round did not finish within ${ROUND_DEADLINE_MS / 1000} s`);
      return errors > 0;
    };
    // Wait for every handler to return, then for pg-boss to mark the last batches completed.
    while (handled < items.length && !stalled()) await new Promise((resolve) => setTimeout(resolve, 5));
    while (!stalled() && (await open()) > 0) await new Promise((resolve) => setTimeout(resolve, 2));
    elapsed = performance.now() - started;
  } finally {
    limit.clear();
    await boss.offWork(queue);
  }
  if (errors) throw new Error(`${errors} pg-boss handlers failed`);
  return elapsed;
}

const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000 * 10) / 10;

interface SideResult extends SideStats {
  meanBodyBytes: number;
}

/**
 * Runs each side once per round, in ABBA order after a warm-up round of WARMUP deliveries per
 * side, and checks the receiver saw exactly what was sent; deliveries/s per round.
 */
async function alternate(receiver: Receiver, sides: Record<string, (n: number) => Promise<number>>): Promise<Record<string, SideResult>> {
  const bodyBytes: Record<string, number> = {};
  const calls: Record<string, number> = {};
  const checked = (name: string) => async () => {
    const n = (calls[name] = (calls[name] ?? 0) + 1) === 1 ? WARMUP : DELIVERIES;
    const before = await receiver.count();
    const ms = await sides[name]!(n);
    const after = await receiver.count();
    if (after.received - before.received !== n) throw new Error(`${name}: the receiver saw ${after.received - before.received} requests, expected ${n}`);
    bodyBytes[name] = Math.round((after.bytes - before.bytes) / n);
    return perSecond(n, ms);
  };
  const rates = await abba({ rounds: ROUNDS, warmupRounds: 1 }, Object.fromEntries(Object.keys(sides).map((name) => [name, checked(name)])));
  return Object.fromEntries(Object.entries(rates).map(([name, stats]) => [name, { ...rounded(stats), meanBodyBytes: bodyBytes[name]! }]));
}

/**
 * Durable event deliveries/s of deskhook on SQLite (outbox filled by publish, drained by the
 * DeliveryWorker: lease, signed apiCall through the egress guard, attempt log and status in one
 * transaction per delivery) divided by a bare undici loop posting the same envelopes to the same
 * receiver, both with 16 requests in flight.
 */
export const deliveryVsRawSqlite: Benchmark = {
  name: 'delivery_vs_raw_sqlite',
  target: '≥ 0.5×',
  check: { op: '>=', value: 0.5 },
  async run() {
    const receiver = await startReceiver({ status: 204 }, '/events');
    const side = await deskhookSide('sqlite', receiver.url);
    const agent = new Agent({ keepAliveTimeout: 60_000 });
    try {
      const result = await alternate(receiver, {
        deskhook: (n) => deskhookRound(side.deps, n),
        bare: (n) => bareLoop(receiver.url, agent, envelopes(n)),
      });
      const deskhook = result.deskhook!.median;
      const bare = result.bare!.median;
      return {
        value: deskhook / bare,
        unit: '×',
        baseline: `bare undici POST loop to the same local receiver, ${CONCURRENCY} in flight (median of ABBA rounds)`,
        detail: {
          perSecond: { deskhook: result.deskhook, bare: result.bare },
          value: 'median deliveries/s of the deskhook rounds / median of the bare rounds',
          deskhookBodyBytes: result.deskhook!.meanBodyBytes, bareBodyBytes: result.bare!.meanBodyBytes,
          deliveriesPerRound: DELIVERIES, rounds: ROUNDS, warmupPerSide: WARMUP, concurrency: CONCURRENCY,
          receiver: 'node:http answering 204, in its own worker thread', database: 'sqlite',
        },
      };
    } finally {
      await agent.close();
      await side.close();
      await receiver.close();
    }
  },
};

/**
 * Durable event deliveries/s of deskhook on PostgreSQL divided by the same deliveries done with
 * pg-boss 10 on the same PostgreSQL in the same run (jobs inserted beforehand, work() handlers
 * posting each job's envelope with undici), both with 16 requests in flight and 10 connections.
 */
export const deliveryVsPgboss: Benchmark = {
  name: 'delivery_vs_pgboss',
  target: '≥ 1.0× (ahead of pg-boss)',
  check: { op: '>=', value: 1 },
  async run() {
    const receiver = await startReceiver({ status: 204 }, '/events');
    const side = await deskhookSide('postgres', receiver.url);
    let boss: BossSide | null = null;
    try {
      boss = await bossSide();
      const bossSides = Object.fromEntries(BOSS_LAYOUTS.map((layout) => [
        `pgboss ${layoutName(layout)}`,
        (n: number) => bossRound(boss!, receiver.url, layout, envelopes(n)),
      ]));
      const result = await alternate(receiver, { deskhook: (n) => deskhookRound(side.deps, n), ...bossSides });
      const deskhook = result.deskhook!.median;
      const layouts = Object.keys(bossSides).map((name) => ({ name, perSecond: result[name]!.median, rounds: result[name]!, bodyBytes: result[name]!.meanBodyBytes }));
      const best = layouts.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
      return {
        value: deskhook / best.perSecond,
        unit: '×',
        baseline: `pg-boss ${PGBOSS_VERSION} work() handlers posting with undici, ${CONCURRENCY} in flight, same PostgreSQL: `
          + `median of ABBA rounds, the fastest of ${layouts.map((l) => l.name.replace('pgboss ', '')).join(' / ')} workers×batch (this run ${best.name.replace('pgboss ', '')})`,
        detail: {
          deskhookPerSecond: deskhook, deskhookRounds: result.deskhook, deskhookBodyBytes: result.deskhook!.meanBodyBytes,
          value: 'median deliveries/s of the deskhook rounds / median of the fastest pg-boss layout\'s rounds',
          pgboss: Object.fromEntries(layouts.map((l) => [l.name, { perSecond: l.perSecond, rounds: l.rounds, bodyBytes: l.bodyBytes, ratio: round3(deskhook / l.perSecond) }])),
          against: best.name,
          deliveriesPerRound: DELIVERIES, rounds: ROUNDS, warmupPerSide: WARMUP, concurrency: CONCURRENCY, poolSize: POOL_SIZE,
          receiver: 'node:http answering 204, in its own worker thread', database: 'postgres', pgbossVersion: PGBOSS_VERSION,
        },
      };
    } finally {
      await boss?.close();
      await side.close();
      await receiver.close();
    }
  },
};
