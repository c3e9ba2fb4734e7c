/**
 * `npm run bench [-- name …]`: measures each figure of PRODUCT.md §9 against its baseline in the
 * same run, writes bench/results.json and the table in docs/benchmarks.md.
 */
import { writeResults, type Benchmark } from './harness.ts';
import { apiPatchVsBare } from './figures/api-patch-vs-bare.ts';
import { smtpIngestVsDiscard } from './figures/smtp-ingest-vs-discard.ts';
import { sandboxVsSubprocess } from './figures/sandbox-vs-subprocess.ts';
import { apicallOverhead } from './figures/apicall-overhead.ts';
import { hookOverheadP50, hookOverheadP99 } from './figures/hook-overhead.ts';
import { deliveryVsPgboss, deliveryVsRawSqlite } from './figures/delivery.ts';
import { cacheHitVsLru, extractionEmailsPerS, singleFlightCalls } from './figures/erp-recognition.ts';

const ALL: Benchmark[] = [apiPatchVsBare, smtpIngestVsDiscard, sandboxVsSubprocess, apicallOverhead, hookOverheadP50, hookOverheadP99, deliveryVsRawSqlite, deliveryVsPgboss,
  cacheHitVsLru, singleFlightCalls, extractionEmailsPerS];

const wanted = process.argv.slice(2);
const chosen = wanted.length ? ALL.filter((b) => wanted.includes(b.name)) : ALL;
if (wanted.length && chosen.length !== wanted.length) {
  process.stderr.write(`unknown benchmark; known: ${ALL.map((b) => b.name).join(', ')}\n`);
  process.exit(2);
}
for (const bench of chosen) {
  process.stdout.write(`${bench.name} … `);
  const figure = await bench.run();
  writeResults({ [bench.name]: { ...figure, target: bench.target, measuredAt: new Date().toISOString() } });
  process.stdout.write(`${figure.value.toFixed(3)} ${figure.unit} (against ${figure.baseline})\n`);
}
process.exit(0);
