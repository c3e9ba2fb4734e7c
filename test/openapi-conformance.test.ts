import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './support/backends.ts';
import { assertConforms, conformanceChecker, observedViolations } from './support/openapi-conformance.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** Sends bytes as they are (fetch and inject would percent-encode the URL first). */
function rawGet(port: number, target: Buffer, token: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(Buffer.concat([Buffer.from('GET '), target, Buffer.from(` HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`)]));
    });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
  });
}

type Json = Record<string, any>;

describe('the OpenAPI document declares every problem answer', () => {
  let t: TestApp;
  let doc: Json;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
    doc = (await t.http.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  });
  afterAll(async () => { await t.close(); });

  const operations = () => Object.entries<Json>(doc.paths).flatMap(([path, item]) => Object.entries<Json>(item).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));

  it('has one shared Problem schema, and every error status of every operation uses it as application/problem+json', () => {
    expect(doc.components.schemas.Problem).toMatchObject({ type: 'object', required: expect.arrayContaining(['type', 'title', 'status', 'code', 'detail']) });
    const ops = operations();
    expect(ops.length).toBeGreaterThanOrEqual(70);
    const wrong: string[] = [];
    for (const { path, method, op } of ops) {
      const statuses = Object.keys(op.responses);
      for (const s of [400, 500, 503]) if (!statuses.includes(String(s))) wrong.push(`${method} ${path} lacks ${s}`);
      if (op.security && !statuses.includes('401')) wrong.push(`${method} ${path} lacks 401`);
      if (method !== 'GET' && op.security && !statuses.includes('403')) wrong.push(`${method} ${path} lacks 403`);
      if (op['x-access'] === 'admin' && !statuses.includes('403')) wrong.push(`${method} ${path} lacks 403`);
      if (path.includes('{') && !method.startsWith('PUT') && !statuses.includes('404')) wrong.push(`${method} ${path} lacks 404`);
      for (const s of statuses.filter((x) => Number(x) >= 400)) {
        const content = op.responses[s].content ?? {};
        if (Object.keys(content).join() !== 'application/problem+json' || content['application/problem+json'].schema.$ref !== '#/components/schemas/Problem') {
          wrong.push(`${method} ${path} ${s} is not a Problem: ${JSON.stringify(content)}`);
        }
      }
      if (op.responses['401'] && !op.responses['401'].headers?.['WWW-Authenticate']) wrong.push(`${method} ${path} 401 lacks WWW-Authenticate`);
    }
    expect(wrong).toEqual([]);
  });

  it('declares what only some use cases answer: the webhook steps 409/422/502, the ERP 502, login 429', () => {
    const responses = (method: string, path: string) => Object.keys(doc.paths[path][method].responses);
    expect(responses('patch', '/api/v1/tickets/{id}')).toEqual(expect.arrayContaining(['409', '422', '502']));
    expect(responses('post', '/api/v1/tickets/{id}/conversations')).toEqual(expect.arrayContaining(['409', '422', '502']));
    expect(responses('get', '/api/v1/contracts/{id}')).toContain('502');
    expect(responses('post', '/api/v1/auth/login')).toEqual(expect.arrayContaining(['401', '429']));
    expect(responses('post', '/api/v1/users')).toContain('409');
    // An agent's GET never meets a 403 (auth is the only place that refuses), so it does not promise one.
    expect(responses('get', '/api/v1/tickets')).not.toContain('403');
  });

  it('the checker catches drift: an undeclared status or a body outside the schema', () => {
    const check = conformanceChecker(t.http).check;
    expect(check('GET', '/api/v1/tickets', 418, 'application/problem+json', '{}')?.problem).toMatch(/does not declare status 418/);
    expect(check('GET', '/api/v1/tickets/1', 404, 'application/json', '{}')?.problem).toMatch(/not application\/problem\+json/);
    expect(check('GET', '/api/v1/tickets/1', 404, 'application/problem+json', '{"type":"x","status":404}')?.problem).toMatch(/does not match the declared schema/);
    expect(check('GET', '/api/v1/tickets/1', 200, 'application/json', '{"id":"one"}')?.problem).toMatch(/does not match the declared schema/);
    expect(check('GET', '/api/v1/customers/search?q=x', 400, 'application/problem+json', JSON.stringify({ type: 'urn:deskhook:problem:validation_failed', title: 't', status: 400, code: 'validation_failed', detail: 'd', errors: [] }))).toBeNull();
  });
});

describe.each(BACKENDS)('every answer of a representative run conforms to the document on %s', (kind) => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp(kind, { bodyLimitBytes: 8 * 1024 });
    await t.http.listen({ host: '127.0.0.1', port: 0 });
    port = (t.http.server.address() as { port: number }).port;
  });
  afterAll(async () => { await t.close(); });

  it('401 answers carry WWW-Authenticate: Bearer (RFC 6750), with error="invalid_token" for a bad token', async () => {
    const missing = await t.api('GET', '/api/v1/tickets', undefined, null);
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    const invalid = await t.api('GET', '/api/v1/tickets', undefined, 'not-a-token');
    expect(invalid.statusCode).toBe(401);
    expect(invalid.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
    const login = await t.api('POST', '/api/v1/auth/login', { email: 'admin@example.com', password: 'wrong password here' }, null);
    expect(login.statusCode).toBe(401);
    expect(login.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('403 for an agent on an admin route and for a read-only key writing (insufficient_scope)', async () => {
    expect((await t.api('GET', '/api/v1/secrets', undefined, t.agentToken)).statusCode).toBe(403);
    const key = (await t.api('POST', '/api/v1/api-keys', { userId: t.adminId, name: 'reader', scope: 'read' })).json().key as string;
    const write = await t.api('POST', '/api/v1/tickets', { subject: 'x', customerEmail: 'c@example.com' }, key);
    expect(write.statusCode).toBe(403);
    expect(write.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
  });

  it('400, 404, 409, 413, 415 and 422 answers are the declared Problem', async () => {
    expect((await t.api('GET', '/api/v1/tickets?q=%00')).statusCode).toBe(400);
    expect((await t.api('GET', '/api/v1/tickets/999999')).statusCode).toBe(404);
    expect((await t.api('GET', '/api/v1/users/abc')).statusCode).toBe(400);
    expect((await t.api('POST', '/api/v1/users', { email: 'agent@example.com', name: 'Twin', role: 'agent', password: 'correct horse battery' })).statusCode).toBe(409);
    expect((await t.api('POST', '/api/v1/tickets', { subject: 'x'.repeat(10_000) })).statusCode).toBe(413);
    expect((await t.api('PATCH', '/api/v1/tickets/1', { status: 'nonsense' })).statusCode).toBeGreaterThanOrEqual(400);
    const unsupported = await t.http.inject({ method: 'POST', url: '/api/v1/tickets', payload: '<subject>x</subject>', headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/xml' } });
    expect(unsupported.statusCode).toBe(415);
    assertConforms(t.http, 'POST', '/api/v1/tickets', unsupported);
    // An unknown route is no operation, but its 404 is a problem too.
    expect((await t.api('GET', '/api/v1/no-such-thing')).json().code).toBe('route_not_found');
  });

  it('a malformed query (?q=Zähler sent unencoded) answers problem+json 400 like every other 400', async () => {
    const res = await rawGet(port, Buffer.from('/api/v1/customers/search?q=Zähler', 'utf8'), t.adminToken);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body)).toMatchObject({ status: 400, code: 'validation_failed', errors: [{ field: 'url' }] });
    expect(conformanceChecker(t.http).check('GET', '/api/v1/customers/search', res.status, res.headers['content-type'], res.body)).toBeNull();
    // Encoded, the same query is fine.
    const encoded = await rawGet(port, Buffer.from('/api/v1/customers/search?q=Z%C3%A4hler'), t.adminToken);
    expect(encoded.status).not.toBe(400);
    // A path with broken percent-encoding is refused by the router: problem+json too.
    const badPath = await rawGet(port, Buffer.from('/api/v1/tickets/%ZZ'), t.adminToken);
    expect(badPath.status).toBe(400);
    expect(badPath.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(badPath.body).code).toBe('validation_failed');
  });

  it('every operation, called by nobody, a bad token, an agent and an admin with an empty body, answers what it declares', async () => {
    const doc = (await t.http.inject({ method: 'GET', url: '/api/openapi.json' })).json() as Json;
    const sample: Record<string, string> = { id: '999999', key: 'NO_SUCH_KEY', kind: 'contracts', operation: 'contractById', hook: 'ticketUpdates', invocationId: 'inv_none' };
    const ops = Object.entries<Json>(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => ({ path, method: method.toUpperCase() })))
      // Logging out revokes the caller's token: last.
      .sort((a, b) => Number(a.path.endsWith('/logout')) - Number(b.path.endsWith('/logout')));
    const check = conformanceChecker(t.http).check;
    const violations: string[] = [];
    const statuses = new Map<number, number>();
    for (const { path, method } of ops) {
      const url = path.replace(/\{([^}/]+)\}/g, (_m, name: string) => sample[name] ?? 'x');
      for (const token of [null, 'dhs_not-a-token', t.agentToken, t.adminToken]) {
        const res = await t.http.inject({
          method: method as 'GET', url,
          headers: token ? { authorization: `Bearer ${token}` } : {},
          ...(['POST', 'PUT', 'PATCH'].includes(method) ? { payload: {} } : {}),
        });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        const v = check(method, url, res.statusCode, res.headers['content-type'] as string | undefined, res.body);
        if (v) violations.push(v.problem);
        if (res.statusCode === 401 && !String(res.headers['www-authenticate'] ?? '').startsWith('Bearer')) violations.push(`${method} ${path}: 401 without WWW-Authenticate: Bearer`);
      }
    }
    expect(violations).toEqual([]);
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(404)).toBeGreaterThan(0);
  });

  it('no suite in this process saw an answer the document does not promise', () => {
    expect(observedViolations).toEqual([]);
  });
});
