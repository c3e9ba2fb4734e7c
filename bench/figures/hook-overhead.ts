import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { Registry } from 'prom-client';
import { createUser } from '../../src/app/auth/users.ts';
import { login } from '../../src/app/auth/login.ts';
import { createEmailAccount } from '../../src/app/email-accounts.ts';
import { createTicket } from '../../src/app/tickets/create-ticket.ts';
import { buildHttpApp } from '../../src/adapters/http/app.ts';
import {
  abba, latencySummary, percentile, quick, round3, rounded, startLoadWorker, startReceiver, type Benchmark, type Figure, type SequenceRequest, type SideStats,
} from '../harness.ts';
import { benchDeps } from '../support.ts';

/** Request pairs (or bare requests) per round; rounds per side in ABBA order, after two warm-up rounds each. */
const PAIRS = quick(100, 20);
const ROUNDS = quick(10, 5);
const WARMUP_ROUNDS = 2;

/** What the hook answers every time: a realistic patch, a priority and a tag (docs/product.md, synchronous webhooks). */
const HOOK_ANSWER = JSON.stringify({ ticket: { priority: 'high', addTags: ['abschlag'] } });
/**
 * What both PATCHes send, in turn: a change of priority that also drops the tag. On the hooked
 * ticket the hook's answer then sets both back, so every PATCH and every answer really changes it.
 */
const BODIES = [{ priority: 'low', removeTags: ['abschlag'] }, { priority: 'medium', removeTags: ['abschlag'] }];

interface Measurement {
  /** hooked − plain per pair, ms. */
  added: number[];
  hooked: number[];
  plain: number[];
  bare: number[];
  backToBack: number[];
  /** The executor run of each measured hook call, as the invocation log records it. */
  callMs: number[];
  rounds: { addedP50: SideStats; bareP50: SideStats; backToBackP50: SideStats };
  hookCalls: number;
  inputBytes: number;
}

/**
 * One run on SQLite, every request sent by the load worker (a worker thread) one at a time over
 * one keep-alive connection per server, in ABBA rounds of two kinds:
 * - pairs: a ticket PATCH on a ticket whose email account has a ticketUpdates apiCall hook to a
 *   local receiver (lease, signed call, answer check, invocation log, the change, then the hook's
 *   patch applied), and the same PATCH on a ticket of an account without hooks, back to back
 *   (which goes first alternates by pair); the added time of the pair is hooked − plain;
 * - bare: an undici POST of the hook's own input (the bytes the receiver last got) to the same
 *   receiver (in a worker thread of its own), its JSON answer parsed.
 * The figures are the p50 and the p99 of the added time over every measured pair, each divided by
 * the same percentile of the bare request: what a hook adds, in round trips it cannot avoid.
 */
async function measureOnce(): Promise<Measurement> {
  const receiver = await startReceiver({ status: 200, answer: HOOK_ANSWER, markHeader: 'webhook-id' });
  const { deps, handle, close } = await benchDeps();
  await createUser(deps, { email: 'bench@example.com', name: 'Bench', role: 'agent', password: 'bench password' });
  const { token } = await login(deps, 'bench@example.com', 'bench password', '127.0.0.1');
  const system = { type: 'system' as const, reason: 'bench' };
  const withHook = await createEmailAccount(deps, {
    name: 'Hooked', address: 'hooked@bench.example', inbound: { type: 'smtp' },
    webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url: receiver.url, method: 'POST', headers: {} }, newEmails: null, failurePolicy: 'notify' },
  });
  const withoutHook = await createEmailAccount(deps, { name: 'Plain', address: 'plain@bench.example', inbound: { type: 'smtp' } });
  const hookedTicket = (await createTicket(deps, { subject: 'bench', from: 'erika@example.com', emailAccountId: withHook.id }, system)).ticket;
  const plainTicket = (await createTicket(deps, { subject: 'bench', from: 'erika@example.com', emailAccountId: withoutHook.id }, system)).ticket;

  const app = await buildHttpApp({ deps, logger: false, registry: new Registry(), bodyLimitBytes: 1 << 20, ready: async () => true, version: 'bench', api: true });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const apiBase = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/tickets`;
  const client = await startLoadWorker();
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const patch = (ticketId: number, k: number): SequenceRequest => ({ url: `${apiBase}/${ticketId}`, method: 'PATCH', headers, body: JSON.stringify(BODIES[k % 2]), json: true });

  const all = { added: [] as number[], hooked: [] as number[], plain: [] as number[], bare: [] as number[], backToBack: [] as number[] };
  let pairsRun = 0;
  const pairs = async (): Promise<number> => {
    const before = await receiver.count();
    const requests: SequenceRequest[] = [];
    for (let k = 0; k < PAIRS; k++) {
      const pair = [patch(hookedTicket.id, k), patch(plainTicket.id, k)];
      requests.push(...((pairsRun + k) % 2 === 0 ? pair : pair.reverse()));
    }
    const answers = await client.sequence(requests);
    const added: number[] = [];
    for (let k = 0; k < PAIRS; k++) {
      const hookedFirst = (pairsRun + k) % 2 === 0;
      const hooked = answers[2 * k + (hookedFirst ? 0 : 1)]!;
      const plain = answers[2 * k + (hookedFirst ? 1 : 0)]!;
      const h = JSON.parse(hooked.body) as { priority?: string; tags?: string[]; warnings?: unknown };
      const p = JSON.parse(plain.body) as { priority?: string; tags?: string[]; warnings?: unknown };
      if (hooked.status !== 200 || h.priority !== 'high' || !h.tags?.includes('abschlag') || h.warnings) throw new Error(`hooked PATCH answered ${hooked.status}: ${hooked.body.slice(0, 300)}`);
      if (plain.status !== 200 || p.priority !== BODIES[k % 2]!.priority || p.tags?.includes('abschlag') || p.warnings) throw new Error(`plain PATCH answered ${plain.status}: ${plain.body.slice(0, 300)}`);
      added.push(hooked.ms - plain.ms);
      all.hooked.push(hooked.ms);
      all.plain.push(plain.ms);
    }
    pairsRun += PAIRS;
    const after = await receiver.count();
    if (after.marked - before.marked !== PAIRS || after.received - before.received !== PAIRS) {
      throw new Error(`expected ${PAIRS} hook calls, the receiver saw ${after.marked - before.marked} (${after.received - before.received} requests)`);
    }
    all.added.push(...added);
    return percentile(added.sort((a, b) => a - b), 50);
  };
  const bareRequest = (body: string): SequenceRequest => ({ url: receiver.url, method: 'POST', headers: { 'content-type': 'application/json' }, body, json: true });
  const checkBare = (a: { status: number; body: string; ms: number }) => {
    if (a.status !== 200 || a.body !== HOOK_ANSWER) throw new Error(`bare request answered ${a.status}`);
    return a.ms;
  };
  /**
   * The baseline: the bare request in the rhythm a hook call has. Before each hook call the
   * receiver has sat idle while the plain PATCH of the pair (and the rest of the hooked one) ran,
   * and an idle thread on this machine takes longer to wake (a request after 2 ms of quiet costs
   * about twice one sent back to back). So each bare request follows a plain PATCH, which leaves
   * the receiver idle a little less long than before a hook call: if anything, the baseline is faster.
   */
  const bare = async (): Promise<number> => {
    const { lastMarkedBody } = await receiver.count();
    if (!lastMarkedBody) throw new Error('no hook input to replay yet');
    const requests: SequenceRequest[] = [];
    for (let k = 0; k < PAIRS; k++) requests.push(patch(plainTicket.id, k), bareRequest(lastMarkedBody));
    const answers = await client.sequence(requests);
    const ms = answers.filter((_, i) => i % 2 === 1).map(checkBare);
    all.bare.push(...ms);
    return percentile(ms.sort((a, b) => a - b), 50);
  };
  /** The same bare request sent back to back (the receiver never idle): in `detail`, for comparison. */
  const backToBack = async (): Promise<number> => {
    const { lastMarkedBody } = await receiver.count();
    if (!lastMarkedBody) throw new Error('no hook input to replay yet');
    const ms = (await client.sequence(Array.from({ length: PAIRS }, () => bareRequest(lastMarkedBody)))).map(checkBare);
    all.backToBack.push(...ms);
    return percentile(ms.sort((a, b) => a - b), 50);
  };

  try {
    const rounds = await abba({ rounds: ROUNDS, warmupRounds: WARMUP_ROUNDS }, { pairs, bare, backToBack });
    const warm = PAIRS * WARMUP_ROUNDS;
    const { marked, lastMarkedBody } = await receiver.count();
    // The hook's call alone, as its invocation log records it (the executor run: signing, the
    // request, reading the answer), for every measured hooked PATCH.
    const runs = await sql<{ ms: number }>`SELECT duration_ms AS ms FROM webhook_invocations ORDER BY id`.execute(handle.db);
    return {
      callMs: runs.rows.map((r) => Number(r.ms)).slice(-all.hooked.length + warm),
      added: all.added.slice(warm), hooked: all.hooked.slice(warm), plain: all.plain.slice(warm), bare: all.bare.slice(warm), backToBack: all.backToBack.slice(warm),
      rounds: { addedP50: rounds.pairs, bareP50: rounds.bare, backToBackP50: rounds.backToBack }, hookCalls: marked, inputBytes: Buffer.byteLength(lastMarkedBody),
    };
  } finally {
    await client.close();
    await app.close();
    await close();
    await receiver.close();
  }
}

// Both figures come from one measurement: the first run() starts it, the other awaits the same.
let measurement: Promise<Measurement> | null = null;
function measure(): Promise<Measurement> {
  measurement ??= measureOnce().catch((err: unknown) => {
    measurement = null;
    throw err;
  });
  return measurement;
}

const pct = (values: number[], p: number) => percentile([...values].sort((a, b) => a - b), p);

function figure(m: Measurement, p: 50 | 99): Figure {
  const added = latencySummary(m.added);
  const bare = latencySummary(m.bare);
  const backToBack = latencySummary(m.backToBack);
  return {
    value: pct(m.added, p) / pct(m.bare, p),
    unit: '×',
    baseline: `a bare undici request to the same local receiver, each after a plain PATCH (the rhythm of the hook calls), at p${p}; added time = hooked PATCH − plain PATCH per request pair`,
    detail: {
      value: `p${p} of (hooked − plain) over every measured pair / p${p} of the bare request`,
      addedMs: added,
      bareRequestMs: bare,
      bareBackToBackMs: backToBack,
      hookCallMs: { ...latencySummary(m.callMs), source: 'durationMs of each measured invocation: the executor run alone (signing, request, answer read), inside the hooked PATCH' },
      hookedPatchMs: latencySummary(m.hooked),
      plainPatchMs: latencySummary(m.plain),
      ratios: {
        p50: round3(added.p50Ms / bare.p50Ms), p99: round3(added.p99Ms / bare.p99Ms),
        againstBackToBack: { p50: round3(added.p50Ms / backToBack.p50Ms), p99: round3(added.p99Ms / backToBack.p99Ms) },
      },
      roundP50Ms: { added: rounded(m.rounds.addedP50), bare: rounded(m.rounds.bareP50), backToBack: rounded(m.rounds.backToBackP50) },
      hookAnswer: JSON.parse(HOOK_ANSWER) as unknown,
      pairsPerRound: PAIRS, rounds: ROUNDS, warmupRounds: WARMUP_ROUNDS,
      hookCalls: m.hookCalls, hookInputBytes: m.inputBytes,
      concurrency: 1, loadGenerator: 'undici in a worker thread, one keep-alive connection per server', receiver: 'node:http in its own worker thread', database: 'sqlite',
    },
  };
}

export const hookOverheadP50: Benchmark = {
  name: 'hook_overhead_p50',
  target: '≤ 1.10× (added time at p50 / a bare request at p50)',
  check: { op: '<=', value: 1.1 },
  async run() {
    return figure(await measure(), 50);
  },
};

export const hookOverheadP99: Benchmark = {
  name: 'hook_overhead_p99',
  target: '≤ 1.25× (added time at p99 / a bare request at p99)',
  check: { op: '<=', value: 1.25 },
  async run() {
    return figure(await measure(), 99);
  },
};
