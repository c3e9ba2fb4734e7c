import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EgressPolicy } from '../src/adapters/egress/address-policy.ts';
import { ImapPoller } from '../src/adapters/imap/imap-poller.ts';
import { createUser } from '../src/app/auth/users.ts';
import { addAgentMessage } from '../src/app/conversations/add-conversation.ts';
import type { AppDeps } from '../src/app/deps.ts';
import { createEmailAccount } from '../src/app/email-accounts.ts';
import { putErpSettings } from '../src/app/erp/erp-admin.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { sendQueuedMail } from '../src/app/mail/send-outbound.ts';
import { registerDomainMetrics, registerProcessMetrics } from '../src/main/domain-metrics.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from './support/backends.ts';
import { startCatcher, startInbound, type Catcher } from './support/mail.ts';
import { freePort } from './support/process.ts';
import { startRecordingReceiver, type RecordingReceiver } from './support/recording-receiver.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

/**
 * The domain's metrics as an operator scrapes them: mail per account, synchronous hooks, IMAP
 * polls, ERP calls and cache outcomes per operation. The exposition passes `promtool check
 * metrics` (Debian's prometheus package; skipped without it), and every metric the shipped
 * Grafana dashboard queries exists.
 */
const PROMTOOL = '/usr/bin/promtool';
const DASHBOARD = new URL('../docs/grafana/deskhook-dashboard.json', import.meta.url);
const SUPPORT = 'service@stadtwerke.example';

let receiver: RecordingReceiver;
beforeAll(async () => { receiver = await startRecordingReceiver(); });
afterAll(() => receiver.close());

type Labels = Record<string, string>;

async function metricValue(registry: Registry, name: string, labels: Labels = {}): Promise<number> {
  const base = name.replace(/_(count|sum)$/, '');
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === base || m.name === name);
  if (!metric) throw new Error(`no metric ${name}`);
  const matching = (metric.values as Array<{ value: number; labels: Labels; metricName?: string }>).filter((v) =>
    (v.metricName ?? metric.name) === name && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return matching.reduce((sum, v) => sum + v.value, 0);
}

describe.each(BACKENDS)('domain metrics on %s', (kind) => {
  let db: TestDatabase;
  let deps: AppDeps;
  let registry: Registry;
  let catcher: Catcher;
  let inbound: Awaited<ReturnType<typeof startInbound>>;
  let accountId: number;
  let account: string;

  beforeEach(async () => {
    db = await openTestDatabase(kind);
    deps = makeDeps(db, new TestClock(new Date()));
    registry = new Registry();
    registerProcessMetrics(registry);
    deps.telemetry = registerDomainMetrics(registry, () => deps.erp.operationCounts());
    catcher = await startCatcher();
    inbound = await startInbound(deps);
    receiver.calls.length = 0;
    receiver.answer = () => ({ body: {} });
    accountId = (await createEmailAccount(deps, {
      name: 'Service', address: SUPPORT, inbound: { type: 'smtp' },
      outbound: { host: '127.0.0.1', port: catcher.port, secure: false, user: null, senderName: 'Stadtwerke Service' },
      webhooks: { enabled: true, newEmails: { type: 'apiCall', url: receiver.url, method: 'POST', headers: {} }, timeoutMs: 2000, failurePolicy: 'notify' },
    })).id;
    account = String(accountId);
  });
  afterEach(async () => {
    (deps.mail.mailer as { close?: () => void }).close?.();
    await inbound.close();
    await catcher.close();
    await db.cleanup();
  });

  it('mail received, sent, failed and bounced per account; hook calls with outcome and duration', async () => {
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Abschlag', text: 'Bitte anpassen.' });
    expect(await metricValue(registry, 'deskhook_mail_received_total', { account })).toBe(1);
    const [first] = await processPendingInbound(deps);
    expect(await metricValue(registry, 'deskhook_webhook_calls_total', { account, hook: 'newEmails', trigger: 'inboundEmail', outcome: 'ok' })).toBe(1);
    expect(await metricValue(registry, 'deskhook_webhook_duration_seconds_count', { account, hook: 'newEmails' })).toBe(1);

    const agent = await createUser(deps, { email: 'agent@stadtwerke.example', name: 'Agent', role: 'agent', password: 'long enough pw' });
    const reply = await addAgentMessage(deps, first!.ticketId!, { direction: 'out', body: 'Erledigt.' }, { type: 'user', userId: agent.id });
    await sendQueuedMail(deps);
    expect(await metricValue(registry, 'deskhook_mail_sent_total', { account })).toBe(1);
    receiver.answer = () => ({ status: 500, body: { error: 'down' } });
    await inbound.send({ from: 'max@example.com', to: SUPPORT, subject: 'Umzug', text: 'Ich ziehe um.' });
    await processPendingInbound(deps);
    expect(await metricValue(registry, 'deskhook_webhook_calls_total', { account, hook: 'newEmails', trigger: 'inboundEmail', outcome: 'failed' })).toBe(1);
    expect(await metricValue(registry, 'deskhook_webhook_duration_seconds_count', { account, hook: 'newEmails' })).toBe(2);

    catcher.failWith = { code: 550, message: '5.1.1 no such user' };
    await addAgentMessage(deps, first!.ticketId!, { direction: 'out', body: 'Noch etwas.' }, { type: 'user', userId: agent.id });
    await sendQueuedMail(deps);
    expect(await metricValue(registry, 'deskhook_mail_send_failures_total', { account })).toBe(1);
    expect(await metricValue(registry, 'deskhook_mail_sent_total', { account })).toBe(1);

    const dsn = [
      'From: MAILER-DAEMON@mx.example.com', `To: ${SUPPORT}`, 'Subject: Undelivered Mail Returned to Sender', 'Auto-Submitted: auto-replied',
      'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=delivery-status; boundary="B"', 'Message-ID: <dsn1@mx.example.com>', '',
      '--B', 'Content-Type: text/plain', '', 'Your message could not be delivered.', '',
      '--B', 'Content-Type: message/delivery-status', '', 'Reporting-MTA: dns; mx.example.com', '', 'Final-Recipient: rfc822; erika@example.com',
      'Action: failed', 'Status: 5.1.1', '',
      '--B', 'Content-Type: text/rfc822-headers', '', `Message-ID: <${reply.messageId}>`, `From: ${SUPPORT}`, 'To: erika@example.com', '',
      '--B--', '',
    ].join('\r\n');
    await inbound.send({ envelope: { from: '', to: [SUPPORT] }, raw: dsn });
    await processPendingInbound(deps);
    expect(await metricValue(registry, 'deskhook_mail_bounced_total', { account })).toBe(1);
    expect(await metricValue(registry, 'deskhook_mail_received_total', { account })).toBe(3);
  });

  it('ERP calls and cache outcomes per operation', async () => {
    receiver.answer = (c) => ({ body: { id: c.json.contractId, customerId: 'K-1', business: false, lastname: 'Mustermann' } });
    await putErpSettings(deps, deps.erp, { mode: 'live', executors: { contractById: { type: 'apiCall', url: receiver.url, method: 'POST', headers: {} } } } as never);
    expect((await deps.erp.contractById('V-1')).source).toBe('erp');
    expect((await deps.erp.contractById('V-1')).source).toBe('cache');
    expect(await metricValue(registry, 'deskhook_erp_calls_total', { operation: 'contractById', result: 'ok' })).toBe(1);
    expect(await metricValue(registry, 'deskhook_erp_call_duration_seconds_count', { operation: 'contractById' })).toBe(1);
    expect(await metricValue(registry, 'deskhook_erp_lookups_total', { operation: 'contractById', cache: 'miss' })).toBe(1);
    expect(await metricValue(registry, 'deskhook_erp_lookups_total', { operation: 'contractById', cache: 'hit' })).toBe(1);
    receiver.answer = () => ({ status: 503, body: {} });
    await expect(deps.erp.contractById('V-2')).rejects.toMatchObject({ code: 'erp_failed' });
    expect(await metricValue(registry, 'deskhook_erp_calls_total', { operation: 'contractById', result: 'failed' })).toBe(1);
  });

  it('IMAP polls by result: a server that cannot be reached counts as failed, with no last success', async () => {
    const imapId = (await createEmailAccount(deps, {
      name: 'Postfach', address: 'postfach@stadtwerke.example',
      inbound: { type: 'imap', host: '127.0.0.1', port: await freePort(), secure: false, user: 'u', password: 'p', folder: 'INBOX' },
    })).id;
    const poller = new ImapPoller({ deps, holder: 'metrics-test', pollSeconds: 60, policy: new EgressPolicy(['127.0.0.1/32']) });
    try {
      await expect(poller.syncAccount(imapId)).rejects.toThrow();
    } finally {
      await poller.stop();
    }
    expect(await metricValue(registry, 'deskhook_imap_polls_total', { account: String(imapId), result: 'failed' })).toBe(1);
    expect(await metricValue(registry, 'deskhook_imap_last_success_timestamp_seconds', { account: String(imapId) })).toBe(0);
  });

  it('the exposition passes promtool, and every metric the Grafana dashboard queries exists', async () => {
    await inbound.send({ from: 'erika@example.com', to: SUPPORT, subject: 'Zähler', text: 'Stand 4711' });
    await processPendingInbound(deps);
    const text = await registry.metrics();
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : type === 'summary' ? [name!, `${name}_sum`, `${name}_count`] : [name!]));
    expect(exposed.has('deskhook_nodejs_active_handles_total')).toBe(false);

    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets?: Array<{ expr: string }> }) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    // Metrics the HTTP adapter, the event worker and the sandbox register in a serving process.
    const elsewhere = /^deskhook_(http|event|sandbox)_/;
    const queried = new Set(exprs.flatMap((e) => [...e.matchAll(/\bdeskhook_[a-z0-9_]+/g)].map((m) => m[0])));
    const missing = [...queried].filter((name) => !exposed.has(name) && !elsewhere.test(name));
    expect(missing).toEqual([]);

    if (!existsSync(PROMTOOL)) {
      console.warn(`${PROMTOOL} not found: the promtool check is skipped (apt-get install -y --no-install-recommends prometheus)`);
      return;
    }
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('');
    expect(check.status).toBe(0);
  });
});
