import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { createUser } from '../../src/app/auth/users.ts';
import { login } from '../../src/app/auth/login.ts';
import { createTicket } from '../../src/app/tickets/create-ticket.ts';
import { buildHttpApp } from '../../src/adapters/http/app.ts';
import { load, type Benchmark } from '../harness.ts';
import { benchDeps } from '../support.ts';

/**
 * Ticket PATCH requests/s (auth, validation, optimistic write, activity and outbox event in one
 * SQLite transaction) divided by a bare Fastify JSON route's requests/s, same autocannon settings.
 */
export const apiPatchVsBare: Benchmark = {
  name: 'api_patch_vs_bare',
  target: 'informative (the cost of a durable, audited change)',
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

    // Alternating values so every request really changes the ticket.
    const priorities = ['high', 'low'];
    let n = 0;
    const body = () => JSON.stringify({ priority: priorities[n++ % 2] });
    const common = { method: 'PATCH' as const, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, duration: 5, connections: 10 };
    await load({ ...common, url: `http://127.0.0.1:${barePort}/x`, body: body(), duration: 1 });
    const patch = await load({ ...common, url: `http://127.0.0.1:${port}/api/v1/tickets/${ticket.id}`, requests: [{ setupRequest: (r) => ({ ...r, body: body() }) }] });
    const base = await load({ ...common, url: `http://127.0.0.1:${barePort}/x`, requests: [{ setupRequest: (r) => ({ ...r, body: body() }) }] });
    await app.close();
    await bare.close();
    await close();
    if (patch.errors || patch.non2xx) throw new Error(`PATCH load had ${patch.errors} errors and ${patch.non2xx} non-2xx answers`);
    return {
      value: patch.requestsPerSecond / base.requestsPerSecond,
      unit: '×',
      baseline: 'bare Fastify JSON route, same load generator',
      detail: { patch, bare: base, connections: 10, durationSeconds: 5, database: 'sqlite' },
    };
  },
};
