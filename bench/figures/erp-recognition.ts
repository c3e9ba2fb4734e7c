import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LRUCache } from 'lru-cache';
import type { AppDeps } from '../../src/app/deps.ts';
import { putErpSettings, putLocalContract, putLocalCustomer } from '../../src/app/erp/erp-admin.ts';
import type { ErpService } from '../../src/app/erp/erp-service.ts';
import { putRecognitionSettings, recognise } from '../../src/app/recognition/recognize.ts';
import type { ErpCacheEntry } from '../../src/app/ports/erp-cache.ts';
import type { Characteristics, Contract, ErpSettings } from '../../src/domain/erp.ts';
import type { Executor } from '../../src/domain/executor.ts';
import { extractCharacteristics, type ExtractionOptions } from '../../src/domain/recognition/extract.ts';
import { evaluate, formatScores, type FieldScore } from '../../test/support/recognition-metrics.ts';
import type { Benchmark } from '../harness.ts';
import { benchDeps } from '../support.ts';

/** lru-cache exports no ./package.json: read the one of the package the product resolves. */
const LRU_VERSION = (() => {
  const main = createRequire(import.meta.url).resolve('lru-cache');
  const root = main.slice(0, main.lastIndexOf('/node_modules/lru-cache/') + '/node_modules/lru-cache/'.length);
  return (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }).version;
})();

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

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
async function goLive(deps: AppDeps, erp: FakeErp): Promise<ErpSettings> {
  const executor: Executor = { type: 'apiCall', url: `${erp.base}/contractById`, method: 'POST', headers: {} };
  return putErpSettings(deps, deps.erp, { mode: 'live', executors: { contractById: executor } });
}

// ---------------------------------------------------------------------------------------------
// cache_hit_vs_lru
// ---------------------------------------------------------------------------------------------

/** Distinct contracts in the cache; every loop cycles through them in the same order. */
const HIT_IDS = 1000;
/** Lookups per round: synchronous sides, and the async contractById side (each lookup is several promises). */
const SYNC_LOOKUPS = 200_000;
const ASYNC_LOOKUPS = 20_000;
const HIT_WARMUP_ROUNDS = 3;
const HIT_ROUNDS = 15;
/** What MemoryErpCache keeps a contractById answer for: its TTL (900 s) plus the 24 h it may be served stale. */
const KEEP_MS = 900_000 + 24 * 3_600_000;

interface LoopResult { ms: number; sink: number; misses: number }

// Each side is a function of its own, so no side shares inline caches with another. Every result
// is consumed (the id's length added to a sink that is checked afterwards), so the JIT cannot drop
// the lookup.

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

function bareLoop(lru: LRUCache<string, ErpCacheEntry>, keys: string[], n: number): LoopResult {
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

function bareBuiltKeyLoop(lru: LRUCache<string, ErpCacheEntry>, ids: string[], n: number): LoopResult {
  let sink = 0;
  let misses = 0;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const entry = lru.get(`contractById:contractId=${ids[i % HIT_IDS]!}`);
    if (entry) sink += (entry.value as Contract).id.length;
    else misses++;
  }
  return { ms: performance.now() - started, sink, misses };
}

async function asyncLoop(erp: ErpService, ids: string[], n: number): Promise<LoopResult> {
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

/**
 * Time per cached contract lookup through the ErpService's synchronous hot path (`peekContract`,
 * what GET /api/v1/contracts/:id answers a hit with) divided by the time of a bare `lru-cache` get
 * of the same kind of entry under the same kind of key (pre-built), same lru-cache version and
 * settings, in the same run. The async `contractById` hit path and a bare get that builds its key
 * per call are in the detail.
 */
export const cacheHitVsLru: Benchmark = {
  name: 'cache_hit_vs_lru',
  target: '≤ 2×',
  async run() {
    const fake = await startFakeErp();
    const { deps, close } = await benchDeps();
    try {
      const settings = await goLive(deps, fake);
      const ids = Array.from({ length: HIT_IDS }, (_, i) => `V-${100_000 + i}`);
      // Fill the service's cache through the ERP, 16 lookups in flight.
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < ids.length) {
          const lookup = await deps.erp.contractById(ids[next++]!);
          if (lookup.source !== 'erp' || !lookup.value) throw new Error(`filling the cache: ${lookup.source}`);
        }
      }));
      if (fake.total() !== HIT_IDS) throw new Error(`expected ${HIT_IDS} ERP calls while filling, saw ${fake.total()}`);

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
      const check = (side: string, r: LoopResult, n: number): number => {
        if (r.misses || r.sink !== n * idLength) throw new Error(`${side}: ${r.misses} of ${n} lookups were not cache hits`);
        return (r.ms * 1e6) / n;
      };
      type Side = 'peekContract' | 'bareGet' | 'bareGetBuiltKey' | 'contractById';
      const sides: Record<Side, () => Promise<number>> = {
        peekContract: async () => {
          // The route serves a hit synchronously only while the settings it has are younger than
          // 5 s; after that its first request takes the async path, which reloads them.
          deps.erp.settingsChanged(settings);
          return check('peekContract', peekLoop(deps.erp, ids, SYNC_LOOKUPS), SYNC_LOOKUPS);
        },
        bareGet: async () => check('bare get', bareLoop(lru, keys, SYNC_LOOKUPS), SYNC_LOOKUPS),
        bareGetBuiltKey: async () => check('bare get (key built per call)', bareBuiltKeyLoop(lru, ids, SYNC_LOOKUPS), SYNC_LOOKUPS),
        contractById: async () => {
          deps.erp.settingsChanged(settings);
          return check('contractById', await asyncLoop(deps.erp, ids, ASYNC_LOOKUPS), ASYNC_LOOKUPS);
        },
      };
      const names = Object.keys(sides) as Side[];
      const ns: Record<Side, number[]> = { peekContract: [], bareGet: [], bareGetBuiltKey: [], contractById: [] };
      for (let r = 0; r < HIT_WARMUP_ROUNDS + HIT_ROUNDS; r++) {
        // Alternating order (ABCD, DCBA, …) so drift and GC hit every side alike.
        for (const name of r % 2 === 0 ? names : [...names].reverse()) {
          const perLookup = await sides[name]();
          if (r >= HIT_WARMUP_ROUNDS) ns[name].push(perLookup);
        }
      }
      if (fake.total() !== HIT_IDS) throw new Error(`hits must not call the ERP; it saw ${fake.total() - HIT_IDS} more calls`);
      const m = Object.fromEntries(names.map((n) => [n, median(ns[n])])) as Record<Side, number>;
      const stats = deps.erp.stats();
      return {
        value: m.peekContract / m.bareGet,
        unit: '×',
        baseline: `bare lru-cache ${LRU_VERSION} get() of the same entry shape under the same kind of key (pre-built), same options`,
        detail: {
          nsPerLookup: Object.fromEntries(names.map((n) => [n, round3(m[n])])),
          ratios: {
            peekContractVsBareGet: round3(m.peekContract / m.bareGet),
            peekContractVsBareGetBuiltKey: round3(m.peekContract / m.bareGetBuiltKey),
            contractByIdVsBareGet: round3(m.contractById / m.bareGet),
            contractByIdVsBareGetBuiltKey: round3(m.contractById / m.bareGetBuiltKey),
          },
          roundsNsPerLookup: Object.fromEntries(names.map((n) => [n, ns[n].map(round3)])),
          lookupsPerRound: { sync: SYNC_LOOKUPS, contractById: ASYNC_LOOKUPS },
          rounds: HIT_ROUNDS, warmupRounds: HIT_WARMUP_ROUNDS, distinctIds: HIT_IDS,
          contractJsonBytes: Buffer.byteLength(JSON.stringify(contractFor(ids[0]!))),
          lruCache: { version: LRU_VERSION, max: 50_000, ttlAutopurge: false, ttlMs: KEEP_MS },
          serviceCounters: { hits: stats.hits, misses: stats.misses, erpCalls: stats.erpCalls },
          note: 'peekContract is the figure (the route GET /api/v1/contracts/:id serves hits through it); contractById is the async API hit path',
        },
      };
    } finally {
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

/** Rewrites the generated part of "Customer recognition quality" in docs/benchmarks.md (appends the section if it is missing). */
function writeQualitySection(text: string): void {
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
 * labelled set, looped; no baseline, an informative throughput. The detail adds the full
 * `recognise()` pipeline in local mode against a small imported ERP. The run also scores the
 * extraction on the set and rewrites the recognition quality section of docs/benchmarks.md.
 */
export const extractionEmailsPerS: Benchmark = {
  name: 'extraction_emails_per_s',
  target: 'none, informative (a throughput; no baseline)',
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
