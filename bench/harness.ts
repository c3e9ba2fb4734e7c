import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface Figure {
  value: number;
  unit: string;
  /** What the value is measured against, in the same run. */
  baseline: string;
  detail: Record<string, unknown>;
}

export interface Benchmark {
  name: string;
  /** The target of PRODUCT.md §9 this figure is read against, in words. */
  target: string;
  run(): Promise<Figure>;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

/** One autocannon run; the same settings for a figure and its baseline. */
export async function load(options: autocannon.Options): Promise<LoadResult> {
  const result = await autocannon({ connections: 10, duration: 5, ...options });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

const RESULTS = new URL('./results.json', import.meta.url);
const DOC = new URL('../docs/benchmarks.md', import.meta.url);

type Results = { figures: Record<string, Figure & { target: string; measuredAt: string }> };

export function readResults(): Results {
  return existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Results) : { figures: {} };
}

/** Merges new figures into bench/results.json and rewrites the table in docs/benchmarks.md. */
export function writeResults(update: Results['figures']): Results {
  const results = readResults();
  Object.assign(results.figures, update);
  writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
  const rows = Object.entries(results.figures).map(([name, f]) =>
    `| \`${name}\` | ${Number.isInteger(f.value) ? f.value : f.value.toFixed(3)} ${f.unit} | ${f.baseline} | ${f.target} | ${f.measuredAt.slice(0, 10)} |`);
  const table = ['| figure | value | against | target | measured |', '|---|---|---|---|---|', ...rows].join('\n');
  const start = '<!-- figures:start -->';
  const end = '<!-- figures:end -->';
  const doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : `# Benchmarks\n\n${start}\n${end}\n`;
  const [before, rest] = doc.split(start);
  const after = rest?.split(end)[1] ?? '\n';
  writeFileSync(DOC, `${before}${start}\n${table}\n${end}${after}`);
  return results;
}
