import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/**
 * "Test" does the same thing for a webhook and for the ERP: it runs what the settings form shows
 * (the request's executor, saved or not) or else the saved one, and the answer says which ran.
 */
let server: Server;
let base: string;
const paths: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    paths.push(req.url ?? '');
    req.resume();
    req.on('end', () => {
      const body = req.url?.startsWith('/erp') ? { id: 'V-1', customerId: 'K-1', business: false, lastname: `from ${req.url}` } : { message: `answered by ${req.url}` };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe.each(BACKENDS)('the Test of a webhook and of the ERP on %s', (kind) => {
  let t: TestApp;
  afterEach(async () => { await t.close(); paths.length = 0; });

  it('tests the saved executor, or the one given (the form), and says which', async () => {
    t = await startTestApp(kind);
    const id = (await t.api('POST', '/api/v1/email-accounts', {
      name: 'Service', address: 'service@example.com', inbound: { type: 'smtp' },
      webhooks: { enabled: false, ticketUpdates: { type: 'apiCall', url: `${base}/saved` } },
    })).json().id;
    const test = (body?: unknown) => t.api('POST', `/api/v1/email-accounts/${id}/webhooks/ticketUpdates/test`, body);

    const saved = await test();
    expect(saved.statusCode, saved.body).toBe(200);
    expect(saved.json()).toMatchObject({ tested: 'saved', outcome: 'ok', answer: { message: 'answered by /saved' } });
    const form = await test({ executor: { type: 'apiCall', url: `${base}/form` } });
    expect(form.json()).toMatchObject({ tested: 'given', outcome: 'ok', answer: { message: 'answered by /form' } });
    expect(paths).toEqual(['/saved', '/form']);
    // The form's executor is no saved version: its invocation names none; the saved one's does.
    const log = (await t.api('GET', `/api/v1/email-accounts/${id}/invocations?hook=ticketUpdates`)).json().items as Array<{ id: string; hookVersion: number | null; trigger: string }>;
    expect(log.find((i) => i.id === form.json().invocationId)).toMatchObject({ trigger: 'test', hookVersion: null });
    expect(log.find((i) => i.id === saved.json().invocationId)).toMatchObject({ trigger: 'test', hookVersion: 1 });
    // A form without an executor tests nothing, and says so; the saved settings are unchanged.
    expect((await test({ executor: null })).json()).toMatchObject({ tested: 'given', outcome: 'not_configured' });
    expect(paths).toHaveLength(2);
    expect((await t.api('GET', `/api/v1/email-accounts/${id}`)).json().webhooks.ticketUpdates.url).toBe(`${base}/saved`);

    expect((await t.api('PUT', '/api/v1/erp', { mode: 'live', executors: { contractById: { type: 'apiCall', url: `${base}/erp-saved` } } })).statusCode).toBe(200);
    const erpSaved = await t.api('POST', '/api/v1/erp/contractById/test', { input: { contractId: 'V-1' } });
    expect(erpSaved.json()).toMatchObject({ tested: 'saved', ok: true, output: { lastname: 'from /erp-saved' } });
    const erpForm = await t.api('POST', '/api/v1/erp/contractById/test', { input: { contractId: 'V-1' }, executor: { type: 'apiCall', url: `${base}/erp-form` } });
    expect(erpForm.json()).toMatchObject({ tested: 'given', ok: true, output: { lastname: 'from /erp-form' } });
  });
});
