import { Agent, request } from 'undici';
import { DefaultExecutorRunner } from '../../src/adapters/executors/executor-runner.ts';
import { EgressPolicy } from '../../src/adapters/egress/address-policy.ts';
import { EgressClient } from '../../src/adapters/egress/egress-client.ts';
import { SandboxPool } from '../../src/adapters/sandbox/pool.ts';
import type { Executor } from '../../src/domain/executor.ts';
import { abba, latencySummary, percentile, quick, rounded, startReceiver, type Benchmark } from '../harness.ts';

/** Samples per round and side; rounds per side in ABBA order (so drift hits both alike), after two warm-up rounds each. */
const BLOCK = quick(250, 50);
const ROUNDS = quick(16, 5);
const WARMUP_ROUNDS = 2;

/** A newEmails webhook input as deskhook sends it (docs/product.md, synchronous webhooks), about 1.5 KB of JSON. */
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

/** What the receiver answers: a typical webhook output (docs/product.md, synchronous webhooks). */
const ANSWER = JSON.stringify({ ticket: { priority: 'high', addTags: ['abschlag'] }, note: 'Abschlag-Änderung erkannt' });

/**
 * p50 latency of an inline `apiCall` run through DefaultExecutorRunner (secret-free headers,
 * traceparent, egress guard after name resolution, JSON in and out, trace with excerpts) divided
 * by the p50 of a bare undici `request()` with its own keep-alive Agent that also serialises the
 * same input and parses the JSON answer. Both POST to one node:http receiver on 127.0.0.1 in a
 * worker thread of its own, sequentially, one request in flight at a time, in ABBA rounds; the
 * figure is the ratio of the sides' median round p50s.
 */
export const apicallOverhead: Benchmark = {
  name: 'apicall_overhead_p50',
  target: '≤ 1.10× at p50 (≤ 1.25× at p99)',
  check: { op: '<=', value: 1.1 },
  async run() {
    const receiver = await startReceiver({ status: 200, answer: ANSWER });
    const url = receiver.url;

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

    const samples: { apiCall: number[]; bare: number[] } = { apiCall: [], bare: [] };
    const side = (name: 'apiCall' | 'bare', once: () => Promise<number>) => async () => {
      const round: number[] = [];
      for (let i = 0; i < BLOCK; i++) round.push(await once());
      samples[name].push(...round);
      return percentile([...round].sort((a, b) => a - b), 50);
    };
    try {
      const p50 = await abba({ rounds: ROUNDS, warmupRounds: WARMUP_ROUNDS }, { apiCall: side('apiCall', viaRunner), bare: side('bare', bare) });
      const expected = 2 * BLOCK * (ROUNDS + WARMUP_ROUNDS);
      const { received } = await receiver.count();
      if (received !== expected) throw new Error(`receiver saw ${received} requests, expected ${expected}`);
      const inline = latencySummary(samples.apiCall.slice(BLOCK * WARMUP_ROUNDS));
      const base = latencySummary(samples.bare.slice(BLOCK * WARMUP_ROUNDS));
      return {
        value: p50.apiCall.median / p50.bare.median,
        unit: '×',
        baseline: 'bare undici request() to the same local receiver (keep-alive Agent; median of ABBA rounds)',
        detail: {
          roundP50Ms: { apiCall: rounded(p50.apiCall), bare: rounded(p50.bare) },
          value: 'median of the apiCall rounds\' p50 / median of the bare rounds\' p50',
          apiCall: inline,
          bare: base,
          p99Ratio: Math.round((inline.p99Ms / base.p99Ms) * 1000) / 1000,
          p99RatioIs: 'p99 of every measured apiCall run / p99 of every measured bare request',
          blockSize: BLOCK, rounds: ROUNDS, warmupRounds: WARMUP_ROUNDS,
          inputBytes: Buffer.byteLength(JSON.stringify(INPUT)),
          answerBytes: Buffer.byteLength(ANSWER),
          concurrency: 1,
          receiver: 'node:http answering 200 with the JSON, in its own worker thread',
        },
      };
    } finally {
      await bareAgent.close();
      await egress.close();
      await pool.close();
      await receiver.close();
    }
  },
};
