// Versions of hooks: every change of an executor is kept (who, when, what), invocations name the
// version that ran, two versions compare as a diff, and a rollback brings one back as a new version.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS } from './support/backends.ts';
import { startRecordingReceiver, type RecordingReceiver } from './support/recording-receiver.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

let receiver: RecordingReceiver;
beforeAll(async () => { receiver = await startRecordingReceiver(); });
afterAll(() => receiver.close());

describe.each(BACKENDS)('hook versions on %s', (kind) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startTestApp(kind);
    receiver.calls.length = 0;
  });
  afterEach(async () => { await t.close(); });

  const code = 'export default async (input) => ({ note: "checked by code" });';

  it('webhooks: each executor change is a version, invocations name it, versions compare and roll back', async () => {
    const account = (await t.api('POST', '/api/v1/email-accounts', {
      name: 'Service', address: 'support@example.com', inbound: { type: 'smtp' },
      webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url: receiver.url } },
    })).json();
    expect(account.webhooks.versions).toEqual({ ticketUpdates: 1 });
    const base = `/api/v1/email-accounts/${account.id}/webhooks/ticketUpdates/versions`;
    await t.api('PATCH', `/api/v1/email-accounts/${account.id}`, { webhooks: { ticketUpdates: { type: 'sourceCode', language: 'javascript', code } } });
    // Neither a change of something else nor saving the same executor again is a version.
    await t.api('PATCH', `/api/v1/email-accounts/${account.id}`, { name: 'Kundenservice' });
    await t.api('PATCH', `/api/v1/email-accounts/${account.id}`, { webhooks: { ticketUpdates: { type: 'sourceCode', language: 'javascript', code } } });
    const versions = (await t.api('GET', base)).json().items;
    expect(versions).toMatchObject([
      { version: 2, executor: { type: 'sourceCode', code }, changedBy: t.adminId, note: null },
      { version: 1, executor: { type: 'apiCall', url: receiver.url }, changedBy: t.adminId },
    ]);
    expect((await t.api('GET', base, undefined, t.agentToken)).statusCode).toBe(403);

    const ticketId = (await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag', from: 'erika@example.com', emailAccountId: account.id })).json().id;
    const invocations = async () => (await t.api('GET', `/api/v1/email-accounts/${account.id}/invocations`)).json().items;
    await t.api('PATCH', `/api/v1/tickets/${ticketId}`, { priority: 'high' }, t.agentToken);
    expect((await invocations())[0]).toMatchObject({ hookVersion: 2, outcome: 'ok' });

    const compared = (await t.api('GET', `${base}/compare?from=1&to=2`)).json();
    expect(compared).toMatchObject({ from: { version: 1 }, to: { version: 2 } });
    expect(compared.diff).toContain(`-  "url": "${receiver.url}"`);
    expect(compared.diff).toContain(`+${code}`);

    const rolled = await t.api('POST', `${base}/1/rollback`);
    expect(rolled.statusCode, rolled.body).toBe(200);
    expect(rolled.json().webhooks).toMatchObject({ ticketUpdates: { type: 'apiCall', url: receiver.url }, versions: { ticketUpdates: 3 } });
    expect((await t.api('GET', base)).json().items[0]).toMatchObject({ version: 3, note: 'rollback to version 1', executor: { url: receiver.url } });
    await t.api('PATCH', `/api/v1/tickets/${ticketId}`, { priority: 'low' }, t.agentToken);
    expect(receiver.calls).toHaveLength(1);
    expect((await invocations())[0]).toMatchObject({ hookVersion: 3 });
    expect((await t.api('POST', `${base}/9/rollback`)).statusCode).toBe(404);
  });

  it('event hooks: versions of the executor, compared and rolled back', async () => {
    const hook = (await t.api('POST', '/api/v1/event-hooks', { name: 'CRM', events: ['TicketCreated'], executor: { type: 'apiCall', url: `${receiver.url}/a` } })).json();
    await t.api('PATCH', `/api/v1/event-hooks/${hook.id}`, { executor: { type: 'apiCall', url: `${receiver.url}/b` } });
    await t.api('PATCH', `/api/v1/event-hooks/${hook.id}`, { name: 'CRM sync' });
    const base = `/api/v1/event-hooks/${hook.id}/versions`;
    expect((await t.api('GET', base)).json().items.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect((await t.api('GET', `${base}/compare?from=1&to=2`)).json().diff).toMatch(/-\s+"url": ".*\/a"[\s\S]*\+\s+"url": ".*\/b"/);
    const rolled = (await t.api('POST', `${base}/1/rollback`)).json();
    expect(rolled.executor.url).toBe(`${receiver.url}/a`);
    expect((await t.api('GET', base)).json().items[0]).toMatchObject({ version: 3, note: 'rollback to version 1', changedBy: t.adminId });
  });
});
