import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/test-app.ts';

interface Seen { headers: IncomingHttpHeaders; body: string; url: string }

/** The executor service through its test-run endpoint, against a real receiver on 127.0.0.1. */
describe('executors: apiCall and sourceCode test runs', () => {
  let t: TestApp;
  let receiver: Server;
  let base: string;
  const seen: Seen[] = [];

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body, url: req.url ?? '' });
        if (req.url === '/slow') return void setTimeout(() => res.end('{}'), 3000);
        if (req.url === '/boom') { res.statusCode = 500; return void res.end('{"error":"database down"}'); }
        if (req.url === '/html') { res.setHeader('content-type', 'text/html'); return void res.end('<html>oops</html>'); }
        if (req.url === '/empty') { res.statusCode = 204; return void res.end(); }
        if (req.url?.startsWith('/contracts/')) {
          res.setHeader('content-type', 'application/json');
          return void res.end(JSON.stringify({ id: req.url.split('/')[2], customerId: 'K-1', business: false, lastname: 'Mustermann', auth: req.headers.authorization }));
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ echo: JSON.parse(body || 'null'), priority: 'high' }));
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    await t.api('PUT', '/api/v1/secrets/ERP_TOKEN', { value: 'tok-very-secret-123' });
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver.close(() => r()));
    await t.close();
  });

  const test = (executor: unknown, input: unknown = { ticketId: 42 }, token = t.adminToken, timeoutMs?: number) =>
    t.api('POST', '/api/v1/executors/test', { executor, input, ...(timeoutMs ? { timeoutMs } : {}) }, token);

  it('is for admins only', async () => {
    expect((await test({ type: 'apiCall', url: `${base}/x` }, {}, t.agentToken)).statusCode).toBe(403);
  });

  it('apiCall: posts the input as JSON with the secret resolved in headers only, and a traceparent', async () => {
    const res = await test({ type: 'apiCall', url: `${base}/hook`, headers: { authorization: 'Bearer {{secret.ERP_TOKEN}}', 'x-literal': '{{secret.ERP_TOKEN}}x' } }, { note: '{{secret.ERP_TOKEN}}' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ ok: true, status: 200, output: { echo: { note: '{{secret.ERP_TOKEN}}' }, priority: 'high' } });
    const req = seen.at(-1)!;
    expect(req.headers.authorization).toBe('Bearer tok-very-secret-123');
    expect(req.headers['x-literal']).toBe('tok-very-secret-123x');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // Only header values are templates: the body went out as written.
    expect(JSON.parse(req.body)).toEqual({ note: '{{secret.ERP_TOKEN}}' });
    expect(res.body).not.toContain('tok-very-secret-123');
  });

  it('apiCall failures have stable codes and messages a user can act on', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ type: 'apiCall', url: `${base}/boom` }, 'http_status', /answered 500: \{"error":"database down"\}/],
      [{ type: 'apiCall', url: `${base}/html` }, 'invalid_json', /not JSON/],
      [{ type: 'apiCall', url: base.replace('127.0.0.1', '127.0.0.2') + '/x' }, 'egress_refused', /127\.0\.0\.2.*loopback/],
      [{ type: 'apiCall', url: 'http://127.0.0.1:1/x' }, 'connection_error', /ECONNREFUSED/],
      [{ type: 'apiCall', url: `${base}/x`, headers: { authorization: '{{secret.NOPE}}' } }, 'secret_missing', /NOPE/],
    ];
    for (const [executor, code, message] of cases) {
      const body = (await test(executor)).json();
      expect(body.ok, code).toBe(false);
      expect(body.error.code).toBe(code);
      expect(body.error.message).toMatch(message);
    }
    const empty = (await test({ type: 'apiCall', url: `${base}/empty` })).json();
    expect(empty).toMatchObject({ ok: true, output: {}, status: 204 });
  });

  it('apiCall times out precisely', async () => {
    const started = Date.now();
    const body = (await test({ type: 'apiCall', url: `${base}/slow` }, {}, t.adminToken, 300)).json();
    expect(body.error.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('signs with Standard Webhooks when asked, verifiable with the standardwebhooks package', async () => {
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    const run = await t.deps.executors.run({ type: 'apiCall', url: `${base}/signed`, method: 'POST', headers: {} }, { a: 1 }, { signing: { id: 'inv_123', secrets: [secret] } });
    expect(run.ok).toBe(true);
    const req = seen.at(-1)!;
    expect(req.headers['webhook-id']).toBe('inv_123');
    const verified = new Webhook(secret).verify(req.body, { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) });
    expect(verified).toEqual({ a: 1 });
  });

  it('sourceCode: TypeScript with ctx.fetch through the egress guard, secrets, cache and logs', async () => {
    const code = `
      interface Input { contractId: string }
      export default async function (input: Input, ctx: any) {
        const cached = await ctx.cache.get('c:' + input.contractId);
        if (cached) return { ...cached, fromCache: true };
        const token = await ctx.secrets.get('ERP_TOKEN');
        const res = await ctx.fetch('${base}/contracts/' + input.contractId, { headers: { authorization: 'Bearer ' + token } });
        ctx.log('ERP answered', res.status, 'with token', token);
        const contract = await res.json();
        await ctx.cache.set('c:' + input.contractId, contract, 60);
        return contract;
      }`;
    const first = (await test({ type: 'sourceCode', language: 'typescript', code }, { contractId: 'V-1' })).json();
    expect(first).toMatchObject({ ok: true, output: { id: 'V-1', customerId: 'K-1', auth: 'Bearer tok-very-secret-123' } });
    expect(first.logs[0].message).toContain('ERP answered 200');
    // The secret a script logs never reaches the trace or the test-run answer.
    expect(first.logs[0].message).not.toContain('tok-very-secret-123');
    const second = (await test({ type: 'sourceCode', language: 'typescript', code }, { contractId: 'V-1' })).json();
    expect(second.output.fromCache).toBe(true);
  });

  it('sourceCode: ctx.deskhook calls this API as the custom-code service user (an agent, not an admin)', async () => {
    const code = `export default async (input, ctx) => {
      const created = await ctx.deskhook.post('/tickets', { subject: 'from custom code', tags: ['erp'] });
      const patched = await ctx.deskhook.patch('/tickets/' + created.body.id, { priority: 'urgent' });
      const secrets = await ctx.deskhook.get('/secrets');
      return { id: created.body.id, status: created.status, priority: patched.body.priority, secretsStatus: secrets.status };
    }`;
    const body = (await test({ type: 'sourceCode', language: 'javascript', code })).json();
    expect(body).toMatchObject({ ok: true, output: { status: 201, priority: 'urgent', secretsStatus: 403 } });
    const activity = (await t.api('GET', `/api/v1/tickets/${body.output.id}/activity`)).json().items;
    const me = (await t.api('GET', '/api/v1/users')).json().items.find((u: { email: string }) => u.email === 'custom-code@deskhook.internal');
    expect(me).toMatchObject({ service: true, role: 'agent' });
    expect(activity.at(-1)).toMatchObject({ field: 'priority', to: 'urgent', actor: { type: 'user', userId: me.id } });
  });

  it('every run leaves a trace without secret values', async () => {
    const run = await t.deps.executors.run({ type: 'apiCall', url: `${base}/hook`, method: 'POST', headers: { authorization: 'Bearer {{secret.ERP_TOKEN}}' } }, { q: 1 });
    expect(run.trace).toMatchObject({ executor: 'apiCall', target: `POST ${base}/hook`, ok: true, status: 200, error: null, input: '{"q":1}' });
    expect(JSON.stringify(run.trace)).not.toContain('tok-very-secret-123');
  });

  it('sourceCode failures: syntax, runtime, forbidden fetch, timeout — while the API keeps answering', async () => {
    const finished: string[] = [];
    const spin = test({ type: 'sourceCode', language: 'javascript', code: 'export default async () => { while (true) {} }' }, {}, t.adminToken, 3000)
      .then((r) => { finished.push('spinning code'); return r; });
    const runs = await Promise.all([
      test({ type: 'sourceCode', language: 'javascript', code: 'export default async () => { return {' }),
      test({ type: 'sourceCode', language: 'javascript', code: 'export default async () => { throw new Error("kaputt") }' }),
      test({ type: 'sourceCode', language: 'javascript', code: `export default async (i, ctx) => (await ctx.fetch('${base.replace('127.0.0.1', '127.0.0.2')}/x')).status` }),
      spin,
      // Other requests are served while custom code spins: they finish before it is stopped.
      t.api('GET', '/api/v1/tickets', undefined, t.agentToken).then((r) => { finished.push('API request'); return r; }),
    ]);
    const [syntax, runtime, egress, loop] = runs.map((r) => (r as { json(): any }).json());
    const other = { ok: runs[4]!.statusCode === 200 };
    expect(syntax.error.code).toBe('syntax_error');
    expect(runtime.error).toMatchObject({ code: 'runtime_error', message: expect.stringContaining('kaputt') });
    expect(egress.error.code).toBe('egress_refused');
    expect(loop.error.code).toBe('timeout');
    expect(other.ok).toBe(true);
    expect(finished).toEqual(['API request', 'spinning code']);
  });
});
