import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS } from './support/backends.ts';
import { PASSWORD, startTestApp, type TestApp } from './support/test-app.ts';

describe.each(BACKENDS)('email accounts API on %s', (kind) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startTestApp(kind);
    // The hook below names this secret: a hook naming a secret that is not set is refused.
    await t.api('PUT', '/api/v1/secrets/HOOK_TOKEN', { value: 'hook-token-1' });
  });
  afterEach(async () => { await t.close(); });

  const account = {
    name: 'Kundenservice',
    address: 'Service@Stadtwerke.example',
    inbound: { type: 'imap', host: 'imap.stadtwerke.example', port: 993, secure: true, user: 'service', password: 'imap-pass-123' },
    outbound: { host: 'smtp.stadtwerke.example', port: 465, secure: true, user: 'service', password: 'smtp-pass-456', senderName: 'Stadtwerke' },
    webhooks: {
      enabled: true,
      ticketUpdates: { type: 'apiCall', url: 'https://hooks.example/ticket', headers: { authorization: 'Bearer {{secret.HOOK_TOKEN}}' } },
      newEmails: { type: 'sourceCode', language: 'typescript', code: 'export default async (input: unknown) => ({})' },
      timeoutMs: 5000,
      failurePolicy: 'block',
    },
  };

  it('creates an account with every field, never returning passwords', async () => {
    const res = await t.api('POST', '/api/v1/email-accounts', account);
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      name: 'Kundenservice', address: 'service@stadtwerke.example',
      inbound: { type: 'imap', host: 'imap.stadtwerke.example', port: 993, folder: 'INBOX', hasPassword: true },
      outbound: { host: 'smtp.stadtwerke.example', senderName: 'Stadtwerke', hasPassword: true },
      webhooks: {
        enabled: true, timeoutMs: 5000, failurePolicy: 'block',
        ticketUpdates: { type: 'apiCall', url: 'https://hooks.example/ticket', method: 'POST', headers: { authorization: 'Bearer {{secret.HOOK_TOKEN}}' } },
        newEmails: { type: 'sourceCode', language: 'typescript' },
      },
    });
    expect(res.body).not.toContain('imap-pass-123');
    expect(res.body).not.toContain('smtp-pass-456');
    const raw = await sql<Record<string, string>>`select * from email_accounts`.execute(t.db.handle.db);
    expect(JSON.stringify(raw.rows)).not.toContain('imap-pass-123');
    expect(JSON.stringify(raw.rows)).not.toContain('smtp-pass-456');
  });

  it('defaults the webhooks to off with notify, 10 s and late delivery', async () => {
    const res = await t.api('POST', '/api/v1/email-accounts', { name: 'Info', address: 'info@example.com', inbound: { type: 'smtp' } });
    expect(res.json().webhooks).toEqual({ enabled: false, ticketUpdates: null, newEmails: null, timeoutMs: 10000, failurePolicy: 'notify', deliverLate: true, memo: { ticketUpdates: null, newEmails: null },
      quarantine: { enabled: true, windowCalls: 20, failureRate: 0.5, p95Ms: null, coolDownSeconds: 60 }, shadow: { ticketUpdates: null, newEmails: null },
    });
  });

  it('validates the webhooks object: timeout range, policy, executor shape', async () => {
    const bad = [
      { webhooks: { timeoutMs: 30_001 } },
      { webhooks: { failurePolicy: 'ignore' } },
      { webhooks: { newEmails: { type: 'apiCall', url: 'ftp://x.example' } } },
      { webhooks: { newEmails: { type: 'shell', command: 'rm -rf /' } } },
      { webhooks: { newEmails: { type: 'sourceCode', language: 'python', code: 'print(1)' } } },
    ];
    for (const patch of bad) {
      const res = await t.api('POST', '/api/v1/email-accounts', { name: 'x', address: 'x@example.com', inbound: { type: 'smtp' }, ...patch });
      expect(res.statusCode, JSON.stringify(patch)).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
  });

  it('refuses on save what could never run: code that does not compile, a secret that is not set, a refused address', async () => {
    const save = (webhooks: object) => t.api('POST', '/api/v1/email-accounts', { name: 'x', address: 'x@example.com', inbound: { type: 'smtp' }, webhooks });
    const broken = await save({ newEmails: { type: 'sourceCode', language: 'typescript', code: 'export default async (input: unknown) => {\n  return { note: "x" ;\n}' } });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'webhooks.newEmails', code: 'syntax_error', line: 2, column: expect.any(Number) }] });
    expect(broken.json().detail).toMatch(/line 2, column \d+/);

    const unset = await save({
      ticketUpdates: { type: 'apiCall', url: 'https://hooks.example/t', headers: { authorization: 'Bearer {{secret.CRM_TOKEN}}' } },
      newEmails: { type: 'sourceCode', language: 'javascript', code: 'export default async (input, ctx) => { await ctx.secrets.get("ERP_KEY"); return {}; }' },
    });
    expect(unset.statusCode).toBe(400);
    expect(unset.json().errors).toEqual([
      expect.objectContaining({ field: 'webhooks.ticketUpdates', code: 'secret_missing', secret: 'CRM_TOKEN' }),
      expect.objectContaining({ field: 'webhooks.newEmails', code: 'secret_missing', secret: 'ERP_KEY' }),
    ]);
    expect(unset.json().detail).toContain('CRM_TOKEN');

    for (const url of ['http://169.254.169.254/latest/meta-data', 'http://10.1.2.3/hook', 'http://192.168.1.10:8080/hook', 'http://[::1]/hook']) {
      const refused = await save({ newEmails: { type: 'apiCall', url } });
      expect(refused.statusCode, url).toBe(400);
      expect(refused.json().errors, url).toEqual([expect.objectContaining({ field: 'webhooks.newEmails', code: 'egress_refused', message: expect.stringContaining('DESKHOOK_EGRESS_ALLOW') })]);
    }
    // Host names are resolved when a request is made (and checked then), never on save.
    expect((await save({ newEmails: { type: 'apiCall', url: 'https://hooks.internal.example/x' } })).statusCode).toBe(201);
    // A PATCH that does not touch a hook does not fail on it, even once its secret is gone.
    const { id } = (await t.api('POST', '/api/v1/email-accounts', { ...account, address: 'y@example.com' })).json();
    await t.api('DELETE', '/api/v1/secrets/HOOK_TOKEN');
    expect((await t.api('PATCH', `/api/v1/email-accounts/${id}`, { name: 'Renamed' })).statusCode).toBe(200);
  });

  it('patches fields, keeps stored passwords when omitted, and refuses a taken address', async () => {
    const { id } = (await t.api('POST', '/api/v1/email-accounts', account)).json();
    await t.api('POST', '/api/v1/email-accounts', { name: 'Other', address: 'other@example.com', inbound: { type: 'smtp' } });
    const patched = await t.api('PATCH', `/api/v1/email-accounts/${id}`, { name: 'Service', webhooks: { enabled: false }, outbound: { ...account.outbound, password: undefined, port: 587, secure: false } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'Service', webhooks: { enabled: false, failurePolicy: 'block', timeoutMs: 5000 }, outbound: { port: 587, hasPassword: true } });
    const taken = await t.api('PATCH', `/api/v1/email-accounts/${id}`, { address: 'other@example.com' });
    expect(taken.statusCode).toBe(409);
    expect((await t.api('GET', '/api/v1/email-accounts')).json().items).toHaveLength(2);
    expect((await t.api('DELETE', `/api/v1/email-accounts/${id}`)).statusCode).toBe(204);
    expect((await t.api('GET', `/api/v1/email-accounts/${id}`)).statusCode).toBe(404);
  });

  it('generates a whsec_ signing secret, reveals it to admins and rotates with a 24 h overlap', async () => {
    const { id } = (await t.api('POST', '/api/v1/email-accounts', account)).json();
    const first = (await t.api('GET', `/api/v1/email-accounts/${id}/webhooks/signing-secret`)).json();
    expect(first.signingSecret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    expect(first.previousSigningSecret).toBeNull();
    expect((await t.api('GET', `/api/v1/email-accounts/${id}/webhooks/signing-secret`, undefined, t.agentToken)).statusCode).toBe(403);
    const rotated = (await t.api('POST', `/api/v1/email-accounts/${id}/webhooks/signing-secret/rotate`)).json();
    expect(rotated.signingSecret).not.toBe(first.signingSecret);
    expect(rotated.previousSigningSecret).toBe(first.signingSecret);
    expect(rotated.previousExpiresAt).toBe('2026-11-29T10:00:00.000Z');
    t.clock.advance(24 * 3_600_000 + 1);
    const relogin = await t.http.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'admin@example.com', password: PASSWORD } });
    const later = await t.api('GET', `/api/v1/email-accounts/${id}/webhooks/signing-secret`, undefined, relogin.json().token);
    expect(later.json()).toEqual({ signingSecret: rotated.signingSecret, previousSigningSecret: null, previousExpiresAt: null });
    const raw = await sql<{ signing_secret: string }>`select signing_secret from email_accounts`.execute(t.db.handle.db);
    expect(raw.rows[0]!.signing_secret).not.toContain('whsec_');
  });
});
