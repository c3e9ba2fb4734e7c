import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

export interface Figure {
  value: number;
  unit: string;
  /** What the value is measured against, in the same run. */
  baseline: string;
  detail: Record<string, unknown>;
}

/** A target as data, so every run checks it: the figure's value `op` `value`. */
export interface Target {
  op: '<=' | '>=' | '==';
  value: number;
}

/** Whether a measured value meets its target. */
export function meets(value: number, target: Target): boolean {
  if (target.op === '<=') return value <= target.value;
  if (target.op === '>=') return value >= target.value;
  return value === target.value;
}

export interface Benchmark {
  name: string;
  /** The target of docs/product.md this figure is read against, in words. */
  target: string;
  /** The same target as data; the run prints and records whether it holds. */
  check: Target;
  run(): Promise<Figure>;
}

// ---------------------------------------------------------------------------------------------
// Short runs and statistics
// ---------------------------------------------------------------------------------------------

/**
 * BENCH_QUICK=1: every figure runs with short rounds (still ABBA, still at least MIN_ROUNDS per
 * side) to check that it works; nothing is written to bench/results.json or docs/benchmarks.md.
 */
export const QUICK = process.env.BENCH_QUICK === '1';

/** The full setting, or the short one under BENCH_QUICK=1. */
export function quick<T>(full: T, short: T): T {
  return QUICK ? short : full;
}

/** Fewest measured rounds per side a two-sided figure may have. */
export const MIN_ROUNDS = 5;

/** Nearest-rank percentile (p in 0…100) of values sorted ascending. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (!sorted.length) return NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** One side of an ABBA comparison: what each measured round gave, in the order measured. */
export interface SideStats {
  min: number;
  median: number;
  max: number;
  values: number[];
}

export function sideStats(values: readonly number[]): SideStats {
  return { min: Math.min(...values), median: median(values), max: Math.max(...values), values: [...values] };
}

/** Latency samples summarised: nearest-rank p50 and p99, mean, min and max. */
export function latencySummary(samples: readonly number[]): { samples: number; p50Ms: number; p99Ms: number; meanMs: number; minMs: number; maxMs: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: sorted.length, p50Ms: round3(percentile(sorted, 50)), p99Ms: round3(percentile(sorted, 99)),
    meanMs: round3(sorted.reduce((a, b) => a + b, 0) / sorted.length), minMs: round3(sorted[0] ?? NaN), maxMs: round3(sorted[sorted.length - 1] ?? NaN),
  };
}

/**
 * The order ABBA rounds run the sides in: forward in even rounds, reversed in odd ones, so with
 * two sides A B B A A B B A …, with three A B C C B A A B C …; every side goes first and last equally often.
 */
export function abbaOrder<K extends string>(names: readonly K[], rounds: number): K[][] {
  return Array.from({ length: rounds }, (_, r) => (r % 2 === 0 ? [...names] : [...names].reverse()));
}

export interface AbbaOptions {
  /** Measured rounds per side (at least MIN_ROUNDS). */
  rounds: number;
  /** Rounds per side run first, in the same alternating order, and discarded. Default 1. */
  warmupRounds?: number;
}

/**
 * Runs every side once per round in ABBA order (see abbaOrder), after warm-up rounds that are
 * discarded, and returns per side the value of each measured round with its min, median and max.
 * A side's function runs one round and returns its measurement (a rate, a time, a percentile).
 */
export async function abba<K extends string>(options: AbbaOptions, sides: Record<K, () => Promise<number>>): Promise<Record<K, SideStats>> {
  if (!Number.isInteger(options.rounds) || options.rounds < MIN_ROUNDS) throw new Error(`an ABBA comparison needs at least ${MIN_ROUNDS} rounds per side, not ${options.rounds}`);
  const names = Object.keys(sides) as K[];
  const warmup = options.warmupRounds ?? 1;
  for (const order of abbaOrder(names, warmup)) {
    for (const name of order) await sides[name]();
  }
  const values = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  // The measured rounds continue the alternation where the warm-up left it.
  for (const order of abbaOrder(names, warmup + options.rounds).slice(warmup)) {
    for (const name of order) values[name].push(await sides[name]());
  }
  return Object.fromEntries(names.map((n) => [n, sideStats(values[n])])) as Record<K, SideStats>;
}

/** A side's stats rounded for results.json. */
export function rounded(s: SideStats): SideStats {
  return { min: round3(s.min), median: round3(s.median), max: round3(s.max), values: s.values.map(round3) };
}

// ---------------------------------------------------------------------------------------------
// The load generator, in a worker thread of its own (bench/load-worker.mjs)
// ---------------------------------------------------------------------------------------------

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

/** Settings of one autocannon run; serialisable, since it runs in the load worker. */
export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  /** Request bodies, sent in turn (request n gets bodies[n % length]), across all connections. */
  bodies?: string[];
  connections?: number;
  /** Seconds. */
  duration?: number;
}

/** One request of a sequence, sent only after the answer to the previous one was read in full. */
export interface SequenceRequest {
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  /** Parse the answer as JSON inside the timed span (as a client that uses it must). */
  json?: boolean;
}

export interface SequenceAnswer {
  ms: number;
  status: number;
  body: string;
}

export interface SmtpMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
}

/** The load generator's worker: autocannon runs, timed request sequences and SMTP blasts, each measured inside the worker. */
export interface LoadWorker {
  autocannon(options: LoadOptions): Promise<LoadResult>;
  /** Sends the requests one after the other over one keep-alive connection; each answer's time is measured in the worker. */
  sequence(requests: SequenceRequest[]): Promise<SequenceAnswer[]>;
  /** Sends the messages over `connections` pooled SMTP connections; resolves with the worker's elapsed ms when every one was answered. */
  smtp(options: { port: number; connections: number; messages: SmtpMessage[] }): Promise<number>;
  close(): Promise<void>;
}

const LOAD_WORKER = new URL('./load-worker.mjs', import.meta.url);

/** Starts the load generator in a worker thread: its event loop is never the one being measured. */
export async function startLoadWorker(): Promise<LoadWorker> {
  const worker = new Worker(LOAD_WORKER);
  let nextId = 0;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve(m.result);
    else w?.reject(new Error(`load worker: ${m.error}`));
  });
  worker.on('error', (err) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  });
  const call = <T>(kind: string, payload: unknown) => new Promise<T>((resolve, reject) => {
    const id = nextId++;
    waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
    worker.postMessage({ id, kind, payload });
  });
  await call('ping', null);
  return {
    autocannon: (options) => call<LoadResult>('autocannon', { connections: 10, duration: 5, ...options }),
    sequence: (requests) => call<SequenceAnswer[]>('sequence', requests),
    smtp: (options) => call<number>('smtp', options),
    close: async () => {
      await call('close', null).catch(() => undefined);
      await worker.terminate();
    },
  };
}

/** One autocannon run in a worker thread of its own (started and ended for this run). */
export async function loadInWorker(options: LoadOptions): Promise<LoadResult> {
  const worker = await startLoadWorker();
  try {
    return await worker.autocannon(options);
  } finally {
    await worker.close();
  }
}

// ---------------------------------------------------------------------------------------------
// A local HTTP receiver in a worker thread of its own (bench/receiver-worker.mjs)
// ---------------------------------------------------------------------------------------------

export interface ReceiverOptions {
  /** Default 200. */
  status?: number;
  /** The answer's body (JSON); none when omitted. */
  answer?: string;
  /** Requests carrying this header are counted apart, and the last one's body kept. */
  markHeader?: string;
}

export interface ReceiverCounts {
  received: number;
  bytes: number;
  marked: number;
  /** Distinct values of the marked header (marked − distinct: requests that repeated one). */
  distinct: number;
  lastMarkedBody: string;
}

export interface Receiver {
  url: string;
  count(): Promise<ReceiverCounts>;
  close(): Promise<void>;
}

const RECEIVER_WORKER = new URL('./receiver-worker.mjs', import.meta.url);

/** node:http on 127.0.0.1 in a worker thread, so it never shares an event loop with the side being measured. */
export async function startReceiver(options: ReceiverOptions = {}, path = '/hook'): Promise<Receiver> {
  const worker = new Worker(RECEIVER_WORKER, { workerData: { status: options.status ?? 200, answer: options.answer ?? null, markHeader: options.markHeader?.toLowerCase() ?? null } });
  const next = <T>() => new Promise<T>((resolve, reject) => {
    const fail = (err: Error) => reject(err);
    worker.once('error', fail);
    worker.once('message', (message: T) => {
      worker.off('error', fail);
      resolve(message);
    });
  });
  const { port } = await next<{ port: number }>();
  return {
    url: `http://127.0.0.1:${port}${path}`,
    count: () => {
      const answer = next<ReceiverCounts>();
      worker.postMessage('count');
      return answer;
    },
    close: async () => {
      await worker.terminate();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// bench/results.json and the table in docs/benchmarks.md
// ---------------------------------------------------------------------------------------------

const RESULTS = new URL('./results.json', import.meta.url);
const DOC = new URL('../docs/benchmarks.md', import.meta.url);

type Results = { figures: Record<string, Figure & { target: string; check: Target; measuredAt: string }> };

export function readResults(): Results {
  return existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Results) : { figures: {} };
}

/** Merges new figures into bench/results.json and rewrites the table in docs/benchmarks.md. */
export function writeResults(update: Results['figures']): Results {
  const results = readResults();
  Object.assign(results.figures, update);
  writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
  const rows = Object.entries(results.figures).map(([name, f]) =>
    `| \`${name}\` | ${Number.isInteger(f.value) ? f.value : f.value.toFixed(3)} ${f.unit} | ${f.baseline} | ${f.target} | ${meets(f.value, f.check) ? 'met' : '**missed**'} | ${f.measuredAt.slice(0, 10)} |`);
  const table = ['| figure | value | against | target | holds | measured |', '|---|---|---|---|---|---|', ...rows].join('\n');
  const start = '<!-- figures:start -->';
  const end = '<!-- figures:end -->';
  const doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : `# Benchmarks\n\n${start}\n${end}\n`;
  const [before, rest] = doc.split(start);
  const after = rest?.split(end)[1] ?? '\n';
  writeFileSync(DOC, `${before}${start}\n${table}\n${end}${after}`);
  return results;
}
