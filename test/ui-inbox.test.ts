import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptInbound } from '../src/app/mail/accept-inbound.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { chromiumMissing, startUiApp, type UiApp } from './support/browser.ts';

const ADDRESS = 'service@stadtwerke-example.de';
const HOOK_MESSAGE = 'Bitte zuerst die Kundennummer prüfen';

const ERIKA_CONTRACT = {
  customerId: 'K-4711', business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.org',
  phone: '+49 171 1234567', zip: '10115', city: 'Berlin', street: 'Invalidenstraße 12', meterNumber: '1ESY1160123456',
  agentPreview: [
    { label: 'Tarif', value: 'Strom Basis 2026', tooltip: 'seit 01.01.2024' },
    { label: 'Abschlag', value: '85 € / Monat', url: 'https://erp.example/abschlag/V-100200' },
  ],
  erpUrls: [{ url: 'https://erp.example/vertraege/V-100200', icon: 'contract' }],
};
const ERIKA_CUSTOMER = { business: false, firstname: 'Erika', lastname: 'Mustermann', email: 'erika.mustermann@example.org', contractIds: ['V-100200'] };

/** The team's own API behind the newEmails hook: refuses every reply and note, lets inbound mail through. */
let receiver: Server;
let hookUrl: string;
const hookCalls: any[] = [];

/** The machine is shared: give the browser time, but fail (naming the locator) well before the test's own timeout. */
const TEST_TIMEOUT = 60_000;
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 100 });

const missing = chromiumMissing();
if (missing) {
  describe.skipIf(!process.env.CI)('inbox UI', () => {
    it('has a browser to test with', () => {
      throw new Error(missing);
    });
  });
} else {
  describe('inbox, ticket view and customer page in a real browser', () => {
    let ui: UiApp;
    let accountId: number;

    beforeAll(async () => {
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          const input = JSON.parse(body);
          hookCalls.push(input);
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(input.direction === 'in' ? {} : { abort: true, message: HOOK_MESSAGE }));
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
      hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;

      ui = await startUiApp('sqlite');
      const { api } = ui.t;
      expect((await api('PUT', '/api/v1/contracts/V-100200', ERIKA_CONTRACT)).statusCode).toBe(200);
      expect((await api('PUT', '/api/v1/customers/K-4711', ERIKA_CUSTOMER)).statusCode).toBe(200);
      const account = await api('POST', '/api/v1/email-accounts', {
        name: 'Service', address: ADDRESS, inbound: { type: 'smtp' },
        webhooks: { enabled: true, newEmails: { type: 'apiCall', url: hookUrl }, timeoutMs: 5000, failurePolicy: 'notify' },
      });
      expect(account.statusCode, account.body).toBe(201);
      accountId = account.json().id;
      expect((await api('PUT', '/api/v1/recognition/settings', { ownDomains: ['stadtwerke-example.de'] })).statusCode).toBe(200);
    }, 120_000);

    afterAll(async () => {
      await ui?.close();
      receiver?.closeAllConnections();
      await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    });

    /** An email through the app layer, as the SMTP server would hand it over; answers the ticket id. */
    const deliver = async (from: string, subject: string, body: string): Promise<number> => {
      const raw = [`From: ${from}`, `To: ${ADDRESS}`, `Subject: ${subject}`, `Message-ID: <${Math.random().toString(36).slice(2)}@example.org>`, 'Content-Type: text/plain; charset=utf-8', '', body].join('\r\n');
      await acceptInbound(ui.t.deps, { emailAccountId: accountId, source: 'smtp', sourceKey: null, envelopeFrom: from.replace(/.*</, '').replace(/>.*/, ''), envelopeTo: [ADDRESS], raw: Buffer.from(raw) });
      const [result] = await processPendingInbound(ui.t.deps);
      return result!.ticketId!;
    };
    const ticket = async (id: number) => (await ui.t.api('GET', `/api/v1/tickets/${id}`)).json();
    const openPage = async (who: 'admin' | 'agent' = 'admin') => {
      const page = await ui.newPage();
      page.setDefaultTimeout(15_000);
      await ui.login(page, who);
      return page;
    };

    it('an inbound email appears in the inbox; filters stay in the URL across a reload; it opens with its thread and activity', async () => {
      const id = await deliver('Max Meier <max@elsewhere.example>', 'Zählerstand Keller', 'Hallo,\nmein Zählerstand ist 4711 kWh.\n\nGruß\nMax Meier');
      const page = await openPage();
      const link = page.getByRole('link', { name: 'Zählerstand Keller' });
      await link.waitFor();
      const row = page.locator('tr', { has: link });
      await poll(() => row.textContent()).toContain('max@elsewhere.example');
      expect(await row.textContent()).toContain('Open');
      expect(await row.textContent()).toContain('Unassigned');

      // Filters go into the URL; a reload keeps them.
      await page.getByLabel('Text').fill('Keller');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await poll(() => new URL(page.url()).searchParams.get('q')).toBe('Keller');
      await page.getByLabel('Status').selectOption('closed');
      await poll(() => page.getByText('No tickets match.').isVisible()).toBe(true);
      await page.reload();
      await page.getByText('No tickets match.').waitFor();
      expect(await page.getByLabel('Text').inputValue()).toBe('Keller');
      expect(await page.getByLabel('Status').inputValue()).toBe('closed');
      await page.getByLabel('Status').selectOption('open');
      await page.getByLabel('Assignee').selectOption('none');
      await poll(() => new URL(page.url()).search).toBe('?q=Keller&status=open&agentId=none');
      await link.click();

      await poll(() => new URL(page.url()).pathname).toBe(`/tickets/${id}`);
      await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toContain('Zählerstand Keller');
      expect(await page.locator('header').filter({ hasText: 'Zählerstand Keller' }).textContent()).toContain('Max Meier <max@elsewhere.example>');
      const first = page.locator('article.message.in').first();
      expect(await first.textContent()).toContain('mein Zählerstand ist 4711 kWh.');
      // Nobody known sent it: the panel is grey with a search; the activity shows the hook and recognition.
      expect(await page.locator('.panel-grey').textContent()).toContain('Unknown');
      const hookRow = page.locator('tr[data-field="webhook"]');
      await poll(() => hookRow.textContent()).toMatch(/newEmails.*inboundEmail.*ok.*ms/);
      expect(await page.locator('tr[data-field="recognition"]').textContent()).toContain('no contract found');
      expect(ui.consoleErrors).toEqual([]);
    }, TEST_TIMEOUT);

    it('an agent\'s reply and note refused by the newEmails webhook show the hook\'s message at once', async () => {
      const id = await deliver('Max Meier <max@elsewhere.example>', 'Abschlag ändern', 'Bitte den Abschlag auf 60 EUR setzen.');
      hookCalls.length = 0;
      const page = await openPage('agent');
      await page.goto(`${ui.baseUrl}/tickets/${id}`);
      await page.getByLabel('Message').fill('Gerne, wir haben den Abschlag angepasst.');
      await page.getByRole('button', { name: 'Send reply' }).click();
      const composer = page.getByRole('form', { name: 'Write' });
      await poll(() => composer.getByRole('alert').textContent()).toContain(HOOK_MESSAGE);
      expect(hookCalls[0]).toMatchObject({ hook: 'newEmails', direction: 'out', userId: ui.t.agentId, ticketId: id });
      // The blocked email stays in the thread, marked as such; the text stays in the composer.
      const out = page.locator('article.message.out');
      await poll(() => out.textContent()).toContain('Delivery: blocked');
      expect(await page.getByLabel('Message').inputValue()).toBe('Gerne, wir haben den Abschlag angepasst.');

      await page.getByLabel('Message').fill('Kunde hat angerufen.');
      await page.getByRole('button', { name: 'Add internal note' }).click();
      await poll(() => hookCalls.some((c) => c.direction === 'internal')).toBe(true);
      await poll(() => composer.getByRole('alert').textContent()).toContain(HOOK_MESSAGE);
      expect(await page.locator('article.message.internal').count()).toBe(0);
      await poll(() => page.locator('tr[data-field="webhook"]').allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/outboundEmail.*aborted/)]));

      // The agent can assign the ticket to themselves (GET /users is admin-only: the choice is "me").
      await page.getByRole('form', { name: 'Properties' }).getByLabel('Assignee').selectOption({ label: 'Agent' });
      await page.getByRole('button', { name: 'Save' }).click();
      await poll(async () => (await ticket(id)).agentId).toBe(ui.t.agentId);
      expect(ui.consoleErrors).toEqual([]);
    }, TEST_TIMEOUT);

    it('a recognised, legitimised ticket has the green customer panel with the contract\'s preview and ERP links', async () => {
      const id = await deliver('Erika Mustermann <erika.mustermann@example.org>', 'Abschlag anpassen',
        'Guten Tag,\n\nbitte passen Sie meinen Abschlag für Vertragsnummer V-100200 auf 85 EUR an.\n\nMit freundlichen Grüßen\nErika Mustermann');
      expect(await ticket(id)).toMatchObject({ contractId: 'V-100200', customerId: 'K-4711', legitimationLevel: 20 });
      const page = await openPage();
      await page.goto(`${ui.baseUrl}/tickets/${id}`);
      const panel = page.locator('.panel-green');
      await poll(() => panel.textContent()).toContain('Erika Mustermann');
      await poll(() => panel.textContent()).toContain('Strom Basis 2026');
      const text = await panel.textContent();
      expect(text).toContain('legitimised');
      expect(text).toContain('K-4711');
      expect(text).toContain('V-100200');
      expect(await panel.getByText('Strom Basis 2026').getAttribute('title')).toBe('seit 01.01.2024');
      expect(await panel.getByRole('link', { name: '85 € / Monat' }).getAttribute('href')).toBe('https://erp.example/abschlag/V-100200');
      expect(await panel.getByRole('link', { name: /Open in ERP/ }).getAttribute('href')).toBe('https://erp.example/vertraege/V-100200');
      // The recognition's ERP calls, readable in the activity log, shown once.
      const recognition = page.locator('.recognition');
      await poll(() => recognition.count()).toBe(1);
      expect(await recognition.textContent()).toMatch(/searchContracts · local · [\d.]+ ms.*contractById · local.*customerById · local/);
      expect(await recognition.textContent()).toContain('emailMatches');
      expect(ui.consoleErrors).toEqual([]);
    }, TEST_TIMEOUT);

    it('"Ok" on a yellow panel confirms the contract (level 30); unlink, then search and link again', async () => {
      const id = await deliver('Unbekannt <someone@elsewhere.example>', 'Frage zum Vertrag', 'Hallo, es geht um Vertrag Nr. V-100200. Danke');
      expect(await ticket(id)).toMatchObject({ contractId: 'V-100200', legitimationLevel: 10 });
      const page = await openPage('agent');
      await page.goto(`${ui.baseUrl}/tickets/${id}`);
      const yellow = page.locator('.panel-yellow');
      await poll(() => yellow.textContent()).toContain('Erika Mustermann');
      expect(await yellow.textContent()).toContain('recognised, not legitimised');
      await yellow.getByRole('button', { name: 'Ok' }).click();
      const green = page.locator('.panel-green');
      await poll(() => green.textContent()).toContain('confirmed');
      expect(await ticket(id)).toMatchObject({ legitimationLevel: 30 });

      await green.getByRole('button', { name: 'Unlink' }).click();
      const grey = page.locator('.panel-grey');
      await grey.waitFor();
      expect(await ticket(id)).toMatchObject({ contractId: null, legitimationLevel: 0 });
      await grey.getByLabel('Search customer').fill('Mustermann');
      await grey.getByRole('button', { name: 'Search' }).click();
      await grey.getByRole('button', { name: 'Link contract V-100200' }).click();
      await poll(() => page.locator('.panel-green').textContent()).toContain('confirmed');
      expect(await ticket(id)).toMatchObject({ contractId: 'V-100200', customerId: 'K-4711', legitimationLevel: 30 });
      expect(ui.consoleErrors).toEqual([]);
    }, TEST_TIMEOUT);

    it('the search bar finds a customer; the customer page shows the contracts and the customer\'s tickets', async () => {
      const id = await deliver('Erika Mustermann <erika.mustermann@example.org>', 'Umzug', 'Ich ziehe um. Vertragsnummer V-100200\n\nErika Mustermann');
      const page = await openPage();
      const search = page.getByRole('search');
      await search.getByRole('searchbox').fill('Mustermann');
      await search.getByRole('button', { name: /Erika Mustermann/ }).click();
      await poll(() => new URL(page.url()).pathname).toBe('/customers/K-4711');
      await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Erika Mustermann');
      const contract = page.getByRole('article', { name: 'Contract V-100200' });
      await poll(() => contract.textContent()).toContain('Strom Basis 2026');
      expect(await contract.textContent()).toContain('1ESY1160123456');
      const link = page.getByRole('link', { name: 'Umzug' });
      await link.waitFor();
      await link.click();
      await poll(() => new URL(page.url()).pathname).toBe(`/tickets/${id}`);
      expect(ui.consoleErrors).toEqual([]);
    }, TEST_TIMEOUT);
  });
}
