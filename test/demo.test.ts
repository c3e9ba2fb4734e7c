import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  childEnv, connectionRefused, freePort, killAll, login, removeTempDirs, request, runDeskhook, sleep, spawnDeskhook, tempDir, type Child,
} from './support/process.ts';

/**
 * `deskhook demo` (what `npm run demo` runs) as a newcomer meets it: a child process on free ports
 * with a fresh data directory. Everything it promises is checked through the HTTP API: the demo
 * account with its webhooks, tickets from the sample emails recognised against the local demo
 * data, the webhook's patch, the stored ERP adapter reaching the demo ERP in live mode, event
 * deliveries, the demo mailbox, and a clean stop on Ctrl-C.
 */

afterAll(async () => {
  await killAll();
  removeTempDirs();
});

/** Polls `probe` until it returns something truthy; fails with the last value after timeoutMs. */
async function eventually<T>(probe: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value || Date.now() > deadline) return value;
    await sleep(200);
  }
}

describe('deskhook demo', () => {
  const dataDir = join(tempDir('deskhook-demo-'), 'data-demo');
  let child: Child;
  let port: number;
  let base: string;
  let token: string;
  const api = (method: string, path: string, body?: unknown) =>
    request(base, method, `/api/v1${path}`, { token, ...(body !== undefined ? { body } : {}) });

  beforeAll(async () => {
    port = await freePort();
    child = spawnDeskhook(['demo'], childEnv({ PORT: String(port), DESKHOOK_SMTP_PORT: '0', DESKHOOK_DEMO_DATA_DIR: dataDir }));
    const ready = await child.waitForStdout(/deskhook demo is ready: (http:\/\/\S+)/, 40_000);
    base = ready[1]!;
    const res = await login(base, 'admin@demo.local', 'demo-password-1');
    expect(res.status, res.text).toBe(200);
    token = res.json.token;
  }, 45_000);

  it('prints the URL, the login and what to click first', () => {
    expect(base).toBe(`http://127.0.0.1:${port}`);
    expect(child.stdout).toContain('admin@demo.local / demo-password-1');
    expect(child.stdout).toContain('What to click first');
    expect(existsSync(join(dataDir, 'deskhook.sqlite'))).toBe(true);
  });

  it('has the demo email account with its webhooks on, pointing at the demo receiver', async () => {
    const res = await api('GET', '/email-accounts');
    expect(res.status, res.text).toBe(200);
    const account = res.json.items.find((a: { address: string }) => a.address === 'service@stadtwerke-demo.local');
    expect(account, res.text).toBeDefined();
    expect(account.inbound).toEqual({ type: 'smtp' });
    expect(account.webhooks).toMatchObject({
      enabled: true, failurePolicy: 'notify',
      newEmails: { type: 'apiCall', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/webhook$/) },
      ticketUpdates: { type: 'apiCall' },
    });
    const invocations = await eventually(async () => {
      const list = (await api('GET', `/email-accounts/${account.id}/invocations?hook=newEmails&outcome=ok`)).json.items;
      return list.length >= 4 ? list : null;
    });
    expect(invocations, 'signed calls the demo receiver accepted').not.toBeNull();
  });

  it('turned the sample emails into tickets, recognised against the local demo contracts', async () => {
    const tickets = await eventually(async () => {
      const items = (await api('GET', '/tickets')).json.items as Array<Record<string, any>>;
      return items.length >= 5 && items.some((t) => t.legitimationLevel >= 20) ? items : null;
    });
    expect(tickets, 'five tickets, some recognised').not.toBeNull();
    const bySubject = (s: string) => tickets!.find((t) => t.subject.includes(s))!;
    expect(bySubject('Zählerstand')).toMatchObject({ contractId: 'V-410001', customerId: 'K-2101', legitimationLevel: 20 });
    expect(bySubject('Ratenzahlung')).toMatchObject({ contractId: 'V-410003', legitimationLevel: 20 });
    expect(bySubject('Moving out')).toMatchObject({ contractId: 'V-410005', legitimationLevel: 20 });
    expect(bySubject('Ökostrom')).toMatchObject({ contractId: null, legitimationLevel: 0 });

    const settings = (await api('GET', '/erp')).json;
    expect(settings.mode).toBe('local');
    const contract = await api('GET', '/contracts/V-410001');
    expect(contract.json).toMatchObject({ id: 'V-410001', customerId: 'K-2101', lastname: 'Mustermann', iban: expect.stringMatching(/^DE\d{2} 1234 5678/) });
    const search = (await api('GET', '/customers/search?q=mueller')).json.items.map((c: { id: string }) => c.id);
    expect(search.sort()).toEqual(['K-2104', 'K-2107']);
  });

  it('the "Störung" ticket got the webhook\'s patch and note; closing it is refused until it is "behoben"', async () => {
    const ticket = await eventually(async () => {
      const items = (await api('GET', '/tickets?tags=demo')).json.items as Array<Record<string, any>>;
      return items.find((t) => t.subject.startsWith('Störung') && t.priority === 'high') ?? null;
    });
    expect(ticket, 'the patched Störung ticket').not.toBeNull();
    expect(ticket!.tags).toContain('demo');
    const notes = (await api('GET', `/tickets/${ticket!.id}/conversations`)).json.items.filter((c: { direction: string }) => c.direction === 'internal');
    expect(notes.map((n: { body: string }) => n.body).join('\n')).toContain('Störungsmeldung erkannt');

    const refused = await api('PATCH', `/tickets/${ticket!.id}`, { status: 'closed' });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.json).toMatchObject({ code: 'webhook_aborted', detail: expect.stringContaining('behoben') });
    const closed = await api('PATCH', `/tickets/${ticket!.id}`, { status: 'closed', addTags: ['behoben'] });
    expect(closed.status, closed.text).toBe(200);
    expect(closed.json.status).toBe('closed');
  });

  it('switched to live mode, the stored adapter reads the demo ERP API', async () => {
    const live = await api('PUT', '/erp', { mode: 'live' });
    expect(live.status, live.text).toBe(200);
    const test = await api('POST', '/erp/contractById/test', { input: { contractId: 'V-410001' } });
    expect(test.status, test.text).toBe(200);
    expect(test.json, test.text).toMatchObject({
      ok: true, error: null,
      output: { id: 'V-410001', customerId: 'K-2101', lastname: 'Mustermann', agentPreview: [{ label: 'Tarif', value: 'Strom: Strom Basis 2026' }, {}, {}, {}] },
    });
    const customer = await api('GET', '/customers/K-2103');
    expect(customer.json).toMatchObject({ id: 'K-2103', business: true, company: 'Bäckerei Sonnenschein GmbH', contractIds: ['V-420001'] });
    expect(child.stdout).toContain('[demo ERP] GET /api/v1/vertraege/V-410001');
    expect((await api('PUT', '/erp', { mode: 'local' })).status).toBe(200);
  });

  it('delivers events to the demo receiver', async () => {
    const hooks = (await api('GET', '/event-hooks')).json.items;
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({ enabled: true, events: ['TicketCreated', 'TicketUpdated'] });
    const delivered = await eventually(async () => {
      const items = (await api('GET', `/event-hooks/${hooks[0].id}/deliveries?status=succeeded`)).json.items;
      return items.length > 0 ? items : null;
    });
    expect(delivered, 'a succeeded delivery').not.toBeNull();
    expect(child.stdout).toMatch(/\[demo receiver\] event TicketCreated \(ticket \d+\)/);
  });

  it('a reply reaches the demo mailbox', async () => {
    const ticket = (await api('GET', '/tickets')).json.items.find((t: { subject: string }) => t.subject === 'Zählerstand Strom');
    const reply = await api('POST', `/tickets/${ticket.id}/conversations`, { direction: 'out', body: 'Danke, wir haben Ihren Zählerstand erfasst.' });
    expect(reply.status, reply.text).toBe(201);
    // The reply is addressed with the display name the customer's mail carried.
    await child.waitForStdout(/\[demo mailbox\] sent to "?Erika Mustermann"? <erika\.mustermann@example\.com>: "Re: Zählerstand Strom/, 10_000);
  });

  it('Ctrl-C stops everything and exits 0', async () => {
    child.signal('SIGINT');
    const exit = await child.waitForExit(15_000);
    expect(exit, child.describe()).toEqual({ code: 0, signal: null });
    expect(await connectionRefused(port)).toBe(true);
  }, 20_000);
});

describe('deskhook demo and an existing directory', () => {
  it('refuses to delete a directory it did not create, in one line', async () => {
    const dir = tempDir('deskhook-demo-foreign-');
    mkdirSync(join(dir, 'keep'), { recursive: true });
    writeFileSync(join(dir, 'deskhook.sqlite'), 'not the demo\'s');
    const result = await runDeskhook(['demo'], childEnv({ PORT: '0', DESKHOOK_SMTP_PORT: '0', DESKHOOK_DEMO_DATA_DIR: dir }));
    expect(result.code, JSON.stringify(result)).toBe(1);
    expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1);
    expect(result.stderr).toContain('DESKHOOK_DEMO_DATA_DIR');
    expect(existsSync(join(dir, 'deskhook.sqlite'))).toBe(true);
  });
});
