import { afterEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const RECORDS = 20_000;

function jsonLines(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({ type: 'customer', id: `K-${i}`, business: false, firstname: 'Erika', lastname: `Muster${i}`, company: null, contractIds: [`V-${i}`] }));
    lines.push(JSON.stringify({ type: 'contract', id: `V-${i}`, customerId: `K-${i}`, business: false, lastname: `Muster${i}`, company: null }));
  }
  return lines.join('\n');
}

describe.each(BACKENDS)('a large ERP import on %s', (kind) => {
  let t: TestApp;
  afterEach(async () => { await t.close(); });

  it(`lets the server answer other requests while ${RECORDS * 2} records are written, and writes them all`, async () => {
    t = await startTestApp(kind, { bodyLimitBytes: 64 * 1024 * 1024 });
    await t.http.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(t.http.server.address() as AddressInfo).port}`;
    let done = false;
    const importing = fetch(`${base}/api/v1/erp/import`, {
      method: 'POST', body: jsonLines(RECORDS),
      headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/x-ndjson' },
    }).then(async (res) => { done = true; return { status: res.status, body: await res.json() }; });
    // Health checks one after another for as long as the import runs: each one answered before
    // the import did is a request the process served meanwhile.
    let answeredDuring = 0;
    while (!done) {
      const res = await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      if (!done) answeredDuring++;
    }
    const result = await importing;
    expect(result).toEqual({ status: 200, body: { contracts: RECORDS, customers: RECORDS } });
    expect(answeredDuring).toBeGreaterThan(20);
    const search = await t.api('GET', '/api/v1/customers/search?q=muster19999', undefined, t.agentToken);
    expect(search.json().items.map((c: { id: string }) => c.id)).toEqual(['K-19999']);
  }, 120_000);
});
