import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { createUser } from '../../src/app/auth/users.ts';
import { login } from '../../src/app/auth/login.ts';
import { createTicket } from '../../src/app/tickets/create-ticket.ts';
import { buildHttpApp } from '../../src/adapters/http/app.ts';
import { abba, quick, rounded, startLoadWorker, type Benchmark, type LoadOptions, type LoadResult } from '../harness.ts';
import { benchDeps } from '../support.ts';

const CONNECTIONS = 10;
/** Seconds per round and side; rounds per side, in ABBA order after one warm-up round each. */
const ROUND_SECONDS = quick(3, 1);
const ROUNDS = quick(6, 5);

/**
 * Ticket PATCH requests/s (auth, validation, optimistic write, activity and outbox event in one
 * SQLite transaction) divided by a bare Fastify JSON route's requests/s: autocannon in a worker
 * thread, the same settings and bodies for both, ABBA rounds; the ratio of the sides' medians.
 */
export const apiPatchVsBare: Benchmark = {
  name: 'api_patch_vs_bare',
  target: '≥ 0.25× the throughput',
  check: { op: '>=', value: 0.25 },
  async run() {
    const { deps, close } = await benchDeps();
    await createUser(deps, { email: 'bench@example.com', name: 'Bench', role: 'agent', password: 'bench password' });
    const { token } = await login(deps, 'bench@example.com', 'bench password', '127.0.0.1');
    const { ticket } = await createTicket(deps, { subject: 'bench' }, { type: 'system', reason: 'bench' });
    const app = await buildHttpApp({ deps, logger: false, registry: new Registry(), bodyLimitBytes: 1 << 20, ready: async () => true, version: 'bench', api: true });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;

    const bare = Fastify({ logger: false });
    bare.patch('/x', async (request) => ({ ok: true, echo: request.body }));
    await bare.listen({ port: 0, host: '127.0.0.1' });
    const barePort = (bare.server.address() as { port: number }).port;
    const generator = await startLoadWorker();

    // Alternating values so every request really changes the ticket.
    const common: Omit<LoadOptions, 'url'> = {
      method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      bodies: ['{"priority":"high"}', '{"priority":"low"}'], duration: ROUND_SECONDS, connections: CONNECTIONS,
    };
    const runs: { patch: LoadResult[]; bare: LoadResult[] } = { patch: [], bare: [] };
    const side = (name: 'patch' | 'bare', url: string) => async () => {
      const r = await generator.autocannon({ ...common, url });
      if (r.errors || r.non2xx) throw new Error(`${name} load had ${r.errors} errors and ${r.non2xx} non-2xx answers`);
      runs[name].push(r);
      return r.requestsPerSecond;
    };
    try {
      const rates = await abba({ rounds: ROUNDS }, {
        patch: side('patch', `http://127.0.0.1:${port}/api/v1/tickets/${ticket.id}`),
        bare: side('bare', `http://127.0.0.1:${barePort}/x`),
      });
      const measured = (rs: LoadResult[]) => rs.slice(1).map((r) => ({ p50Ms: r.p50Ms, p99Ms: r.p99Ms }));
      return {
        value: rates.patch.median / rates.bare.median,
        unit: '×',
        baseline: 'bare Fastify JSON route, same load generator (median of ABBA rounds)',
        detail: {
          requestsPerSecond: { patch: rounded(rates.patch), bare: rounded(rates.bare) },
          latencyPerRound: { patch: measured(runs.patch), bare: measured(runs.bare) },
          value: 'median requests/s of the PATCH rounds / median of the bare rounds',
          rounds: ROUNDS, warmupRounds: 1, roundSeconds: ROUND_SECONDS, connections: CONNECTIONS,
          loadGenerator: 'autocannon in a worker thread', database: 'sqlite',
        },
      };
    } finally {
      await generator.close();
      await app.close();
      await bare.close();
      await close();
    }
  },
};
