import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../src/app/errors.ts';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

describe('bad input gets a 4xx that names the problem', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp('sqlite', { bodyLimitBytes: 64 * 1024 }); });
  afterAll(async () => { await t.close(); });

  const raw = (method: string, url: string, payload: string, contentType = 'application/json') =>
    t.http.inject({ method: method as 'POST', url, payload, headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': contentType } });

  it('broken JSON → 400 invalid_json', async () => {
    const res = await raw('POST', '/api/v1/tickets', '{"subject": "x",');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().code).toBe('invalid_json');
  });

  it('a body over the limit → 413 payload_too_large', async () => {
    const res = await raw('POST', '/api/v1/tickets', JSON.stringify({ subject: 'x', body: 'a'.repeat(100_000) }));
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
  });

  it('a body that is not JSON → 415', async () => {
    const res = await raw('POST', '/api/v1/tickets', 'subject=x', 'application/x-www-form-urlencoded');
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('unsupported_media_type');
  });

  it('unknown fields, wrong enums and wrong types are named', async () => {
    const res = await t.api('POST', '/api/v1/tickets', { subject: 'x', priority: 'extreme', colour: 'red', agentId: 'me' });
    expect(res.statusCode).toBe(400);
    const fields = res.json().errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(['agentId', 'colour', 'priority']);
    expect(res.json().errors.find((e: { field: string }) => e.field === 'priority').message).toBe('must be one of low, medium, high, urgent');
    expect(res.json().detail).toContain('colour unknown field');
  });

  it('a missing required field and an empty patch are refused', async () => {
    expect((await t.api('POST', '/api/v1/tickets', {})).json().errors).toEqual([{ field: 'subject', message: 'required' }]);
    expect((await t.api('PATCH', '/api/v1/tickets/1', {})).statusCode).toBe(400);
  });

  it('bad path and query parameters → 400, unknown routes → 404 route_not_found', async () => {
    expect((await t.api('GET', '/api/v1/tickets/abc')).statusCode).toBe(400);
    expect((await t.api('GET', '/api/v1/tickets?limit=100000')).statusCode).toBe(400);
    const missing = await t.api('GET', '/api/v1/nothing-here');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('route_not_found');
  });

  it('hostile values are data, not code or SQL', async () => {
    const subject = "'; drop table tickets; -- \u0000 <script>alert(1)</script>";
    const res = await t.api('POST', '/api/v1/tickets', { subject: subject.replace('\u0000', ''), body: '\u202e'.repeat(10) });
    expect(res.statusCode).toBe(201);
    const found = await t.api('GET', `/api/v1/tickets?q=${encodeURIComponent('drop table')}`);
    expect(found.json().items).toHaveLength(1);
  });

  it('keeps serving after every one of these', async () => {
    expect((await t.api('GET', '/api/v1/tickets')).statusCode).toBe(200);
  });

  it('publishes OpenAPI 3.1 generated from the route schemas, with access levels', async () => {
    const res = await t.http.inject({ method: 'GET', url: '/api/openapi.json' });
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/tickets', '/api/v1/tickets/{id}', '/api/v1/auth/login', '/api/v1/email-accounts/{id}']));
    expect(doc.paths['/api/v1/tickets'].patch['x-access']).toBe('agent');
    expect(doc.paths['/api/v1/secrets'].get['x-access']).toBe('admin');
    expect(doc.paths['/api/v1/auth/login'].post['x-access']).toBe('public');
    expect(doc.paths['/api/v1/tickets/{id}'].patch.requestBody.content['application/json'].schema.properties).toHaveProperty('dueBy');
    const ui = await t.http.inject({ method: 'GET', url: '/api/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
  });
});

describe.each(BACKENDS)('the same clean 4xx on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(kind); });
  afterAll(async () => { await t.close(); });

  it('an externalTicketId another ticket has → 409 conflict, in a PATCH and per item in a bulk PATCH', async () => {
    const first = (await t.api('POST', '/api/v1/tickets', { subject: 'Erster', externalTicketId: 'CRM-1' })).json();
    const second = (await t.api('POST', '/api/v1/tickets', { subject: 'Zweiter', externalTicketId: 'CRM-2' })).json();
    const third = (await t.api('POST', '/api/v1/tickets', { subject: 'Dritter' })).json();
    const res = await t.api('PATCH', `/api/v1/tickets/${second.id}`, { externalTicketId: 'CRM-1', priority: 'high' });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({ code: 'conflict', detail: expect.stringContaining('CRM-1'), errors: [{ field: 'externalTicketId', message: 'already used by another ticket' }] });
    // Nothing of the refused patch was kept.
    expect((await t.api('GET', `/api/v1/tickets/${second.id}`)).json()).toMatchObject({ externalTicketId: 'CRM-2', priority: 'medium' });
    const bulk = await t.api('PATCH', '/api/v1/tickets', { ids: [third.id, second.id, first.id], patch: { externalTicketId: 'CRM-3' } });
    expect(bulk.statusCode, bulk.body).toBe(200);
    expect(bulk.json().items.map((i: { id: number; ok: boolean; error?: { code: string } }) => [i.id, i.ok, i.error?.code])).toEqual([
      [third.id, true, undefined], [second.id, false, 'conflict'], [first.id, false, 'conflict'],
    ]);
  });

  it('a lone surrogate in any string of a JSON body → 400 validation_failed naming the field', async () => {
    const ticket = (await t.api('POST', '/api/v1/tickets', { subject: 'Surrogat' })).json();
    const cases: Array<[string, string, string, string]> = [
      ['POST', '/api/v1/tickets', '{"subject":"Vertrag \\ud800 kaputt"}', 'subject'],
      ['PATCH', `/api/v1/tickets/${ticket.id}`, '{"addTags":["ok","\\udfff"]}', 'addTags.1'],
      ['PATCH', `/api/v1/tickets/${ticket.id}`, '{"subject":"\\udc00\\ud800"}', 'subject'],
      ['PUT', '/api/v1/recognition/settings', '{"ownDomains":["example.com\\ud83d"]}', 'ownDomains.0'],
      ['POST', '/api/v1/executors/test', '{"executor":{"type":"sourceCode","language":"javascript","code":"export default (i) => i"},"input":{"\\ud800":1}}', 'input'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await t.http.inject({ method: method as 'POST', url, payload, headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' } });
      expect(res.statusCode, `${method} ${url} ${payload}: ${res.body}`).toBe(400);
      expect(res.json()).toMatchObject({ code: 'validation_failed', errors: [{ field, message: expect.stringContaining('must be well-formed Unicode (a lone surrogate is not)') }] });
    }
    // A well-formed pair is text like any other.
    const ok = await t.api('PATCH', `/api/v1/tickets/${ticket.id}`, { subject: 'Surrogat 😀', addTags: ['😀'] });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ subject: 'Surrogat 😀', tags: ['😀'] });
  });
});

describe('the error catalogue', () => {
  it('is documented in docs/errors.md, code by code, with its status', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      expect(doc, `docs/errors.md lacks ${code}`).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${entry.status}\\s*\\|`));
    }
    const documented = [...doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CATALOGUE).sort());
  });
});
