/**
 * `npm run bench -- scale` (not part of the default run: loading 100k tickets takes minutes):
 * the queries a person waits on, at 1k, 10k and 100k tickets (and as many ERP records), on
 * SQLite and on PostgreSQL. Each query runs through the store the API uses, warmed, then 300
 * times at random parameters; the figures are the worst p99 at 100k and the worst growth of a
 * query's p99 from 1k to 100k.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest, openDatabase, refreshStatistics, type DatabaseHandle } from '../../src/adapters/db/dialect.ts';
import { KyselyStore } from '../../src/adapters/db/kysely-store.ts';
import type { NewTicket } from '../../src/app/ports/store.ts';
import type { Benchmark } from '../harness.ts';
import { BENCH_DATABASE_URL, throwawaySchema } from '../support.ts';

const SIZES = [1_000, 10_000, 100_000];
const RUNS = 300;
const FIRST = ['Erika', 'Jürgen', 'Anna', 'Mehmet', 'Sophie', 'Lukas', 'Marie', 'Paul', 'Leonie', 'Ömer', 'Hannah', 'Felix'];
const LAST = Array.from({ length: 400 }, (_, i) => `${['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker'][i % 8]}${i >= 8 ? String.fromCharCode(97 + (i % 26)) + String.fromCharCode(97 + ((i * 7) % 26)) : ''}`);
const TOPICS = ['Zählerstand', 'Abschlag', 'Umzug', 'Rechnung', 'Tarifwechsel', 'Kündigung', 'Lastschrift', 'Vertragsende'];
const QUERIES = ['inbox by status', 'unassigned', 'text search', 'customer search', 'get ticket'] as const;

type Query = (typeof QUERIES)[number];
type Percentiles = { p50: number; p99: number };

function pick<T>(items: readonly T[], i: number): T {
  return items[i % items.length]!;
}

function ticketAt(i: number): NewTicket {
  const at = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
  const first = pick(FIRST, i * 7);
  const last = pick(LAST, i * 13);
  const topic = pick(TOPICS, i);
  return {
    externalTicketId: null, emailAccountId: null, channel: 'email', subject: `${topic} ${i}`, from: `${first}.${last}@example.com`.toLowerCase(),
    fromName: `${first} ${last}`, to: ['service@stadtwerke.example'],
    body: '', bodyPlain: `Guten Tag,\nich habe eine Frage zu ${topic}. Meine Vertragsnummer ist V-${100000 + i}.\nViele Grüße\n${first} ${last}`,
    status: i % 10 < 3 ? 'open' : i % 10 < 4 ? 'pending' : 'closed', priority: 'medium', dueBy: null, firstResponseDueBy: null,
    agentId: null, tags: i % 5 ? [] : ['vip'], contractId: null, customerId: null, legitimationLevel: 0, createdAt: at, modifiedAt: at,
    closedAt: null, lastMessageAt: at, lastCustomerMessageAt: null, messageCount: 1, messageId: null, attachments: [], flags: {},
  };
}

/** Grows the database from `from` to `to` tickets and ERP customers, 1,000 per transaction. */
async function grow(store: KyselyStore, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 1_000) {
    await store.transaction(async (tx) => {
      for (let i = start; i < Math.min(to, start + 1_000); i++) {
        await tx.tickets.insert(ticketAt(i));
        await tx.erp.putCustomer({ id: `K-${i}`, business: false, firstname: pick(FIRST, i * 3), lastname: pick(LAST, i * 11), company: null, contractIds: [`V-${i}`], email: `k${i}@example.com` }, '2026-01-01T00:00:00.000Z');
      }
    });
  }
}

function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: Math.round(at(0.5) * 100) / 100, p99: Math.round(at(0.99) * 100) / 100 };
}

/** One database of `size` tickets and as many ERP customers, statistics refreshed as the hourly ticker does. */
async function openSized(kind: 'sqlite' | 'postgres', size: number): Promise<{ store: KyselyStore; size: number; close(): Promise<void> }> {
  let handle: DatabaseHandle;
  let close: () => Promise<void>;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'deskhook-scale-'));
    handle = openDatabase({ kind: 'sqlite', path: join(dir, 'deskhook.sqlite') });
    close = async () => { await handle.close(); rmSync(dir, { recursive: true, force: true }); };
  } else {
    const schema = await throwawaySchema('bench_scale');
    handle = openDatabase({ kind: 'postgres', url: BENCH_DATABASE_URL, schema: schema.name, poolSize: 4 });
    close = async () => { await handle.close(); await schema.drop(); };
  }
  const t = performance.now();
  await migrateToLatest(handle);
  const store = new KyselyStore(handle);
  await grow(store, 0, size);
  await refreshStatistics(handle);
  process.stdout.write(`[${kind} ${size}: loaded in ${Math.round(performance.now() - t)} ms] `);
  return { store, size, close };
}

function queries(store: KyselyStore, size: number): Record<Query, (i: number) => Promise<unknown>> {
  const page = { limit: 25, cursor: null };
  return {
    'inbox by status': () => store.tickets.search({ status: ['open'] }, page),
    unassigned: () => store.tickets.search({ status: ['open', 'pending'], agentId: null }, page),
    'text search': (i) => store.tickets.search({ text: pick(LAST, i * 31) }, page),
    'customer search': (i) => store.erp.searchCustomers(pick(LAST, i * 17).slice(0, 5), 10, 0),
    'get ticket': (i) => store.tickets.get(1 + ((i * 7919) % size)),
  };
}

type ScaleRun = Record<number, Record<Query, Percentiles>>;

/**
 * Every size is loaded before any is measured, and the measurement interleaves sizes and queries
 * (size 1k, 10k, 100k of query A, then of query B, …), so that a busy moment of the machine falls
 * on all of them alike and cannot flatter the growth from 1k to 100k.
 */
async function scaleOn(kind: 'sqlite' | 'postgres'): Promise<ScaleRun> {
  const dbs: Awaited<ReturnType<typeof openSized>>[] = [];
  try {
    for (const size of SIZES) dbs.push(await openSized(kind, size));
    const runs = dbs.map((d) => queries(d.store, d.size));
    for (const run of runs) for (const q of QUERIES) for (let i = 0; i < 30; i++) await run[q](i);
    const samples = dbs.map(() => Object.fromEntries(QUERIES.map((q) => [q, [] as number[]])) as Record<Query, number[]>);
    for (let i = 0; i < RUNS; i++) {
      for (const q of QUERIES) {
        for (let d = 0; d < dbs.length; d++) {
          const t = performance.now();
          await runs[d]![q](i);
          samples[d]![q].push(performance.now() - t);
        }
      }
    }
    return Object.fromEntries(dbs.map((d, n) => [d.size, Object.fromEntries(QUERIES.map((q) => [q, percentiles(samples[n]![q])]))])) as ScaleRun;
  } finally {
    for (const d of dbs) await d.close();
  }
}

const runs = new Map<string, Promise<ScaleRun>>();
const scale = (kind: 'sqlite' | 'postgres') => {
  if (!runs.has(kind)) runs.set(kind, scaleOn(kind));
  return runs.get(kind)!;
};

function worst(run: ScaleRun, value: (q: Query) => number): { value: number; query: Query } {
  let best = { value: -Infinity, query: QUERIES[0] as Query };
  for (const q of QUERIES) if (value(q) > best.value) best = { value: value(q), query: q };
  return best;
}

function scaleFigures(kind: 'sqlite' | 'postgres'): Benchmark[] {
  const largest = SIZES[SIZES.length - 1]!;
  const smallest = SIZES[0]!;
  return [{
    name: `scale_p99_at_100k_${kind}`,
    target: '≤ 20 ms p99 for every query at 100k tickets',
    check: { op: '<=', value: 20 },
    async run() {
      const r = await scale(kind);
      const w = worst(r, (q) => r[largest]![q].p99);
      return { value: w.value, unit: `ms (worst: ${w.query})`, baseline: 'none: absolute', detail: r };
    },
  }, {
    name: `scale_growth_1k_to_100k_${kind}`,
    target: '≤ 2× each query\'s p99 at 1k',
    check: { op: '<=', value: 2 },
    async run() {
      const r = await scale(kind);
      // Below a millisecond the ratio measures timer noise, not growth: both sides floor at 1 ms.
      const w = worst(r, (q) => Math.max(1, r[largest]![q].p99) / Math.max(1, r[smallest]![q].p99));
      return { value: Math.round(w.value * 100) / 100, unit: `× (worst: ${w.query})`, baseline: 'the same query at 1k tickets', detail: r };
    },
  }];
}

export const scaleBenchmarks: Benchmark[] = [...scaleFigures('sqlite'), ...scaleFigures('postgres')];
