import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { createUser } from '../../src/app/auth/users.ts';
import { login } from '../../src/app/auth/login.ts';
import { createEmailAccount } from '../../src/app/email-accounts.ts';
import { createTicket } from '../../src/app/tickets/create-ticket.ts';
import { buildHttpApp } from '../../src/adapters/http/app.ts';
import type { Benchmark, Figure } from '../harness.ts';
import { benchDeps } from '../support.ts';

/** Per side, after warm-up; taken in blocks whose order rotates so drift hits all three alike. */
const SAMPLES = 600;
const BLOCK = 50;
const WARMUP = 200;

type Side = 'hooked' | 'plain' | 'bare';
/** Every order of the three sides once per six rounds. */
const ORDERS: Side[][] = [
  ['hooked', 'plain', 'bare'], ['bare', 'plain', 'hooked'], ['plain', 'hooked', 'bare'],
  ['bare', 'hooked', 'plain'], ['hooked', 'bare', 'plain'], ['plain', 'bare', 'hooked'],
];

interface Summary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

interface Measurement {
  hooked: Summary;
  plain: Summary;
  bare: Summary;
  p50Ratio: number;
  p99Ratio: number;
  hookCalls: number;
  inputBytes: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

function summary(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return { samples: samples.length, p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)), meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length) };
}

/**
 * One run measures three latencies, one request in flight at a time, on SQLite:
 * - `hooked`: ticket PATCH over HTTP on a ticket whose email account has a ticketUpdates apiCall
 *   hook to a local receiver (lease, signed call, answer check, invocation log, then the change);
 * - `plain`: the same PATCH on a ticket of an account without hooks;
 * - `bare`: an undici POST of the hook's own input (the bytes the receiver last got) to the same
 *   receiver, with its JSON answer parsed.
 * The figure is hooked / (plain + bare) at p50 and at p99: what the hook costs beyond the change
 * itself and the HTTP round trip it cannot avoid. Every request changes its ticket (priorities
 * alternate), so every hooked PATCH really calls the hook.
 */
async function measureOnce(): Promise<Measurement> {
  let hookCalls = 0;
  let lastInput = '';
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers['webhook-id']) {
        hookCalls++;
        lastInput = Buffer.concat(chunks).toString('utf8');
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
    });
  });
  receiver.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const { deps, close } = await benchDeps();
  await createUser(deps, { email: 'bench@example.com', name: 'Bench', role: 'agent', password: 'bench password' });
  const { token } = await login(deps, 'bench@example.com', 'bench password', '127.0.0.1');
  const system = { type: 'system' as const, reason: 'bench' };
  const withHook = await createEmailAccount(deps, {
    name: 'Hooked', address: 'hooked@bench.example', inbound: { type: 'smtp' },
    webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url: hookUrl, method: 'POST', headers: {} }, newEmails: null, failurePolicy: 'notify' },
  });
  const withoutHook = await createEmailAccount(deps, { name: 'Plain', address: 'plain@bench.example', inbound: { type: 'smtp' } });
  const hookedTicket = (await createTicket(deps, { subject: 'bench', from: 'erika@example.com', emailAccountId: withHook.id }, system)).ticket;
  const plainTicket = (await createTicket(deps, { subject: 'bench', from: 'erika@example.com', emailAccountId: withoutHook.id }, system)).ticket;

  const app = await buildHttpApp({ deps, logger: false, registry: new Registry(), bodyLimitBytes: 1 << 20, ready: async () => true, version: 'bench', api: true });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const apiBase = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/tickets`;
  const apiAgent = new Agent({ keepAliveTimeout: 60_000 });
  const bareAgent = new Agent({ keepAliveTimeout: 60_000 });

  const priorities = ['high', 'low'] as const;
  const turns = new Map<number, number>();
  const patch = async (ticketId: number, expectHook: boolean): Promise<number> => {
    const n = turns.get(ticketId) ?? 0;
    turns.set(ticketId, n + 1);
    const callsBefore = hookCalls;
    const began = performance.now();
    const res = await request(`${apiBase}/${ticketId}`, {
      method: 'PATCH', dispatcher: apiAgent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ priority: priorities[n % 2] }),
    });
    const body = (await res.body.json()) as { priority?: string; warnings?: unknown };
    const elapsed = performance.now() - began;
    if (res.statusCode !== 200 || body.priority !== priorities[n % 2]) throw new Error(`PATCH answered ${res.statusCode}: ${JSON.stringify(body)}`);
    if (body.warnings) throw new Error(`the hook failed during the benchmark: ${JSON.stringify(body.warnings)}`);
    if (hookCalls - callsBefore !== (expectHook ? 1 : 0)) throw new Error(`expected ${expectHook ? 'one hook call' : 'no hook call'}, the receiver saw ${hookCalls - callsBefore}`);
    return elapsed;
  };
  const bare = async (): Promise<number> => {
    const began = performance.now();
    const res = await request(hookUrl, { method: 'POST', dispatcher: bareAgent, headers: { 'content-type': 'application/json' }, body: lastInput });
    const output = await res.body.json();
    const elapsed = performance.now() - began;
    if (res.statusCode !== 200 || typeof output !== 'object') throw new Error(`bare request answered ${res.statusCode}`);
    return elapsed;
  };
  const run: Record<Side, () => Promise<number>> = {
    hooked: () => patch(hookedTicket.id, true),
    plain: () => patch(plainTicket.id, false),
    bare,
  };

  try {
    for (let i = 0; i < WARMUP; i++) {
      await run.hooked();
      await run.plain();
      await run.bare();
    }
    const samples: Record<Side, number[]> = { hooked: [], plain: [], bare: [] };
    for (let round = 0; round < SAMPLES / BLOCK; round++) {
      for (const side of ORDERS[round % ORDERS.length]!) {
        for (let i = 0; i < BLOCK; i++) samples[side].push(await run[side]());
      }
    }
    const hooked = summary(samples.hooked);
    const plain = summary(samples.plain);
    const bareSummary = summary(samples.bare);
    return {
      hooked, plain, bare: bareSummary,
      p50Ratio: hooked.p50Ms / (plain.p50Ms + bareSummary.p50Ms),
      p99Ratio: hooked.p99Ms / (plain.p99Ms + bareSummary.p99Ms),
      hookCalls, inputBytes: Buffer.byteLength(lastInput),
    };
  } finally {
    await apiAgent.close();
    await bareAgent.close();
    await app.close();
    await close();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
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

function figure(m: Measurement, value: number): Figure {
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    value,
    unit: '×',
    baseline: 'the same PATCH without a hook + a bare undici request to the same local receiver',
    detail: {
      hookedPatch: m.hooked,
      plainPatch: m.plain,
      bareRequest: m.bare,
      p50Ratio: round(m.p50Ratio),
      p99Ratio: round(m.p99Ratio),
      hookCostP50Ms: round(m.hooked.p50Ms - m.plain.p50Ms),
      warmupPerSide: WARMUP,
      blockSize: BLOCK,
      hookCalls: m.hookCalls,
      hookInputBytes: m.inputBytes,
      concurrency: 1,
      database: 'sqlite',
    },
  };
}

export const hookOverheadP50: Benchmark = {
  name: 'hook_overhead_p50',
  target: '≤ 1.10×',
  async run() {
    const m = await measure();
    return figure(m, m.p50Ratio);
  },
};

export const hookOverheadP99: Benchmark = {
  name: 'hook_overhead_p99',
  target: '≤ 1.25×',
  async run() {
    const m = await measure();
    return figure(m, m.p99Ratio);
  },
};
