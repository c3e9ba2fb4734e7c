/**
 * `npm run bench [-- name …]`: measures each target of docs/product.md ("How good it must be") against its baseline in the
 * same run, writes bench/results.json and the table in docs/benchmarks.md. With BENCH_QUICK=1 every figure runs with short
 * rounds, to check that it works, and nothing is written.
 */
import { meets, QUICK, writeResults, type Benchmark } from './harness.ts';
import { apiPatchVsBare } from './figures/api-patch-vs-bare.ts';
import { smtpIngestVsDiscard } from './figures/smtp-ingest-vs-discard.ts';
import { sandboxVsSubprocess } from './figures/sandbox-vs-subprocess.ts';
import { apicallOverhead } from './figures/apicall-overhead.ts';
import { hookOverheadP50, hookOverheadP99 } from './figures/hook-overhead.ts';
import { deliveryVsPgboss, deliveryVsRawSqlite } from './figures/delivery.ts';
import { cacheHitVsLru, cacheHitVsRedis, extractionEmailsPerS, singleFlightCalls } from './figures/erp-recognition.ts';
import { scaleBenchmarks } from './figures/scale.ts';
import { stallBenchmarks } from './figures/stall.ts';

const ALL: Benchmark[] = [apiPatchVsBare, smtpIngestVsDiscard, sandboxVsSubprocess, apicallOverhead, hookOverheadP50, hookOverheadP99, deliveryVsRawSqlite, deliveryVsPgboss,
  cacheHitVsLru, cacheHitVsRedis, singleFlightCalls, extractionEmailsPerS];

/** Run only when named (`npm run bench -- scale`, `-- stall`): loading 100k tickets or records takes minutes. */
const GROUPS: Record<string, Benchmark[]> = { scale: scaleBenchmarks, stall: stallBenchmarks };
const KNOWN = [...ALL, ...scaleBenchmarks, ...stallBenchmarks];

const wanted = process.argv.slice(2).flatMap((w) => GROUPS[w]?.map((b) => b.name) ?? [w]);
const chosen = wanted.length ? KNOWN.filter((b) => wanted.includes(b.name)) : ALL;
if (wanted.length && chosen.length !== wanted.length) {
  process.stderr.write(`unknown benchmark; known: ${[...ALL.map((b) => b.name), ...Object.keys(GROUPS)].join(', ')}\n`);
  process.exit(2);
}
const missed: string[] = [];
if (QUICK) process.stdout.write('BENCH_QUICK=1: short rounds, nothing is written\n');
for (const bench of chosen) {
  process.stdout.write(`${bench.name} … `);
  const figure = await bench.run();
  // Every figure is measured by this run; none is carried over from an earlier one.
  if (!QUICK) writeResults({ [bench.name]: { ...figure, target: bench.target, check: bench.check, measuredAt: new Date().toISOString() } });
  const verdict = meets(figure.value, bench.check) ? 'met' : 'MISSED';
  if (verdict === 'MISSED') missed.push(bench.name);
  process.stdout.write(`${figure.value.toFixed(3)} ${figure.unit} (against ${figure.baseline}; target ${bench.target}: ${verdict})\n`);
}
process.stdout.write(missed.length ? `targets missed: ${missed.join(', ')}\n` : 'every target met\n');
process.exit(0);
