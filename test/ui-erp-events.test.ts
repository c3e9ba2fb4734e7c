import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { claimDeliveries, deliverClaimed } from '../src/app/events/deliver-events.ts';
import { chromiumMissing, startUiApp, type UiApp } from './support/browser.ts';

const missing = chromiumMissing();
if (missing) {
  describe.skipIf(!process.env.CI)('web UI: ERP and events pages', () => {
    it('has a browser to test with', () => {
      throw new Error(missing);
    });
  });
} else {
  describe('web UI: ERP integration and events pages in a real browser', () => {
    let ui: UiApp;
    let receiver: Server;
    let base: string;
    const calls: Array<{ path: string; headers: Record<string, unknown>; body: string }> = [];

    beforeAll(async () => {
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          calls.push({ path: req.url ?? '/', headers: req.headers, body });
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
      base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
      ui = await startUiApp('sqlite');
    }, 120_000);
    afterAll(async () => {
      await ui?.close();
      receiver?.closeAllConnections();
      await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    });

    /** Every delivery due now, run as a worker would (test/events.test.ts's drain). */
    const drain = async () => {
      const outcomes: string[] = [];
      for (;;) {
        const batch = await claimDeliveries(ui.t.deps, 'ui-test-worker', 50, 60_000);
        if (!batch.deliveries.length) return outcomes;
        for (const d of batch.deliveries) outcomes.push(await deliverClaimed(ui.t.deps, d, batch.hooks.get(d.delivery.hookId)!, 'ui-test-worker'));
      }
    };

    /** Replaces the whole document of a CodeMirror editor with `text`. */
    const fillEditor = async (page: Page, editor: Locator, text: string) => {
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.insertText(text);
    };

    it('ERP: code for contractById with ctx completion, a test run with output and one with an error, saving persists', async () => {
      const page = await ui.newPage();
      await ui.login(page);
      await page.getByRole('link', { name: 'ERP Integration' }).click();
      await page.getByRole('heading', { name: 'ERP Integration', level: 1 }).waitFor();
      const op = page.getByRole('region', { name: 'contractById', exact: true });
      await op.getByRole('combobox', { name: 'Executor', exact: true }).selectOption('sourceCode');
      const editor = op.locator('.cm-content');
      await editor.waitFor();
      // The editable area is labelled and reachable by keyboard.
      expect(await editor.getAttribute('aria-label')).toBe('Code: Executor of contractById');
      expect(await editor.getAttribute('contenteditable')).toBe('true');
      await op.getByRole('combobox', { name: 'Language' }).focus();
      await page.keyboard.press('Tab');
      expect(await page.locator(':focus').getAttribute('aria-label')).toBe('Code: Executor of contractById');
      // The template uses ctx; completion after `ctx.` offers the members of Ctx from ctx.d.ts.
      expect(await editor.textContent()).toContain('ctx.secrets.get');
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.type('ctx.');
      await page.getByRole('option', { name: /^fetch/ }).waitFor();
      expect(await page.getByRole('option', { name: /^secrets/ }).isVisible()).toBe(true);
      // Narrowed to one member, its doc comment is the info.
      await page.keyboard.type('fe');
      await expect.poll(() => page.locator('.cm-completionInfo').textContent()).toContain('egress guard');
      await page.keyboard.press('Backspace');
      await page.keyboard.press('Backspace');
      await page.keyboard.type('secrets.');
      await page.getByRole('option', { name: /^get/ }).waitFor();
      expect(await page.getByRole('option', { name: /^fetch/ }).count()).toBe(0);
      await page.keyboard.press('Escape');

      // A small TypeScript program: its output appears in the Test panel.
      await fillEditor(page, editor, "export default async (input: { contractId: string }, ctx: any) => {\n  ctx.log('looking up', input.contractId);\n  return { id: input.contractId, customerId: 'K-1', business: false, lastname: 'Muster' };\n};\n");
      const input = op.getByLabel('Test input (JSON)');
      expect(JSON.parse(await input.inputValue())).toEqual({ contractId: 'V-1001' });
      await input.fill('{"contractId": "V-4711"}');
      await op.getByRole('button', { name: 'Run', exact: true }).click();
      const output = op.getByLabel('Output: contractById');
      await expect.poll(() => output.textContent(), { timeout: 15_000 }).toContain('Muster');
      expect(JSON.parse((await output.textContent())!)).toMatchObject({ id: 'V-4711', customerId: 'K-1', lastname: 'Muster' });
      expect(await op.getByText(/Succeeded in \d+ ms/).isVisible()).toBe(true);
      expect(await op.getByLabel('Logs: contractById').textContent()).toContain('looking up V-4711');
      // The code ran as the form shows it, not saved yet, and the panel says so (as a webhook's Test does).
      expect(await op.getByTestId('tested-which').textContent()).toBe('Tested: the form as shown (not saved yet).');

      // A failing program shows its error.
      await fillEditor(page, editor, "export default async () => {\n  throw new Error('ERP is down');\n};\n");
      await op.getByRole('button', { name: 'Run', exact: true }).click();
      await expect.poll(() => op.getByText(/Failed after \d+ ms/).textContent(), { timeout: 15_000 }).toContain('ERP is down');

      // A program that returns an invalid contract: the check names the field.
      await fillEditor(page, editor, "export default async (input: { contractId: string }) => ({ id: input.contractId });\n");
      await op.getByRole('button', { name: 'Run', exact: true }).click();
      await expect.poll(() => op.getByText(/Failed after \d+ ms/).textContent(), { timeout: 15_000 }).toMatch(/customerId/);

      // Saving: live mode, the code, a TTL and the time limit persist.
      await fillEditor(page, editor, "export default async (input: { contractId: string }) => ({ id: input.contractId, customerId: 'K-1', business: false, lastname: 'Muster' });\n");
      await page.getByLabel('Live: the executors below ask the ERP').check();
      await page.getByLabel('Cache time to live (seconds): contractById').fill('120');
      await page.getByLabel('Time limit of one ERP call (ms)').fill('5000');
      // Usable at 1280 px: a long line of code scrolls inside the editor, not the page.
      expect(await page.locator('main.content').evaluate((e) => e.scrollWidth <= e.clientWidth)).toBe(true);
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByText('Saved. The cache was cleared.').waitFor();
      const saved = (await ui.t.api('GET', '/api/v1/erp')).json();
      expect(saved).toMatchObject({ mode: 'live', timeoutMs: 5000, cacheTtlSeconds: { contractById: 120, customerById: 900 } });
      expect(saved.executors.contractById).toMatchObject({ type: 'sourceCode', language: 'typescript' });
      expect(saved.executors.contractById.code).toContain("lastname: 'Muster'");
      expect(saved.executors.customerById).toBeUndefined();

      // After a reload the page shows what was saved; the contract lookup now runs the code.
      await page.reload();
      await page.getByRole('region', { name: 'contractById', exact: true }).locator('.cm-content').waitFor();
      expect(await page.getByRole('region', { name: 'contractById', exact: true }).locator('.cm-content').textContent()).toContain("lastname: 'Muster'");
      expect(await page.getByLabel('Live: the executors below ask the ERP').isChecked()).toBe(true);
      expect((await ui.t.api('GET', '/api/v1/contracts/V-9')).json()).toMatchObject({ id: 'V-9', lastname: 'Muster' });

      // Cache statistics: refresh shows the ERP call; clearing the cache reports what it deleted.
      const stats = page.getByRole('region', { name: 'Cache statistics of this process' });
      await stats.getByRole('button', { name: 'Refresh' }).click();
      await expect.poll(async () => (await stats.getByRole('row', { name: /^ERP calls/ }).textContent()) ?? '').toMatch(/ERP calls[1-9]/);
      page.once('dialog', (d) => void d.accept());
      await stats.getByRole('button', { name: 'Clear cache' }).click();
      await stats.getByText(/\d+ cached entries deleted\./).waitFor();

      // The recognition settings save too.
      const recognition = page.getByRole('region', { name: 'Customer recognition' });
      await recognition.getByLabel('Own mail domains').fill('stadtwerke.example\nservice.example');
      await recognition.getByRole('button', { name: 'Save recognition settings' }).click();
      await recognition.getByText('Saved.').waitFor();
      expect((await ui.t.api('GET', '/api/v1/recognition/settings')).json().ownDomains).toEqual(['stadtwerke.example', 'service.example']);

      expect(ui.consoleErrors).toEqual([]);
    }, 90_000);

    it('Events: create a hook in the UI, see its delivery with the attempt, the event log with replay, disable and enable with replay', async () => {
      const page = await ui.newPage();
      page.on('dialog', (d) => void d.accept());
      await ui.login(page);
      await page.getByRole('link', { name: 'Events' }).click();
      await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
      await page.getByRole('button', { name: 'New event hook' }).click();
      await page.getByLabel('Name', { exact: true }).fill('CRM sync');
      await page.getByLabel('TicketCreated', { exact: true }).check();
      await page.getByRole('combobox', { name: 'Executor', exact: true }).selectOption('apiCall');
      await page.getByLabel('URL', { exact: true }).fill(`${base}/events`);
      await page.getByRole('button', { name: 'Add header' }).click();
      await page.getByLabel('Header name 1').fill('X-Tenant');
      await page.getByLabel('Header value 1').fill('stadtwerke');
      await page.getByLabel('Ordering').selectOption('ticket');
      await page.getByLabel('Deliveries at once (at most)').fill('4');
      await page.getByRole('button', { name: 'Create' }).click();
      await page.getByRole('heading', { name: 'Event hook “CRM sync”' }).waitFor();
      const [hook] = (await ui.t.api('GET', '/api/v1/event-hooks')).json().items;
      expect(hook).toMatchObject({
        name: 'CRM sync', events: ['TicketCreated'], enabled: true, orderingKey: 'ticket',
        executor: { type: 'apiCall', url: `${base}/events`, method: 'POST', headers: { 'X-Tenant': 'stadtwerke' } },
        retryScheduleSeconds: [5, 300, 1800, 7200, 18000, 36000, 36000], maxInFlight: 4, ratePerSecond: null,
      });
      expect(new URL(page.url()).pathname).toBe(`/settings/event-hooks/${hook.id}`);
      const deliveries = page.getByRole('region', { name: 'Deliveries' });
      await deliveries.getByText('No deliveries.').waitFor();

      // The signing secret is revealed on request.
      await page.getByRole('button', { name: 'Reveal' }).click();
      const { signingSecret } = (await ui.t.api('GET', `/api/v1/event-hooks/${hook.id}/signing-secret`)).json();
      expect(await page.getByLabel('Signing secret', { exact: true }).textContent()).toBe(signingSecret);

      // An event: a ticket created through the API, delivered by a worker run.
      const ticket = (await ui.t.api('POST', '/api/v1/tickets', { subject: 'Abschlag zu hoch', from: 'erika@example.com' })).json();
      expect(await drain()).toEqual(['succeeded']);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.headers['x-tenant']).toBe('stadtwerke');
      await deliveries.getByRole('button', { name: 'Refresh' }).click();
      const row = deliveries.getByRole('row').filter({ hasText: 'TicketCreated' });
      await row.waitFor();
      expect(await row.textContent()).toContain('succeeded');
      const [delivery] = (await ui.t.api('GET', `/api/v1/event-hooks/${hook.id}/deliveries`)).json().items;
      await deliveries.getByRole('button', { name: `Show attempts of delivery ${delivery.id}` }).click();
      const attempts = deliveries.getByRole('table', { name: 'Attempts' });
      const attempt = attempts.getByRole('row').nth(1);
      await attempt.waitFor();
      const cells = await attempt.getByRole('cell').allTextContents();
      expect(cells.slice(0, 3)).toEqual(['1', 'succeeded', '200']);
      expect(cells[5]).toBe('{"ok":true}');
      expect(cells[6]).toBe('ui-test-worker');
      expect(await page.locator('main.content').evaluate((e) => e.scrollWidth <= e.clientWidth)).toBe(true);
      // The status filter.
      await deliveries.getByLabel('Status').selectOption('failed');
      await deliveries.getByText('No deliveries.').waitFor();
      await deliveries.getByLabel('Status').selectOption('');
      await row.waitFor();

      // The event log: the event with its data and deliveries; replaying it queues it again.
      const log = page.getByRole('region', { name: 'Event log' });
      await log.getByLabel('Type').selectOption('TicketCreated');
      const [event] = (await ui.t.api('GET', `/api/v1/events?type=TicketCreated&ticketId=${ticket.id}`)).json().items;
      await log.getByRole('button', { name: `Show event ${event.id}` }).click();
      await expect.poll(() => log.getByLabel(`Data: ${event.id}`).textContent()).toContain('Abschlag zu hoch');
      const eventDeliveries = log.getByRole('table', { name: 'Deliveries' });
      await eventDeliveries.getByRole('cell', { name: 'CRM sync' }).waitFor();
      await log.getByRole('button', { name: 'Replay to every subscribed hook' }).click();
      await log.getByText('Queued again for 1 hooks.').waitFor();
      ui.t.clock.advance(1_000);
      expect(await drain()).toEqual(['succeeded']);
      expect(calls).toHaveLength(2);
      expect(calls[1]!.headers['webhook-id']).toBe(event.id);

      // Disabled, the hook misses an event; enabling it replays what it missed.
      ui.t.clock.advance(1_000);
      await page.getByRole('button', { name: 'Disable hook' }).click();
      await page.getByText(/This hook is disabled \(switched off\)/).waitFor();
      ui.t.clock.advance(1_000);
      await ui.t.api('POST', '/api/v1/tickets', { subject: 'Zählerstand', from: 'max@example.com' });
      expect(await drain()).toEqual([]);
      await page.reload();
      const enable = page.getByRole('button', { name: 'Enable and replay 1 missed events' });
      await enable.waitFor();
      await enable.click();
      await page.getByText('Enabled; 1 events queued again.').waitFor();
      expect((await ui.t.api('GET', `/api/v1/event-hooks/${hook.id}`)).json().enabled).toBe(true);
      expect(await drain()).toEqual(['succeeded']);
      expect(calls).toHaveLength(3);
      expect(JSON.parse(calls[2]!.body).data.ticket.subject).toBe('Zählerstand');

      // A range replay, counted first (dry run).
      await page.getByLabel('Since').fill('2026-11-01T00:00:00');
      await page.getByRole('button', { name: 'Replay', exact: true }).click();
      await page.getByText('2 events in the range; nothing queued (dry run).').waitFor();

      expect(ui.consoleErrors).toEqual([]);
    }, 90_000);
  });
}
