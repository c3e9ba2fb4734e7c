import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { DefaultExecutorRunner } from '../../src/adapters/executors/executor-runner.ts';
import { EgressPolicy } from '../../src/adapters/egress/address-policy.ts';
import { EgressClient } from '../../src/adapters/egress/egress-client.ts';
import { SandboxPool } from '../../src/adapters/sandbox/pool.ts';
import type { Executor } from '../../src/domain/executor.ts';
import type { Benchmark } from '../harness.ts';

/** Samples per side, taken in alternating blocks (ABBA…) so drift hits both alike. */
const SAMPLES = 4000;
const BLOCK = 250;
const WARMUP = 500;

/** A newEmails webhook input as deskhook sends it (PRODUCT §3), about 1.5 KB of JSON. */
const INPUT = {
  hook: 'newEmails', invocationId: 'inv_01JBENCH0000000000000000', timestamp: '2026-11-28T10:00:00Z',
  emailAccountId: 1, ticketId: 42, conversationId: null, userId: null, direction: 'in',
  ticket: {
    id: 42, externalTicketId: null, emailAccountId: 1, channel: 'email', subject: 'Zählerstand und Abschlag',
    from: 'erika.mustermann@example.com', fromName: 'Erika Mustermann', to: ['support@stadtwerke.example'],
    status: 'open', priority: 'medium', dueBy: null, firstResponseDueBy: '2026-11-29T10:00:00Z', agentId: null,
    tags: ['strom'], contractId: null, customerId: null, legitimationLevel: 0,
    createdAt: '2026-11-28T10:00:00Z', modifiedAt: '2026-11-28T10:00:00Z', closedAt: null, lastMessageAt: '2026-11-28T10:00:00Z',
  },
  email: {
    messageId: '<a1b2c3@example.com>', inReplyTo: null, references: [],
    from: { address: 'erika.mustermann@example.com', name: 'Erika Mustermann' }, to: [{ address: 'support@stadtwerke.example', name: '' }], cc: [],
    subject: 'Zählerstand und Abschlag',
    bodyPlain: 'Guten Tag,\n\nmein Zählerstand für Zähler 1ESY1161234567 ist 10432 kWh. Bitte passen Sie meinen Abschlag an.\nVertragsnummer V-100234.\n\nViele Grüße\nErika Mustermann\nHauptstraße 12a, 12345 Musterstadt\n',
    bodyHtml: '<p>Guten Tag,</p><p>mein Zählerstand für Zähler 1ESY1161234567 ist 10432 kWh. Bitte passen Sie meinen Abschlag an.<br>Vertragsnummer V-100234.</p><p>Viele Grüße<br>Erika Mustermann</p>',
    private: false, attachments: [],
  },
};

/** What the receiver answers: a typical webhook output (PRODUCT §3). */
const ANSWER = JSON.stringify({ ticket: { priority: 'high', addTags: ['abschlag'] }, note: 'Abschlag-Änderung erkannt' });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return { samples: samples.length, p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)), meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length) };
}

/**
 * p50 latency of an inline `apiCall` run through DefaultExecutorRunner (secret-free headers,
 * traceparent, egress guard after name resolution, JSON in and out, trace with excerpts) divided
 * by the p50 of a bare undici `request()` with its own keep-alive Agent that also serialises the
 * same input and parses the JSON answer. Both POST to one node:http receiver on 127.0.0.1,
 * sequentially, one request in flight at a time.
 */
export const apicallOverhead: Benchmark = {
  name: 'apicall_overhead_p50',
  target: '≤ 1.10× at p50 (≤ 1.25× at p99)',
  async run() {
    let received = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received++;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) }).end(ANSWER);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    const egress = new EgressClient({ policy: new EgressPolicy(['127.0.0.1/32']) });
    // apiCall never touches the sandbox; the runner needs one all the same, and it starts no worker until asked.
    const pool = new SandboxPool({ size: 1 });
    const runner = new DefaultExecutorRunner({ egress, sandbox: pool, secret: async () => null });
    const executor: Executor = { type: 'apiCall', url, method: 'POST', headers: {} };
    const bareAgent = new Agent({ keepAliveTimeout: 60_000 });

    const viaRunner = async (): Promise<number> => {
      const began = performance.now();
      const run = await runner.run(executor, INPUT);
      const elapsed = performance.now() - began;
      if (!run.ok) throw new Error(`apiCall failed: ${run.error?.code}: ${run.error?.message}`);
      return elapsed;
    };
    const bare = async (): Promise<number> => {
      const began = performance.now();
      const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(INPUT), dispatcher: bareAgent });
      const output = await res.body.json();
      const elapsed = performance.now() - began;
      if (res.statusCode !== 200 || typeof output !== 'object') throw new Error(`bare request answered ${res.statusCode}`);
      return elapsed;
    };

    try {
      for (let i = 0; i < WARMUP; i++) {
        await viaRunner();
        await bare();
      }
      const runnerMs: number[] = [];
      const bareMs: number[] = [];
      for (let block = 0; block < (2 * SAMPLES) / BLOCK; block++) {
        // ABBA: runner, bare, bare, runner, runner, bare, …
        const runnerTurn = block % 4 === 0 || block % 4 === 3;
        for (let i = 0; i < BLOCK; i++) {
          if (runnerTurn) runnerMs.push(await viaRunner());
          else bareMs.push(await bare());
        }
      }
      const inline = summary(runnerMs);
      const base = summary(bareMs);
      if (received !== 2 * (WARMUP + SAMPLES)) throw new Error(`receiver saw ${received} requests, expected ${2 * (WARMUP + SAMPLES)}`);
      return {
        value: inline.p50Ms / base.p50Ms,
        unit: '×',
        baseline: 'bare undici request() to the same local receiver (keep-alive Agent)',
        detail: {
          apiCall: inline,
          bare: base,
          p99Ratio: inline.p99Ms / base.p99Ms,
          warmupPerSide: WARMUP,
          blockSize: BLOCK,
          inputBytes: Buffer.byteLength(JSON.stringify(INPUT)),
          answerBytes: Buffer.byteLength(ANSWER),
          concurrency: 1,
        },
      };
    } finally {
      await bareAgent.close();
      await egress.close();
      await pool.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  },
};
