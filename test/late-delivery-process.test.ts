// Late delivery survives kill -9: the failed call is committed with the step it belonged to, so a
// server killed before it could deliver the payload late delivers it after its restart.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, login, removeTempDirs, request, sleep, startServer, tempDir } from './support/process.ts';
import { startRecordingReceiver } from './support/recording-receiver.ts';

afterAll(async () => {
  await killAll();
  removeTempDirs();
});

describe('late delivery across kill -9', () => {
  it('a payload owed to a failed hook is delivered after the server was killed and restarted', { timeout: 90_000 }, async () => {
    const receiver = await startRecordingReceiver();
    receiver.answer = () => ({ status: 503, body: { error: 'maintenance' } });
    const dataDir = tempDir();
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const env = { DESKHOOK_ADMIN_EMAIL: 'boss@example.com', DESKHOOK_ADMIN_PASSWORD: password, DESKHOOK_EGRESS_ALLOW: '127.0.0.1/32' };
    try {
      const first = await startServer({ dataDir, env });
      const token = (await login(first.baseUrl, 'boss@example.com', password)).json.token as string;
      const account = await request(first.baseUrl, 'POST', '/api/v1/email-accounts', {
        token, body: { name: 'Service', address: 'support@example.com', inbound: { type: 'smtp' }, webhooks: { enabled: true, ticketUpdates: { type: 'apiCall', url: receiver.url }, failurePolicy: 'notify' } },
      });
      expect(account.status, account.text).toBe(201);
      const ticket = await request(first.baseUrl, 'POST', '/api/v1/tickets', { token, body: { subject: 'Abschlag', from: 'erika@example.com', emailAccountId: account.json.id } });
      receiver.calls.length = 0;
      const patched = await request(first.baseUrl, 'PATCH', `/api/v1/tickets/${ticket.json.id}`, { token, body: { priority: 'high' } });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.json.warnings).toEqual([expect.objectContaining({ code: 'webhook_failed' })]);
      expect(receiver.calls).toHaveLength(1);
      // Killed well before the first late attempt is due (5 s after the call).
      first.child.signal('SIGKILL');
      await first.child.waitForExit(10_000);

      receiver.answer = () => ({ body: {} });
      const second = await startServer({ dataDir, env });
      const deadline = Date.now() + 30_000;
      while (receiver.calls.length < 2 && Date.now() < deadline) await sleep(200);
      const [inline, late] = receiver.calls;
      expect(late, second.child.describe()).toBeDefined();
      expect(late!.headers['deskhook-late']).toBe('true');
      expect(late!.headers['webhook-id']).toBe(inline!.headers['webhook-id']);
      expect(JSON.parse(late!.body)).toEqual(JSON.parse(inline!.body));
      const token2 = (await login(second.baseUrl, 'boss@example.com', password)).json.token as string;
      const log = (await request(second.baseUrl, 'GET', `/api/v1/email-accounts/${account.json.id}/invocations`, { token: token2 })).json.items;
      expect(log[0]).toMatchObject({ late: true, outcome: 'ok', retryOf: log[1].id });
      expect(log[1]).toMatchObject({ outcome: 'failed', lateDelivery: { status: 'succeeded', attempts: 1 } });
      // Once only: nothing more arrives.
      await sleep(2_000);
      expect(receiver.calls).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  });
});
