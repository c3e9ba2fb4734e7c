import { spawn } from 'node:child_process';
import { DefaultExecutorRunner } from '../../src/adapters/executors/executor-runner.ts';
import { EgressPolicy } from '../../src/adapters/egress/address-policy.ts';
import { EgressClient } from '../../src/adapters/egress/egress-client.ts';
import { SandboxPool } from '../../src/adapters/sandbox/pool.ts';
import type { Executor } from '../../src/domain/executor.ts';
import { abba, latencySummary, median, quick, rounded, type Benchmark } from '../harness.ts';

/**
 * Runs per round and side (a spawn costs 50-300 ms, a warm sandbox run a few milliseconds); rounds
 * per side, in ABBA order after one warm-up round each. The figure takes each round's median time.
 */
const SPAWN_RUNS = quick(10, 3);
const SANDBOX_RUNS = quick(60, 15);
const ROUNDS = quick(6, 5);

/**
 * The function both sides run: an ERP contract record in, deskhook's Contract shape out, with a
 * loop over the meter readings. Plain JavaScript, so the very same text runs in Node and QuickJS.
 */
const MAP_CONTRACT = `
function mapContract(input) {
  const c = input.contract;
  let total = 0;
  let last = null;
  const readings = [];
  for (const r of c.readings) {
    total += r.kwh;
    if (last === null || r.date > last.date) last = r;
    readings.push({ label: r.date, value: r.kwh + ' kWh' });
  }
  const business = c.kind === 'B2B';
  return {
    id: String(c.number),
    customerId: String(c.customer.number),
    business,
    lastname: business ? null : c.customer.surname,
    firstname: business ? null : c.customer.givenName,
    company: business ? c.customer.companyName : null,
    email: c.customer.mail.toLowerCase(),
    zip: c.address.postcode,
    deliveryAddress: c.address.street + ' ' + c.address.no + ', ' + c.address.postcode + ' ' + c.address.town,
    agentPreview: [
      { label: 'Tariff', value: c.tariff },
      { label: 'Consumption', value: total + ' kWh' },
      { label: 'Last reading', value: last ? last.date : '-' },
    ],
    readings: readings.slice(-3),
  };
}
`;

/** Enneo's model: the script reads the input JSON on stdin and prints the output JSON on stdout. */
const SUBPROCESS_SCRIPT = `${MAP_CONTRACT}
let raw = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { raw += chunk; });
process.stdin.on('end', () => { process.stdout.write(JSON.stringify(mapContract(JSON.parse(raw)))); });
`;

/** deskhook's model: a module whose default export maps input to output. */
const SOURCE_CODE: Executor = {
  type: 'sourceCode',
  language: 'typescript',
  code: `${MAP_CONTRACT}
export default async (input: { contract: unknown }, _ctx: unknown): Promise<unknown> => mapContract(input);
`,
};

const INPUT = {
  contractId: 'V-100234',
  ticketId: 42,
  contract: {
    number: 'V-100234', kind: 'B2C', tariff: 'Strom Basis 2026',
    customer: { number: 'K-5521', surname: 'Mustermann', givenName: 'Erika', companyName: null, mail: 'Erika.Mustermann@Example.com' },
    address: { street: 'Hauptstraße', no: '12a', postcode: '12345', town: 'Musterstadt' },
    readings: Array.from({ length: 24 }, (_, i) => ({ date: `2025-${String((i % 12) + 1).padStart(2, '0')}-01`, kwh: 200 + ((i * 37) % 90) })),
  },
};

function spawnOnce(input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SUBPROCESS_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`node exited with ${code}: ${err.slice(0, 500)}`))));
    child.stdin.end(input);
  });
}

/**
 * Median wall time of spawning `node -e` per run (input JSON on stdin, output JSON on stdout, as
 * Enneo runs custom code) divided by the median wall time of a warm `sourceCode` run of the same
 * function through DefaultExecutorRunner (QuickJS worker pool, fresh runtime per run, trace and
 * all). Both sequential, in ABBA rounds; the figure is the ratio of the sides' median round
 * medians. Both outputs are checked to be equal.
 */
export const sandboxVsSubprocess: Benchmark = {
  name: 'sandbox_vs_subprocess',
  target: '≥ 100×',
  check: { op: '>=', value: 100 },
  async run() {
    const inputJson = JSON.stringify(INPUT);
    const egress = new EgressClient({ policy: new EgressPolicy([]) });
    const pool = new SandboxPool({ size: 1 });
    const runner = new DefaultExecutorRunner({ egress, sandbox: pool, secret: async () => null });
    try {
      const expected = JSON.stringify((new Function(`${MAP_CONTRACT}; return mapContract;`)() as (i: unknown) => unknown)(INPUT));

      const spawnMs: number[] = [];
      const sandboxMs: number[] = [];
      let checked = false;
      const times = await abba({ rounds: ROUNDS }, {
        subprocess: async () => {
          const round: number[] = [];
          for (let i = 0; i < SPAWN_RUNS; i++) {
            const began = performance.now();
            const out = await spawnOnce(inputJson);
            round.push(performance.now() - began);
            if (out !== expected) throw new Error(`subprocess output differs: ${out.slice(0, 200)}`);
          }
          spawnMs.push(...round);
          return median(round);
        },
        sandbox: async () => {
          const round: number[] = [];
          for (let i = 0; i < SANDBOX_RUNS; i++) {
            const began = performance.now();
            const run = await runner.run(SOURCE_CODE, INPUT);
            round.push(performance.now() - began);
            if (!run.ok) throw new Error(`sandbox run failed: ${run.error?.code}: ${run.error?.message}`);
            if (!checked && JSON.stringify(run.output) !== expected) throw new Error(`sandbox output differs: ${JSON.stringify(run.output).slice(0, 200)}`);
            checked = true;
          }
          sandboxMs.push(...round);
          return median(round);
        },
      });
      // The runs of the warm-up round are not in the summaries.
      const measured = (all: number[], perRound: number) => all.slice(perRound);
      return {
        value: times.subprocess.median / times.sandbox.median,
        unit: '×',
        baseline: 'node spawned per run, JSON on stdin/stdout (Enneo model; median of ABBA rounds)',
        detail: {
          roundMedianMs: { subprocess: rounded(times.subprocess), sandbox: rounded(times.sandbox) },
          value: 'median of the subprocess rounds\' median ms / median of the sandbox rounds\' median ms',
          subprocess: { ...latencySummary(measured(spawnMs, SPAWN_RUNS)), runsPerRound: SPAWN_RUNS, command: 'child_process.spawn(process.execPath, [\'-e\', code])' },
          sandbox: { ...latencySummary(measured(sandboxMs, SANDBOX_RUNS)), runsPerRound: SANDBOX_RUNS, executor: 'sourceCode typescript via DefaultExecutorRunner', poolSize: 1 },
          rounds: ROUNDS, warmupRounds: 1,
          inputBytes: inputJson.length,
          outputBytes: expected.length,
          node: process.version,
        },
      };
    } finally {
      await pool.close();
      await egress.close();
    }
  },
};
