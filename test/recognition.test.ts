import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acceptInbound } from '../src/app/mail/accept-inbound.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { OpenAiCompatibleModel } from '../src/adapters/llm/openai-compatible.ts';
import { EgressClient } from '../src/adapters/egress/egress-client.ts';
import { EgressPolicy } from '../src/adapters/egress/address-policy.ts';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/** An OpenAI-compatible endpoint that answers what the test scripts and records the prompts. */
let llm: Server;
let llmUrl: string;
const prompts: any[] = [];
let llmAnswer: () => { status: number; content: string } = () => ({ status: 200, content: '{}' });

beforeAll(async () => {
  llm = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      prompts.push({ url: req.url, auth: req.headers.authorization, body: JSON.parse(body) });
      const a = llmAnswer();
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: a.content } }] }));
    });
  });
  await new Promise<void>((r) => llm.listen(0, '127.0.0.1', () => r()));
  llmUrl = `http://127.0.0.1:${(llm.address() as { port: number }).port}/v1`;
});
afterAll(async () => {
  llm.closeAllConnections();
  await new Promise<void>((r) => llm.close(() => r()));
});

const ERIKA_CONTRACT = {
  customerId: 'K-4711', business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.org',
  phone: '+49 171 1234567', zip: '10115', city: 'Berlin', street: 'Invalidenstraße 12', meterNumber: '1ESY1160123456',
};
const ERIKA_CUSTOMER = { business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.org', contractIds: ['V-100200'] };

describe.each(BACKENDS)('customer recognition on %s', (kind) => {
  let t: TestApp;
  let accountId: number;

  beforeEach(async () => {
    t = await startTestApp(kind);
    prompts.length = 0;
    llmAnswer = () => ({ status: 200, content: '{}' });
    expect((await t.api('PUT', '/api/v1/contracts/V-100200', ERIKA_CONTRACT)).statusCode).toBe(200);
    expect((await t.api('PUT', '/api/v1/customers/K-4711', ERIKA_CUSTOMER)).statusCode).toBe(200);
    accountId = (await t.api('POST', '/api/v1/email-accounts', { name: 'Service', address: 'service@stadtwerke-example.de', inbound: { type: 'smtp' } })).json().id;
    await t.api('PUT', '/api/v1/recognition/settings', { ownDomains: ['stadtwerke-example.de'] });
  });
  afterEach(async () => { await t.close(); });

  const deliver = async (from: string, subject: string, body: string, extra: string[] = []) => {
    const raw = [`From: ${from}`, 'To: service@stadtwerke-example.de', `Subject: ${subject}`, `Message-ID: <${Math.random().toString(36).slice(2)}@example.org>`, ...extra, 'Content-Type: text/plain; charset=utf-8', '', body].join('\r\n');
    await acceptInbound(t.deps, { emailAccountId: accountId, source: 'smtp', sourceKey: null, envelopeFrom: from.replace(/.*</, '').replace(/>.*/, ''), envelopeTo: ['service@stadtwerke-example.de'], raw: Buffer.from(raw) });
    const [result] = await processPendingInbound(t.deps);
    return (await t.api('GET', `/api/v1/tickets/${result!.ticketId}`)).json();
  };

  it('a new inbound ticket is linked to its contract, legitimised by two criteria, with ContractLinked and the log on the ticket', async () => {
    const ticket = await deliver('Erika Mustermann <erika.mustermann@example.org>', 'Abschlag anpassen', [
      'Guten Tag,', '', 'bitte passen Sie meinen Abschlag für Vertragsnummer V-100200 auf 85 EUR an.', '', 'Mit freundlichen Grüßen', 'Erika Mustermann',
    ].join('\n'));
    expect(ticket).toMatchObject({ contractId: 'V-100200', customerId: 'K-4711', legitimationLevel: 20 });
    const linked = (await t.api('GET', `/api/v1/events?type=ContractLinked&ticketId=${ticket.id}`)).json().items;
    expect(linked).toHaveLength(1);
    expect(linked[0].data).toMatchObject({ ticketId: ticket.id, contractId: 'V-100200', customerId: 'K-4711', legitimationLevel: 20, actor: 'system' });
    const activity = (await t.api('GET', `/api/v1/tickets/${ticket.id}/activity`)).json().items;
    const link = activity.find((a: any) => a.field === 'contractId');
    expect(link).toMatchObject({ from: null, to: 'V-100200', actor: { type: 'system', reason: 'customer recognition' } });
    const log = link.meta.recognition;
    expect(log.characteristics).toMatchObject({ contractId: 'V-100200', email: 'erika.mustermann@example.org', lastname: 'Mustermann' });
    expect(log.criteria).toEqual(expect.arrayContaining(['emailMatches', 'idMentioned', 'nameMentioned']));
    expect(log.erpCalls.map((c: any) => [c.operation, c.cache])).toEqual([['searchContracts', 'local'], ['contractById', 'local'], ['customerById', 'local']]);
    expect(log.detectionLog.map((s: any) => s.step)).toEqual(expect.arrayContaining(['extract', 'search', 'legitimation']));
  });

  it('one criterion is recognition without legitimation (10); no match leaves the ticket unlinked with the log', async () => {
    const weak = await deliver('Unbekannt <someone@elsewhere.example>', 'Frage', 'Hallo, es geht um Vertrag Nr. V-100200. Danke');
    expect(weak).toMatchObject({ contractId: 'V-100200', legitimationLevel: 10 });
    const none = await deliver('Max Meier <max@elsewhere.example>', 'Tarife', 'Welche Tarife haben Sie?\n\nGruß\nMax Meier');
    expect(none).toMatchObject({ contractId: null, customerId: null, legitimationLevel: 0 });
    const activity = (await t.api('GET', `/api/v1/tickets/${none.id}/activity`)).json().items;
    expect(activity.find((a: any) => a.field === 'recognition')).toMatchObject({ to: 'no contract' });
  });

  it('rule groups are configurable: a stricter rule turns the same message into level 10', async () => {
    const bad = await t.api('PUT', '/api/v1/recognition/settings', { rules: [{ name: 'strict', criteria: ['emailMatches'], min: 2 }] });
    expect(bad.statusCode).toBe(400);
    expect((await t.api('PUT', '/api/v1/recognition/settings', { contractPatterns: ['(unclosed'] })).json().detail).toContain('contractPatterns.0');
    await t.api('PUT', '/api/v1/recognition/settings', { rules: [{ name: 'address and meter', criteria: ['addressMatches', 'meterMatches', 'phoneMatches'], min: 2 }] });
    const ticket = await deliver('Erika Mustermann <erika.mustermann@example.org>', 'Abschlag', 'Vertragsnummer V-100200\n\nViele Grüße\nErika Mustermann');
    expect(ticket.legitimationLevel).toBe(10);
  });

  it('preview is a dry run with the detection log; agents confirm, unlink and relink', async () => {
    const preview = await t.api('POST', '/api/v1/recognition/preview', {
      from: 'erika.mustermann@example.org', subject: 'Zählerstand', body: 'Mein Zähler 1ESY1160123456 zeigt 4711 kWh.\nErika Mustermann, Invalidenstraße 12, 10115 Berlin',
    }, t.agentToken);
    expect(preview.statusCode, preview.body).toBe(200);
    expect(preview.json()).toMatchObject({ contract: { id: 'V-100200' }, customer: { id: 'K-4711' }, legitimationLevel: 20 });
    expect((await t.api('GET', '/api/v1/tickets?limit=5')).json().items).toEqual([]);

    const ticket = (await t.api('POST', '/api/v1/tickets', { subject: 'Anruf', from: 'erika.mustermann@example.org' }, t.agentToken)).json();
    expect((await t.api('POST', `/api/v1/tickets/${ticket.id}/contract/confirm`, undefined, t.agentToken)).statusCode).toBe(409);
    expect((await t.api('POST', `/api/v1/tickets/${ticket.id}/contract`, { contractId: 'V-nope' }, t.agentToken)).statusCode).toBe(404);
    const linked = (await t.api('POST', `/api/v1/tickets/${ticket.id}/contract`, { contractId: 'V-100200' }, t.agentToken)).json();
    expect(linked).toMatchObject({ contractId: 'V-100200', customerId: 'K-4711', legitimationLevel: 30 });
    const unlinked = (await t.api('DELETE', `/api/v1/tickets/${ticket.id}/contract`, undefined, t.agentToken)).json();
    expect(unlinked).toMatchObject({ contractId: null, customerId: null, legitimationLevel: 0 });
    const events = (await t.api('GET', `/api/v1/events?type=ContractLinked&ticketId=${ticket.id}`)).json().items;
    expect(events.map((e: any) => [e.data.contractId, e.data.legitimationLevel, e.userId])).toEqual([['V-100200', 30, t.agentId]]);
  });

  it('when the ERP fails, the ticket is created anyway and the failure is in its log', async () => {
    await t.api('PUT', '/api/v1/erp', { mode: 'live', executors: { searchContracts: { type: 'apiCall', url: 'http://127.0.0.1:9/down' } } });
    const ticket = await deliver('Erika Mustermann <erika.mustermann@example.org>', 'Abschlag', 'Vertragsnummer V-100200\nErika Mustermann');
    expect(ticket).toMatchObject({ contractId: null, legitimationLevel: 0 });
    const entry = (await t.api('GET', `/api/v1/tickets/${ticket.id}/activity`)).json().items.find((a: any) => a.field === 'recognition');
    expect(entry.meta.recognition.erpCalls).toEqual([{ operation: 'searchContracts', cache: 'failed', durationMs: 0 }]);
    expect(entry.meta.recognition.detectionLog.map((s: any) => s.message).join('\n')).toContain('the search failed');
  });

  it('an OpenAI-compatible model fills in what the rules missed, and its failure is only logged', async () => {
    t.deps.model = new OpenAiCompatibleModel({ url: llmUrl, model: 'test-model', apiKey: 'sk-test', egress: new EgressClient({ policy: new EgressPolicy(['127.0.0.1/32']) }) });
    await t.api('PUT', '/api/v1/recognition/settings', { useModel: true });
    llmAnswer = () => ({ status: 200, content: JSON.stringify({ meterNumber: '1ESY1160123456', amount: '85' }) });
    const body = { from: 'erika.mustermann@example.org', subject: 'Zähler', body: 'Mein Zähler hat die Nummer eins E S Y 1160123456.' };
    const result = (await t.api('POST', '/api/v1/recognition/preview', body, t.agentToken)).json();
    expect(result.characteristics).toMatchObject({ meterNumber: '1ESY1160123456', email: 'erika.mustermann@example.org' });
    expect(result.characteristics.amount).toBeUndefined();
    expect(result.legitimationLevel).toBe(20);
    expect(prompts[0]).toMatchObject({ url: '/v1/chat/completions', auth: 'Bearer sk-test', body: { model: 'test-model', temperature: 0 } });
    expect(prompts[0].body.messages[1].content).toContain('1160123456');
    llmAnswer = () => ({ status: 500, content: 'overloaded' });
    const failed = (await t.api('POST', '/api/v1/recognition/preview', body, t.agentToken)).json();
    expect(failed.detectionLog.map((s: any) => s.message).join('\n')).toContain('the language model failed');
  });
});
