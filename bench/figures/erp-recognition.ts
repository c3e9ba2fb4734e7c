import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { AppDeps } from '../../src/app/deps.ts';
import { putErpSettings, putLocalContract, putLocalCustomer } from '../../src/app/erp/erp-admin.ts';
import { ErpService, SETTINGS_PROPAGATION_MS } from '../../src/app/erp/erp-service.ts';
import { putRecognitionSettings, recognise } from '../../src/app/recognition/recognize.ts';
import type { ErpCacheEntry } from '../../src/app/ports/erp-cache.ts';
import type { Characteristics, Contract, ErpSettings } from '../../src/domain/erp.ts';
import type { Executor } from '../../src/domain/executor.ts';
import { extractCharacteristics, type ExtractionOptions } from '../../src/domain/recognition/extract.ts';
import { RedisErpCache } from '../../src/adapters/cache/redis-cache.ts';
import { evaluate, formatScores, type FieldScore } from '../../test/support/recognition-metrics.ts';
import { abba, median, QUICK, quick, round3, rounded, sideStats, type Benchmark, type SideStats } from '../harness.ts';
import { benchDeps } from '../support.ts';

/** lru-cache exports no ./package.json: read the one of the package the product resolves. */
const LRU_VERSION = (() => {
  const main = createRequire(import.meta.url).resolve('lru-cache');
  const root = main.slice(0, main.lastIndexOf('/node_modules/lru-cache/') + '/node_modules/lru-cache/'.length);
  return (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }).version;
})();

// ---------------------------------------------------------------------------------------------
// A team's ERP over HTTP: answers contractById for any id with a generated contract (a 404 for
// ids starting with "none-"), after `delayMs`, and counts the calls per id.
// ---------------------------------------------------------------------------------------------

/** A contract as an energy supplier's ERP returns it: ~0.6 KB of JSON. */
function contractFor(id: string): Contract {
  const n = Number(id.replace(/\D/g, '').slice(-6) || '0');
  return {
    id, customerId: `K-${id}`, business: false, firstname: 'Erika', lastname: `Mustermann${n % 97}`,
    company: null, email: `erika.${n}@example.com`, phone: `+49 30 ${1_000_000 + n}`, zip: String(10_000 + (n % 89_999)),
    city: 'Berlin', street: 'Hauptstraße', houseNumber: String(1 + (n % 200)), meterNumber: `1ESY${11_600_000_000 + n}`,
    tariff: 'Öko Strom 24', startDate: '2024-01-01', monthlyInstalment: 84,
    agentPreview: [{ label: 'Tariff', value: 'Öko Strom 24' }, { label: 'Instalment', value: '84 €' }, { label: 'Meter', value: `1ESY${11_600_000_000 + n}` }],
  };
}

interface FakeErp {
  base: string;
  delayMs: number;
  /** contractById calls per id since the start. */
  callsFor(id: string): number;
  total(): number;
  close(): Promise<void>;
}

async function startFakeErp(): Promise<FakeErp> {
  const calls = new Map<string, number>();
  let total = 0;
  const erp: FakeErp = {
    base: '',
    delayMs: 0,
    callsFor: (id) => calls.get(id) ?? 0,
    total: () => total,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      const input = (body ? JSON.parse(body) : {}) as { contractId?: string };
      const id = String(input.contractId);
      total++;
      calls.set(id, (calls.get(id) ?? 0) + 1);
      const answer = () => {
        if (req.url !== '/contractById' || id.startsWith('none-')) {
          res.writeHead(404).end();
          return;
        }
        const json = JSON.stringify(contractFor(id));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) }).end(json);
      };
      if (erp.delayMs > 0) setTimeout(answer, erp.delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  erp.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return erp;
}

/** Live mode as an admin saves it: an apiCall executor for contractById, the default TTLs (15 min by id). */
async function goLive(deps: AppDeps, erp: FakeErp, service: ErpService = deps.erp): Promise<ErpSettings> {
  const executor: Executor = { type: 'apiCall', url: `${erp.base}/contractById`, method: 'POST', headers: {} };
  const settings = await putErpSettings(deps, service, { mode: 'live', executors: { contractById: executor } });
  // A settings change clears the cache a second time a few seconds later (for other processes
  // that cached under the old settings meanwhile): wait for it, or it empties the cache mid-round.
  await new Promise((resolve) => setTimeout(resolve, SETTINGS_PROPAGATION_MS + 250));
  return settings;
}

// ---------------------------------------------------------------------------------------------
// cache_hit_vs_lru, cache_hit_vs_redis
// ---------------------------------------------------------------------------------------------

/** Distinct contracts in the cache; every loop cycles through them in the same order. */
const HIT_IDS = 1000;
/** Lookups per round: bare synchronous gets, in-process async hits, and hits on Redis (a round trip each). */
const SYNC_LOOKUPS = quick(200_000, 20_000);
const ASYNC_LOOKUPS = quick(20_000, 2_000);
const REDIS_LOOKUPS = quick(3_000, 300);
const HIT_WARMUP_ROUNDS = quick(3, 1);
const HIT_ROUNDS = quick(15, 5);
/** What the ErpService keeps a contractById answer for: its TTL (900 s) plus the 24 h it may be served stale. */
const KEEP_MS = 900_000 + 24 * 3_600_000;
/** The Redis the Redis variant uses; its keys live under a namespace of their own, removed afterwards. */
const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface LoopResult { ms: number; sink: number; misses: number }

// Each side is a function of its own, so no side shares inline caches with another. Every result
// is consumed (the id's length added to a sink that is checked afterwards), so the JIT cannot drop
// the lookup.

/** The path recognition takes (recognise → contractById) and GET /api/v1/contracts/:id on Redis: the async ErpService hit. */
async function contractByIdLoop(erp: ErpService, ids: string[], n: number): Promise<LoopResult> {
  let sink = 0;
  let misses = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const lookup = await erp.contractById(ids[i % HIT_IDS]!);
    if (lookup.source === 'cache' && lookup.value) sink += lookup.value.id.length;
    else misses++;
  }
  return { ms: performance.now() - started, sink, misses };
}

/** GET /api/v1/contracts/:id with the in-process cache answers a hit through peekContract first. */
function peekLoop(erp: ErpService, ids: string[], n: number): LoopResult {
  let sink = 0;
  let misses = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const contract = erp.peekContract(ids[i % HIT_IDS]!);
    if (contract) sink += contract.id.length;
    else misses++;
  }
  return { ms: performance.now() - started, sink, misses };
}

function bareGetLoop(lru: LRUCache<string, ErpCacheEntry>, keys: string[], n: number): LoopResult {
  let sink = 0;
  let misses = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const entry = lru.get(keys[i % HIT_IDS]!);
    if (entry) sink += (entry.value as Contract).id.length;
    else misses++;
  }
  return { ms: performance.now() - started, sink, misses };
}

async function lruGetAsync(lru: LRUCache<string, ErpCacheEntry>, key: string): Promise<ErpCacheEntry | undefined> {
  return lru.get(key);
}

/** A bare get behind an async function, awaited: what any awaited cache costs its caller. */
async function bareGetAwaitedLoop(lru: LRUCache<string, ErpCacheEntry>, keys: string[], n: number): Promise<LoopResult> {
  let sink = 0;
  let misses = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const entry = await lruGetAsync(lru, keys[i % HIT_IDS]!);
    if (entry) sink += (entry.value as Contract).id.length;
    else misses++;
  }
  return { ms: performance.now() - started, sink, misses };
}

/** A bare ioredis GET of the key the cache wrote, one in flight; the string only (no parse). */
async function redisGetLoop(redis: Redis, keys: string[], n: number): Promise<LoopResult> {
  let sink = 0;
  let misses = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const raw = await redis.get(keys[i % HIT_IDS]!);
    if (raw) sink += raw.length > 0 ? 8 : 0;
    else misses++;
  }
  return { ms: performance.now() - started, sink, misses };
}

/** The same GET, its JSON parsed into the entry (what any cache of objects in Redis must do). */
async function redisGetParsedLoop(redis: Redis, keys: string[], n: number): Promise<LoopResult> {
  let sink = 0;
  let misses = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const raw = await redis.get(keys[i % HIT_IDS]!);
    if (raw) sink += ((JSON.parse(raw) as ErpCacheEntry).value as Contract).id.length;
    else misses++;
  }
  return { ms: performance.now() - started, sink, misses };
}

const contractIds = () => Array.from({ length: HIT_IDS }, (_, i) => `V-${100_000 + i}`);

/** Fills an ErpService's cache through the ERP (live mode), 16 lookups in flight; every id must be an ERP call. */
async function fillThroughErp(erp: ErpService, fake: FakeErp, ids: string[]): Promise<void> {
  const before = fake.total();
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < ids.length) {
      const lookup = await erp.contractById(ids[next++]!);
      if (lookup.source !== 'erp' || !lookup.value) throw new Error(`filling the cache: ${lookup.source}`);
    }
  }));
  if (fake.total() - before !== ids.length) throw new Error(`expected ${ids.length} ERP calls while filling, saw ${fake.total() - before}`);
}

/** ns per lookup of a round, after checking every lookup was a hit that gave a contract. */
function nsPerHit(side: string, r: LoopResult, n: number, sinkPerHit: number): number {
  if (r.misses || r.sink !== n * sinkPerHit) throw new Error(`${side}: ${r.misses} of ${n} lookups were not cache hits`);
  return (r.ms * 1e6) / n;
}

function ratioDetail<K extends string>(ns: Record<K, SideStats>, of: K[], against: K[]): Record<string, number> {
  return Object.fromEntries(of.flatMap((a) => against.map((b) => [`${a}Vs${b[0]!.toUpperCase()}${b.slice(1)}`, round3(ns[a].median / ns[b].median)])));
}

/**
 * Time per cached contract lookup through the path recognition uses — the async
 * `ErpService.contractById` hit on the in-process cache (MemoryErpCache), settings check, key,
 * freshness and counters included — divided by the time of a bare synchronous `lru-cache` get of
 * the same kind of entry under a pre-built key, same lru-cache version and options. ABBA rounds
 * with the API's synchronous fast path (`peekContract`) and an awaited bare get beside them, in
 * the detail; the ratio of the sides' medians.
 */
export const cacheHitVsLru: Benchmark = {
  name: 'cache_hit_vs_lru',
  target: '≤ 2×',
  check: { op: '<=', value: 2 },
  async run() {
    const fake = await startFakeErp();
    const { deps, close } = await benchDeps();
    try {
      const settings = await goLive(deps, fake);
      const ids = contractIds();
      await fillThroughErp(deps.erp, fake, ids);
      const erpCalls = fake.total();

      // The baseline: the same lru-cache, the same options as MemoryErpCache, entries of the same
      // shape (a copy of each contract, as JSON gives it) under the same keys, with the same TTL.
      const lru = new LRUCache<string, ErpCacheEntry>({ max: 50_000, ttlAutopurge: false });
      const keys = ids.map((id) => `contractById:contractId=${id}`);
      const now = Date.now();
      for (const [i, id] of ids.entries()) {
        lru.set(keys[i]!, { value: JSON.parse(JSON.stringify(contractFor(id))) as Contract, storedAt: now, freshUntil: now + 900_000 }, { ttl: KEEP_MS });
      }
      const idLength = ids[0]!.length;
      if (!ids.every((id) => id.length === idLength)) throw new Error('ids must share one length (the sink check relies on it)');

      const ns = await abba({ rounds: HIT_ROUNDS, warmupRounds: HIT_WARMUP_ROUNDS }, {
        contractById: async () => nsPerHit('contractById', await contractByIdLoop(deps.erp, ids, ASYNC_LOOKUPS), ASYNC_LOOKUPS, idLength),
        bareGet: async () => nsPerHit('bare get', bareGetLoop(lru, keys, SYNC_LOOKUPS), SYNC_LOOKUPS, idLength),
        peekContract: async () => {
          // The route serves a hit synchronously only while the settings it has are younger than
          // 5 s; after that its first request takes contractById, which reloads them.
          deps.erp.settingsChanged(settings);
          return nsPerHit('peekContract', peekLoop(deps.erp, ids, SYNC_LOOKUPS), SYNC_LOOKUPS, idLength);
        },
        bareGetAwaited: async () => nsPerHit('awaited bare get', await bareGetAwaitedLoop(lru, keys, ASYNC_LOOKUPS), ASYNC_LOOKUPS, idLength),
      });
      if (fake.total() !== erpCalls) throw new Error(`hits must not call the ERP; it saw ${fake.total() - erpCalls} more calls`);
      const stats = deps.erp.stats();
      return {
        value: ns.contractById.median / ns.bareGet.median,
        unit: '×',
        baseline: `bare synchronous lru-cache ${LRU_VERSION} get() of the same entry shape under a pre-built key, same options (median of ABBA rounds)`,
        detail: {
          nsPerLookup: { contractById: rounded(ns.contractById), bareGet: rounded(ns.bareGet), peekContract: rounded(ns.peekContract), bareGetAwaited: rounded(ns.bareGetAwaited) },
          ratios: ratioDetail(ns, ['contractById', 'peekContract'], ['bareGet', 'bareGetAwaited']),
          value: 'median ns per contractById hit / median ns per bare get',
          paths: {
            contractById: 'ErpService.contractById on MemoryErpCache: what recognise() awaits, and what GET /api/v1/contracts/:id awaits when peekContract cannot answer',
            peekContract: 'the synchronous hit GET /api/v1/contracts/:id tries first with the in-process cache',
            bareGetAwaited: 'the bare get inside an async function, awaited: the floor of any awaited cache',
          },
          lookupsPerRound: { sync: SYNC_LOOKUPS, async: ASYNC_LOOKUPS },
          rounds: HIT_ROUNDS, warmupRounds: HIT_WARMUP_ROUNDS, distinctIds: HIT_IDS,
          contractJsonBytes: Buffer.byteLength(JSON.stringify(contractFor(ids[0]!))),
          lruCache: { version: LRU_VERSION, max: 50_000, ttlAutopurge: false, ttlMs: KEEP_MS },
          serviceCounters: { hits: stats.hits, misses: stats.misses, erpCalls: stats.erpCalls },
        },
      };
    } finally {
      await close();
      await fake.close();
    }
  },
};

/**
 * Time per cached contract lookup through `ErpService.contractById` on the shared tier
 * (RedisErpCache, as `REDIS_URL` configures it: recognition's path and the API's on Redis)
 * divided by a bare ioredis GET of the very key the cache wrote, one lookup in flight on each
 * side; ABBA rounds, the ratio of the medians. A GET whose JSON is parsed is in the detail.
 * The keys live under a namespace of their own in BENCH_REDIS_URL and are removed afterwards.
 */
export const cacheHitVsRedis: Benchmark = {
  name: 'cache_hit_vs_redis',
  target: '≤ 2×',
  check: { op: '<=', value: 2 },
  async run() {
    const namespace = `deskhook-bench:${randomBytes(6).toString('hex')}:erp:`;
    const fake = await startFakeErp();
    const { deps, close } = await benchDeps();
    const cache = new RedisErpCache(BENCH_REDIS_URL, namespace);
    const erp = new ErpService(deps, cache);
    const redis = new Redis(BENCH_REDIS_URL, { maxRetriesPerRequest: 2 });
    try {
      await goLive(deps, fake, erp);
      const ids = contractIds();
      await fillThroughErp(erp, fake, ids);
      const erpCalls = fake.total();
      const keys = ids.map((id) => `${namespace}contractById:contractId=${id}`);
      if ((await redis.exists(...keys)) !== keys.length) throw new Error('the cache did not write the keys the bare GET reads');
      const idLength = ids[0]!.length;
      const version = ((await redis.info('server')).match(/redis_version:(\S+)/) ?? [])[1] ?? 'unknown';

      const ns = await abba({ rounds: HIT_ROUNDS, warmupRounds: HIT_WARMUP_ROUNDS }, {
        contractById: async () => nsPerHit('contractById on Redis', await contractByIdLoop(erp, ids, REDIS_LOOKUPS), REDIS_LOOKUPS, idLength),
        bareGet: async () => nsPerHit('bare Redis GET', await redisGetLoop(redis, keys, REDIS_LOOKUPS), REDIS_LOOKUPS, 8),
        bareGetParsed: async () => nsPerHit('bare Redis GET + JSON.parse', await redisGetParsedLoop(redis, keys, REDIS_LOOKUPS), REDIS_LOOKUPS, idLength),
      });
      if (fake.total() !== erpCalls) throw new Error(`hits must not call the ERP; it saw ${fake.total() - erpCalls} more calls`);
      const us = (s: SideStats) => rounded(sideStats(s.values.map((v) => v / 1000)));
      return {
        value: ns.contractById.median / ns.bareGet.median,
        unit: '×',
        baseline: `bare ioredis GET of the same key on the same Redis ${version}, one in flight (median of ABBA rounds)`,
        detail: {
          usPerLookup: { contractById: us(ns.contractById), bareGet: us(ns.bareGet), bareGetParsed: us(ns.bareGetParsed) },
          ratios: ratioDetail(ns, ['contractById'], ['bareGet', 'bareGetParsed']),
          value: 'median µs per contractById hit on RedisErpCache / median µs per bare GET (no parse)',
          lookupsPerRound: REDIS_LOOKUPS, rounds: HIT_ROUNDS, warmupRounds: HIT_WARMUP_ROUNDS, distinctIds: HIT_IDS,
          entryJsonBytes: Buffer.byteLength((await redis.get(keys[0]!)) ?? ''),
          redis: { version, url: BENCH_REDIS_URL.replace(/\/\/[^@/]*@/, '//'), namespace: 'deskhook-bench:<random>:erp:, removed afterwards' },
          serviceCounters: (({ hits, misses, erpCalls: calls }) => ({ hits, misses, erpCalls: calls }))(erp.stats()),
        },
      };
    } finally {
      await erp.clearCache().catch(() => undefined);
      await cache.close();
      await redis.quit().catch(() => redis.disconnect());
      await close();
      await fake.close();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// single_flight_calls
// ---------------------------------------------------------------------------------------------

const CONCURRENT = 100;
const ERP_DELAY_MS = 50;
const FLIGHT_TRIALS = 5;

/**
 * ERP calls made for 100 concurrent identical contractById misses (a fake ERP over HTTP that
 * answers after 50 ms), the most over five trials with fresh ids; the baseline is the same 100
 * lookups of 100 different ids.
 */
export const singleFlightCalls: Benchmark = {
  name: 'single_flight_calls',
  target: '1 ERP call for 100 concurrent identical misses',
  check: { op: '==', value: 1 },
  async run() {
    const fake = await startFakeErp();
    const { deps, close } = await benchDeps();
    try {
      await goLive(deps, fake);
      fake.delayMs = ERP_DELAY_MS;
      const erp = deps.erp;
      const identical: Array<{ calls: number; ms: number }> = [];
      const distinct: Array<{ calls: number; ms: number }> = [];
      const refresh: Array<{ calls: number; ms: number }> = [];
      const concurrently = async (ids: string[], refreshing = false) => {
        const before = fake.total();
        const started = performance.now();
        const lookups = await Promise.all(ids.map((id) => erp.contractById(id, refreshing ? { refresh: true } : {})));
        const ms = performance.now() - started;
        lookups.forEach((l, i) => {
          if (l.value?.id !== ids[i]) throw new Error(`lookup ${i} answered ${JSON.stringify(l.value?.id)} for ${ids[i]}`);
        });
        return { calls: fake.total() - before, ms: round3(ms) };
      };
      for (let t = 0; t < FLIGHT_TRIALS; t++) {
        // Order alternates, so neither side always goes first on a cold connection pool.
        const same = () => concurrently(Array.from({ length: CONCURRENT }, () => `V-SF-${t}`));
        const different = () => concurrently(Array.from({ length: CONCURRENT }, (_, i) => `V-D-${t}-${i}`));
        if (t % 2 === 0) {
          identical.push(await same());
          distinct.push(await different());
        } else {
          distinct.push(await different());
          identical.push(await same());
        }
        // The same ids again, now cached, with ?refresh=true: an agent's forced reload, 100 at once.
        refresh.push(await concurrently(Array.from({ length: CONCURRENT }, () => `V-SF-${t}`), true));
      }
      const worst = Math.max(...identical.map((r) => r.calls));
      return {
        value: worst,
        unit: 'ERP call(s)',
        baseline: `the same ${CONCURRENT} concurrent lookups with ${CONCURRENT} different ids (median ${median(distinct.map((r) => r.calls))} ERP calls); fake ERP over HTTP answering after ${ERP_DELAY_MS} ms`,
        detail: {
          identical: { callsPerTrial: identical.map((r) => r.calls), msPerTrial: identical.map((r) => r.ms) },
          distinct: { callsPerTrial: distinct.map((r) => r.calls), msPerTrial: distinct.map((r) => r.ms) },
          identicalRefresh: {
            callsPerTrial: refresh.map((r) => r.calls), msPerTrial: refresh.map((r) => r.ms),
            note: `${CONCURRENT} concurrent contractById(id, { refresh: true }) of a cached id (GET /api/v1/contracts/:id?refresh=true)`,
          },
          concurrent: CONCURRENT, trials: FLIGHT_TRIALS, erpDelayMs: ERP_DELAY_MS, executor: 'apiCall POST to 127.0.0.1 (node:http)',
          figure: 'the most calls over the trials',
        },
      };
    } finally {
      await close();
      await fake.close();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// extraction_emails_per_s (+ the recognition quality section of docs/benchmarks.md)
// ---------------------------------------------------------------------------------------------

interface LabelledEmail {
  id: string;
  from: string | null;
  fromName?: string | null;
  subject: string;
  body: string;
  expected: Characteristics;
}

const LABELLED = new URL('../../test/fixtures/recognition/emails.json', import.meta.url);
const DOC = new URL('../../docs/benchmarks.md', import.meta.url);
const QUALITY_START = '<!-- recognition-quality:start -->';
const QUALITY_END = '<!-- recognition-quality:end -->';

/** Emails written after the rules, never in view while writing them: de-47…de-60 and en-25…en-30. */
function writtenLater(id: string): boolean {
  const m = /^(de|en)-(\d+)$/.exec(id);
  if (!m) return false;
  const n = Number(m[2]);
  return m[1] === 'de' ? n >= 47 && n <= 60 : n >= 25 && n <= 30;
}

/** Warm-up before the rounds (the regular expressions compile and the JIT settles on the first passes). */
const WARMUP_MS = 1_500;
const THROUGHPUT_ROUNDS = 7;
/** Each round loops over the set until this much time has passed. */
const ROUND_MS = 400;
const RECOGNISE_WARMUP_MS = 800;
const RECOGNISE_ROUNDS = 5;
/** Contracts besides those of the labelled set, so the search runs over a small ERP, not a list of exact answers. */
const OTHER_CONTRACTS = 300;

/**
 * Rounds of at least ROUND_MS each, running `pass` (one pass over the whole set, returning what it
 * found) again and again; emails per second of each round.
 */
async function throughput(emails: number, rounds: number, pass: () => number | Promise<number>): Promise<{ rates: number[]; sinkPerPass: number }> {
  const rates: number[] = [];
  let sinkPerPass = -1;
  for (let r = 0; r < rounds; r++) {
    let done = 0;
    const started = performance.now();
    let elapsed = 0;
    while (elapsed < ROUND_MS) {
      const sink = await pass();
      done += emails;
      // Every pass must find the same: the results are used, and nothing is cached between passes.
      if (sinkPerPass >= 0 && sink !== sinkPerPass) throw new Error(`a pass found ${sink} instead of ${sinkPerPass}`);
      sinkPerPass = sink;
      elapsed = performance.now() - started;
    }
    rates.push(done / (elapsed / 1000));
  }
  return { rates, sinkPerPass };
}

/** The local ERP recognise() searches: a contract and customer per labelled email that names someone, and OTHER_CONTRACTS more. */
async function importLocalErp(deps: AppDeps, emails: LabelledEmail[]): Promise<{ contracts: number; customers: number }> {
  const contracts = new Map<string, Record<string, unknown>>();
  const customers = new Map<string, Record<string, unknown> & { contractIds: string[] }>();
  const add = (id: string, customerId: string, e: Characteristics) => {
    const business = e.company !== undefined;
    const person = {
      business, company: e.company ?? null, lastname: e.lastname ?? (business ? null : 'Kunde'), firstname: e.firstname ?? null,
      email: e.email ?? null, phone: e.phone ?? null, street: e.street ?? null, houseNumber: e.houseNumber ?? null,
      zip: e.postalCode ?? null, city: e.city ?? null,
    };
    contracts.set(id, { ...person, customerId, meterNumber: e.meterNumber ?? null, iban: e.iban ?? null, tariff: 'Öko Strom 24' });
    const customer = customers.get(customerId) ?? { ...person, contractIds: [] };
    customer.contractIds.push(id);
    customers.set(customerId, customer);
  };
  for (const e of emails) {
    if (!Object.keys(e.expected).length) continue;
    const id = e.expected.contractId ?? `V-${e.id}`;
    add(id, e.expected.customerId ?? `K-${e.id}`, e.expected);
  }
  for (let i = 0; i < OTHER_CONTRACTS; i++) {
    const c = contractFor(`V-O${200_000 + i}`);
    add(c.id, c.customerId, {
      firstname: c.firstname as string, lastname: c.lastname as string, email: c.email as string, phone: c.phone as string,
      postalCode: c.zip as string, city: c.city as string, street: c.street as string, houseNumber: c.houseNumber as string, meterNumber: c.meterNumber as string,
    });
  }
  for (const [id, c] of contracts) await putLocalContract(deps, deps.erp, id, c);
  for (const [id, c] of customers) await putLocalCustomer(deps, deps.erp, id, c);
  return { contracts: contracts.size, customers: customers.size };
}

function scoreRow(label: string, emails: number, s: FieldScore): string {
  return `| ${label} | ${emails} | ${s.precision.toFixed(3)} | ${s.recall.toFixed(3)} | ${s.f1.toFixed(3)} |`;
}

/** Rewrites the generated part of "Customer recognition quality" in docs/benchmarks.md (appends the section if it is missing); not under BENCH_QUICK=1. */
function writeQualitySection(text: string): void {
  if (QUICK) return;
  const doc = readFileSync(DOC, 'utf8');
  const block = `${QUALITY_START}\n${text}\n${QUALITY_END}`;
  if (!doc.includes(QUALITY_START)) {
    writeFileSync(DOC, `${doc.replace(/\n*$/, '\n')}\n## Customer recognition quality\n\n${block}\n`);
    return;
  }
  const [before, rest] = doc.split(QUALITY_START);
  const after = rest?.split(QUALITY_END)[1] ?? '\n';
  writeFileSync(DOC, `${before}${block}${after}`);
}

/**
 * Emails per second through `extractCharacteristics` (rules only, the set's options) over the
 * labelled set, looped; no baseline: its target is an absolute throughput of 1,000 emails/s. The detail adds the full
 * `recognise()` pipeline in local mode against a small imported ERP. The run also scores the
 * extraction on the set and rewrites the recognition quality section of docs/benchmarks.md.
 */
export const extractionEmailsPerS: Benchmark = {
  name: 'extraction_emails_per_s',
  target: '≥ 1,000 emails/s',
  check: { op: '>=', value: 1000 },
  async run() {
    const file = JSON.parse(readFileSync(LABELLED, 'utf8')) as { options: ExtractionOptions; emails: LabelledEmail[] };
    const emails = file.emails;
    const options = file.options;
    // One synchronous pass over the set; the sink (characteristics found) is checked for every pass.
    const extractPass = () => {
      let sink = 0;
      for (const e of emails) sink += Object.keys(extractCharacteristics(e, options).characteristics).length;
      return sink;
    };
    const cold = performance.now();
    extractPass();
    const firstPassMs = performance.now() - cold;
    while (performance.now() - cold < WARMUP_MS) extractPass();
    const extraction = await throughput(emails.length, THROUGHPUT_ROUNDS, extractPass);
    const extractionRate = median(extraction.rates);

    // Quality, from the same extraction.
    const items = emails.map((e) => ({ id: e.id, expected: e.expected, predicted: extractCharacteristics(e, options).characteristics }));
    const all = evaluate(items);
    const later = items.filter((i) => writtenLater(i.id));
    const earlier = items.filter((i) => !writtenLater(i.id));
    const laterScores = evaluate(later).overall;
    const earlierScores = evaluate(earlier).overall;

    // recognise() in local mode, the recognition settings stored as an admin saves them.
    const { deps, close } = await benchDeps();
    let recognition;
    try {
      await putRecognitionSettings(deps, { ownDomains: (options.ownDomains ?? []) });
      const imported = await importLocalErp(deps, emails);
      const levels = new Map<number, number>();
      const viaPipeline = async (e: LabelledEmail) => {
        const result = await recognise(deps, { from: e.from, fromName: e.fromName ?? null, subject: e.subject, body: e.body });
        levels.set(result.legitimationLevel, (levels.get(result.legitimationLevel) ?? 0) + 1);
        return result.contract ? 1 : 0;
      };
      const recognisePass = async () => {
        let sink = 0;
        for (const e of emails) sink += await viaPipeline(e);
        return sink;
      };
      await recognisePass();
      const firstPass = new Map(levels);
      const warm = performance.now();
      while (performance.now() - warm < RECOGNISE_WARMUP_MS) await recognisePass();
      const pipeline = await throughput(emails.length, RECOGNISE_ROUNDS, recognisePass);
      const rate = median(pipeline.rates);
      recognition = {
        emailsPerSecond: round3(rate), rounds: pipeline.rates.map(round3), vsExtraction: round3(rate / extractionRate),
        contractFound: `${pipeline.sinkPerPass} of ${emails.length}`,
        levelsPerPass: Object.fromEntries([...firstPass].sort(([a], [b]) => a - b).map(([level, n]) => [`level ${level}`, n])),
        localErp: imported, database: 'sqlite', erpMode: 'local',
        steps: 'extract (rules), searchContracts, contractById + customerById, legitimation; the recognition settings read from the database per email (as recognizeTicket does)',
      };
    } finally {
      await close();
    }

    const bodyBytes = emails.map((e) => Buffer.byteLength(e.body));
    const day = new Date().toISOString().slice(0, 10);
    writeQualitySection([
      `Generated by \`npm run bench -- extraction_emails_per_s\` (${day}): \`extractCharacteristics\` (rules only, no`,
      `language model) with the set's options over the ${emails.length} labelled emails of`,
      '`test/fixtures/recognition/emails.json`, scored by `test/support/recognition-metrics.ts`: micro',
      'scores (counts summed over all emails; a wrong value is one false positive and one false negative;',
      'names, company, street and city compared without case).',
      '',
      '```text',
      formatScores(all.fields, all.overall),
      '```',
      '',
      '| emails | n | precision | recall | F1 |',
      '|---|---|---|---|---|',
      scoreRow('all', items.length, all.overall),
      scoreRow('the first written (rules built with them in view: in-sample)', earlier.length, earlierScores),
      scoreRow('the last written (de-47…de-60, en-25…en-30), today, after their fixes', later.length, laterScores),
    ].join('\n'));

    return {
      value: Math.round(extractionRate),
      unit: 'emails/s',
      baseline: 'none: a throughput (no baseline ratio)',
      detail: {
        extraction: {
          emailsPerSecond: round3(extractionRate), rounds: extraction.rates.map(round3), characteristicsPerPass: extraction.sinkPerPass,
          coldFirstPassMs: round3(firstPassMs),
        },
        recognise: recognition,
        labelledSet: {
          emails: emails.length,
          averageBodyBytes: Math.round(bodyBytes.reduce((a, b) => a + b, 0) / emails.length),
          averageBodyChars: Math.round(emails.reduce((n, e) => n + e.body.length, 0) / emails.length),
          largestBodyBytes: Math.max(...bodyBytes),
        },
        quality: {
          overall: { precision: round3(all.overall.precision), recall: round3(all.overall.recall), f1: round3(all.overall.f1) },
          firstWritten: { emails: earlier.length, f1: round3(earlierScores.f1) },
          lastWritten: { emails: later.length, f1: round3(laterScores.f1), outOfSampleBeforeFixes: { precision: 0.88, recall: 0.83, f1: 0.854 } },
          mismatches: all.mismatches.length,
        },
        roundMs: ROUND_MS, warmupMs: { extraction: WARMUP_MS, recognise: RECOGNISE_WARMUP_MS }, threads: 1,
      },
    };
  },
};
