import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTicket } from '../src/app/tickets/create-ticket.ts';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const TICKETS = 500;

/**
 * A bulk change of the API's largest batch runs one ticket at a time. On SQLite every statement is
 * synchronous, so without a turn of the event loop between tickets the whole batch held the
 * process (about half a second for 500): health checks, other agents' requests, SMTP and the
 * delivery worker waited for it. Now other requests are answered while it runs.
 */
describe.each(BACKENDS)('a bulk change on %s', (kind) => {
  let t: TestApp;
  afterEach(async () => { await t.close(); });

  it(`lets the server answer other requests while ${TICKETS} tickets change, and changes them all`, async () => {
    t = await startTestApp(kind);
    const system = { type: 'system' as const, reason: 'test' };
    const ids: number[] = [];
    for (let i = 0; i < TICKETS; i++) ids.push((await createTicket(t.deps, { subject: `Abschlag ${i}`, from: `kunde${i}@example.com` }, system)).ticket.id);
    await t.http.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(t.http.server.address() as AddressInfo).port}`;
    let done = false;
    const bulk = fetch(`${base}/api/v1/tickets`, {
      method: 'PATCH', body: JSON.stringify({ ids, patch: { priority: 'high', addTags: ['umzug'] } }),
      headers: { authorization: `Bearer ${t.agentToken}`, 'content-type': 'application/json' },
    }).then(async (res) => { done = true; return { status: res.status, body: (await res.json()) as { items: Array<{ ok: boolean; ticket: { priority: string; tags: string[] } }> } }; });
    // Health checks one after another for as long as the bulk change runs: each one answered
    // before it did is a request the process served meanwhile.
    let answeredDuring = 0;
    while (!done) {
      const res = await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      if (!done) answeredDuring++;
    }
    const result = await bulk;
    expect(result.status).toBe(200);
    expect(result.body.items).toHaveLength(TICKETS);
    expect(result.body.items.every((item) => item.ok && item.ticket.priority === 'high' && item.ticket.tags.includes('umzug'))).toBe(true);
    expect(answeredDuring).toBeGreaterThan(20);
  }, 60_000);
});
