import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { acceptInbound } from '../src/app/mail/accept-inbound.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { chromiumMissing, startUiApp, type UiApp } from './support/browser.ts';

/** A webhook receiver on 127.0.0.1: `/ok` answers a recognisable note, `/fail` answers 500 until told otherwise. */
interface Receiver {
  url: string;
  requests: Array<{ path: string; headers: IncomingHttpHeaders; body: string }>;
  failing: boolean;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = { url: '', requests: [], failing: true, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      receiver.requests.push({ path: req.url ?? '', headers: req.headers, body });
      const send = (status: number, json: unknown) => {
        const text = JSON.stringify(json);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.url === '/fail') return receiver.failing ? send(500, { error: 'Empfänger kaputt' }) : send(200, {});
      return send(200, { note: 'Testantwort 4711' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  receiver.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return receiver;
}

const missing = chromiumMissing();
if (missing) {
  // CI installs Chromium (.ci/run): there a missing browser is a failure, not a silent skip.
  describe.skipIf(!process.env.CI)('settings pages of the web UI', () => {
    it('has a browser to test with', () => {
      throw new Error(missing);
    });
  });
} else {
  describe('settings pages of the web UI in a real browser', () => {
    let ui: UiApp;
    let receiver: Receiver;
    beforeAll(async () => {
      receiver = await startReceiver();
      ui = await startUiApp('sqlite');
    }, 120_000);
    afterAll(async () => {
      await ui?.close();
      await receiver?.close();
    });

    const accountIdOf = (page: Page) => Number(new URL(page.url()).pathname.split('/').pop());

    it('creates an account, switches webhooks on with a URL (stored), and the Test button shows the receiver\'s answer', async () => {
      const page = await ui.newPage();
      await ui.login(page);
      await page.getByRole('link', { name: 'Email accounts' }).click();
      await page.getByRole('link', { name: 'New account' }).click();
      await page.getByRole('heading', { name: 'New email account' }).waitFor();

      // A wrong address is refused by the server, with the field named.
      await page.getByLabel('Name', { exact: true }).fill('Kundenservice');
      await page.getByLabel('Address').fill('keine-adresse');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('address');
      expect(await page.locator('[data-field="address"] .error').textContent()).toContain('address: must match format');
      // A URL that is not http(s) is caught before it is sent, named as well.
      const hook = page.getByRole('group', { name: 'Webhook for new emails' });
      await hook.getByLabel('API call').check();
      await hook.getByLabel('URL').fill('ftp://example.com/');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('webhooks.newEmails.url');

      await page.getByLabel('Address').fill('kundenservice@stadtwerke.example');
      const webhooksSwitch = page.getByRole('switch', { name: 'Webhooks' });
      expect(await webhooksSwitch.isChecked()).toBe(false);
      await webhooksSwitch.check();
      await hook.getByLabel('URL').fill(`${receiver.url}/ok`);
      await hook.getByRole('button', { name: 'Add header' }).click();
      await hook.getByLabel('Header name 1').fill('X-Kennung');
      await hook.getByLabel('Header value 1').fill('eins');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.waitForURL(/\/settings\/email-accounts\/\d+$/);
      await expect.poll(() => page.getByRole('status').first().textContent()).toContain('Account created');
      const id = accountIdOf(page);

      // Stored as entered.
      const stored = (await ui.t.api('GET', `/api/v1/email-accounts/${id}`)).json();
      expect(stored).toMatchObject({ name: 'Kundenservice', address: 'kundenservice@stadtwerke.example', inbound: { type: 'smtp' }, outbound: null });
      expect(stored.webhooks).toEqual({
        enabled: true, ticketUpdates: null, timeoutMs: 10000, failurePolicy: 'notify', deliverLate: true, memo: { ticketUpdates: null, newEmails: null }, quarantine: { enabled: true, windowCalls: 20, failureRate: 0.5, p95Ms: null, coolDownSeconds: 60 }, versions: { newEmails: 1 },
        shadow: { ticketUpdates: null, newEmails: null },
        newEmails: { type: 'apiCall', url: `${receiver.url}/ok`, method: 'POST', headers: { 'X-Kennung': 'eins' } },
      });
      // The reloaded page shows it so.
      expect(await page.getByRole('switch', { name: 'Webhooks' }).isChecked()).toBe(true);
      expect(await hook.getByLabel('URL').inputValue()).toBe(`${receiver.url}/ok`);

      // Test: the receiver's answer on the page, with the HTTP status; signed and with the header.
      const before = receiver.requests.length;
      await hook.getByRole('button', { name: 'Test: Webhook for new emails' }).click();
      const result = hook.getByTestId('test-result');
      await expect.poll(() => result.textContent()).toContain('Testantwort 4711');
      const text = (await result.textContent())!;
      expect(text).toContain('Outcome: ok');
      expect(text).toContain('HTTP status: 200');
      expect(text).toMatch(/Duration: [\d.]+ ms/);
      const call = receiver.requests.slice(before).find((r) => r.path === '/ok')!;
      expect(call.headers['x-kennung']).toBe('eins');
      expect(call.headers['webhook-signature']).toMatch(/^v1,/);
      expect(JSON.parse(call.body)).toMatchObject({ hook: 'newEmails', direction: 'in', emailAccountId: id, ticketId: null });
      expect(await result.getByTestId('tested-which').textContent()).toBe('Tested: the saved settings.');
      // An unsaved change is what Test runs (as the ERP's Test does), and it says so; nothing is saved.
      await hook.getByLabel('URL').fill(`${receiver.url}/ungespeichert`);
      await expect.poll(() => hook.textContent()).toContain('Unsaved changes: Test runs the form as shown, before it is saved.');
      await hook.getByRole('button', { name: 'Test: Webhook for new emails' }).click();
      await expect.poll(() => hook.getByTestId('tested-which').textContent()).toBe('Tested: the form as shown (not saved yet).');
      expect(receiver.requests.at(-1)?.path).toBe('/ungespeichert');
      expect((await ui.t.api('GET', `/api/v1/email-accounts/${id}`)).json().webhooks.newEmails.url).toBe(`${receiver.url}/ok`);
      await hook.getByLabel('URL').fill(`${receiver.url}/ok`);
      // Beside the hook: its health (a test call is not counted).
      await expect.poll(() => hook.getByTestId('health-newEmails').textContent()).toContain('Healthy · no calls yet');
      // ticketUpdates has no executor: its Test says so.
      const other = page.getByRole('group', { name: 'Webhook for ticket updates' });
      await other.getByRole('button', { name: 'Test: Webhook for ticket updates' }).click();
      await expect.poll(() => other.getByTestId('test-result').textContent()).toContain('not_configured');

      // The test call is in the invocation log.
      const log = page.getByRole('table', { name: 'Invocation log' });
      await expect.poll(() => log.textContent()).toContain('test');
      expect(await log.textContent()).toContain('newEmails');

      // The signing secret: masked until revealed, then the account's secret.
      const secretBox = page.getByLabel('Signing secret (masked until revealed)');
      expect(await secretBox.inputValue()).toMatch(/^whsec_•+$/);
      await page.getByRole('button', { name: 'Reveal' }).click();
      const secret = (await ui.t.api('GET', `/api/v1/email-accounts/${id}/webhooks/signing-secret`)).json().signingSecret;
      await expect.poll(() => secretBox.inputValue()).toBe(secret);
      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Rotate' }).click();
      await expect.poll(() => page.getByText('the previous one stays valid until').count()).toBe(1);
      const rotated = (await ui.t.api('GET', `/api/v1/email-accounts/${id}/webhooks/signing-secret`)).json();
      expect(rotated.previousSigningSecret).toBe(secret);
      expect(await secretBox.inputValue()).toBe(rotated.signingSecret);

      // The list shows the account with its switch.
      await page.getByRole('link', { name: '← All email accounts' }).click();
      const row = page.getByRole('row', { name: /Kundenservice/ });
      await expect.poll(() => row.textContent()).toContain('kundenservice@stadtwerke.example');
      expect(await row.textContent()).toMatch(/On.*new emails/);

      // German.
      await page.getByRole('link', { name: 'Kundenservice' }).click();
      await page.getByLabel('Interface language').selectOption('de');
      await page.getByRole('group', { name: 'Webhook für neue E-Mails' }).waitFor();
      await page.getByLabel('Sprache').selectOption('en');
      expect(ui.consoleErrors).toEqual([]);
    }, 60_000);

    it('a hook naming a secret that is not set is refused on save, and the secret is created right there', async () => {
      const page = await ui.newPage();
      await ui.login(page);
      await page.goto(`${ui.baseUrl}/settings/email-accounts/new`);
      await page.getByRole('heading', { name: 'New email account' }).waitFor();
      await page.getByLabel('Name', { exact: true }).fill('Abrechnung');
      await page.getByLabel('Address').fill('abrechnung@stadtwerke.example');
      const hook = page.getByRole('group', { name: 'Webhook for new emails' });
      await hook.getByLabel('API call').check();
      await hook.getByLabel('URL').fill(`${receiver.url}/ok`);
      await hook.getByRole('button', { name: 'Add header' }).click();
      await hook.getByLabel('Header name 1').fill('Authorization');
      await hook.getByLabel('Header value 1').fill('Bearer {{secret.BILLING_HOOK_TOKEN}}');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await expect.poll(() => hook.textContent()).toContain('refers to secret BILLING_HOOK_TOKEN, which is not set');
      await hook.getByLabel('Value of BILLING_HOOK_TOKEN').fill('token-4711');
      await hook.getByRole('button', { name: 'Create secret' }).click();
      await expect.poll(() => hook.textContent()).toContain('Secret BILLING_HOOK_TOKEN created. Save again.');
      // The form kept its edits: saving again now works.
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.waitForURL(/\/settings\/email-accounts\/\d+$/);
      const stored = (await ui.t.api('GET', `/api/v1/email-accounts/${accountIdOf(page)}`)).json();
      expect(stored.webhooks.newEmails.headers).toEqual({ Authorization: 'Bearer {{secret.BILLING_HOOK_TOKEN}}' });
      expect((await ui.t.api('GET', '/api/v1/secrets')).json().items.map((i: { key: string }) => i.key)).toContain('BILLING_HOOK_TOKEN');
      expect(ui.consoleErrors).toEqual([]);
      await ui.t.api('DELETE', '/api/v1/secrets/BILLING_HOOK_TOKEN'); // the Secrets page test expects its own keys only
    }, 60_000);

    it('a failing newEmails webhook on inbound mail raises a notification in the bell; the log runs it again', async () => {
      const created = await ui.t.api('POST', '/api/v1/email-accounts', { name: 'Störungen', address: 'stoerung@stadtwerke.example', inbound: { type: 'smtp' }, webhooks: { enabled: true } });
      expect(created.statusCode).toBe(201);
      const id = created.json().id as number;

      const page = await ui.newPage();
      await ui.login(page);
      await page.getByRole('link', { name: 'Email accounts' }).click();
      await page.getByRole('link', { name: 'Störungen' }).click();
      await page.getByRole('heading', { name: 'Email account: Störungen' }).waitFor();
      const hook = page.getByRole('group', { name: 'Webhook for new emails' });
      await hook.getByLabel('API call').check();
      await hook.getByLabel('URL').fill(`${receiver.url}/fail`);
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await expect.poll(() => page.getByRole('status').first().textContent()).toContain('Saved.');
      expect((await ui.t.api('GET', `/api/v1/email-accounts/${id}`)).json().webhooks).toMatchObject({ enabled: true, newEmails: { type: 'apiCall', url: `${receiver.url}/fail` } });

      const unreadBefore = (await ui.t.api('GET', '/api/v1/notifications')).json().unread as number;
      await page.getByRole('button', { name: `Notifications (${unreadBefore} unread)` }).waitFor();

      // An email arrives; the hook answers 500.
      const raw = [
        'From: Erika Mustermann <erika.mustermann@example.org>', 'To: stoerung@stadtwerke.example', 'Subject: Zähler defekt',
        `Message-ID: <${Date.now()}.zaehler@example.org>`, 'Content-Type: text/plain; charset=utf-8', '', 'Mein Zähler zeigt nichts mehr an.',
      ].join('\r\n');
      await acceptInbound(ui.t.deps, { emailAccountId: id, source: 'smtp', sourceKey: null, envelopeFrom: 'erika.mustermann@example.org', envelopeTo: ['stoerung@stadtwerke.example'], raw: Buffer.from(raw) });
      const [ingested] = await processPendingInbound(ui.t.deps);
      const ticketId = ingested!.ticketId;
      expect(receiver.requests.some((r) => r.path === '/fail')).toBe(true);

      // The bell (it polls every 5 s) counts it; its popover says what failed.
      await expect.poll(() => page.getByTestId('unread-count').textContent(), { timeout: 15_000 }).toBe(String(unreadBefore + 1));
      await page.getByRole('button', { name: `Notifications (${unreadBefore + 1} unread)` }).click();
      const popover = page.getByRole('dialog', { name: /Notifications/ });
      await expect.poll(() => popover.textContent()).toContain('webhook for new emails failed');
      const popoverText = (await popover.textContent())!;
      expect(popoverText).toContain(`${receiver.url}/fail answered 500`);
      expect(popoverText).toContain(`(ticket ${ticketId})`);
      await page.getByRole('button', { name: /Notifications/ }).first().click();

      // The invocation log lists the failure; filtered to failures of this ticket it offers "Run again".
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.getByRole('combobox', { name: /^Outcome/ }).selectOption('failed');
      await page.getByLabel('Ticket number').fill(String(ticketId));
      const log = page.getByRole('table', { name: 'Invocation log' });
      await expect.poll(() => log.textContent()).toContain('inboundEmail');
      expect(await log.textContent()).toContain('http_status');
      expect(await log.getByRole('link', { name: `#${ticketId}` }).count()).toBe(1);
      await log.getByRole('button', { name: 'Details' }).first().click();
      await expect.poll(() => log.textContent()).toContain('Zähler defekt');

      receiver.failing = false;
      await log.getByRole('button', { name: 'Run again' }).click();
      await expect.poll(() => page.getByRole('status').filter({ hasText: 'Ran again' }).textContent()).toContain('Ran again: ok');
      const invocations = (await ui.t.api('GET', `/api/v1/email-accounts/${id}/invocations?ticketId=${ticketId}`)).json().items;
      expect(invocations.map((i: { trigger: string; outcome: string }) => `${i.trigger}:${i.outcome}`)).toEqual(['retry:ok', 'inboundEmail:failed']);
      expect(ui.consoleErrors).toEqual([]);
    }, 60_000);

    it('sets a secret and shows only its key; deletes it', async () => {
      const page = await ui.newPage();
      await ui.login(page);
      await page.getByRole('link', { name: 'Secrets' }).click();
      await page.getByRole('heading', { name: 'Set a secret' }).waitFor();

      await page.getByLabel(/^Key/).fill('kein gültiger schlüssel');
      await page.getByLabel(/^Value/).fill('x');
      await page.getByRole('button', { name: 'Save secret' }).click();
      await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('key');

      await page.getByLabel(/^Key/).fill('HOOK_TOKEN');
      await page.getByLabel(/^Value/).fill('streng-geheim-0815');
      expect(await page.getByLabel(/^Value/).getAttribute('type')).toBe('password');
      await page.getByRole('button', { name: 'Save secret' }).click();
      const table = page.getByRole('table', { name: 'Stored secrets' });
      await expect.poll(() => table.textContent()).toContain('HOOK_TOKEN');
      expect(await page.getByRole('status').textContent()).toContain('Secret HOOK_TOKEN saved');
      expect(await page.getByLabel(/^Value/).inputValue()).toBe('');
      expect(await page.content()).not.toContain('streng-geheim-0815');

      const listed = (await ui.t.api('GET', '/api/v1/secrets')).json();
      expect(listed.items.map((s: { key: string }) => s.key)).toEqual(['HOOK_TOKEN']);
      const sealed = await ui.t.deps.store.secrets.getSealed('HOOK_TOKEN');
      expect(ui.t.deps.secretBox.open(sealed!)).toBe('streng-geheim-0815');

      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Delete HOOK_TOKEN' }).click();
      await expect.poll(() => page.getByText('No secrets yet.').count()).toBe(1);
      expect((await ui.t.api('GET', '/api/v1/secrets')).json().items).toEqual([]);
      expect(ui.consoleErrors).toEqual([]);
    }, 60_000);

    it('creates an agent and an API key for them (shown once, works, revocable); changes the role and disables', async () => {
      const page = await ui.newPage();
      await ui.login(page);
      await page.getByRole('link', { name: 'Users and API keys' }).click();
      const form = page.getByRole('form', { name: 'New user' });
      await form.waitFor();

      // A password that is too short is refused with the field named.
      await form.getByLabel('Name', { exact: true }).fill('Bea Beispiel');
      await form.getByLabel('E-mail').fill('bea@example.com');
      await form.getByLabel('Role').selectOption('agent');
      await form.getByLabel(/^Password/).fill('kurz');
      await form.getByRole('button', { name: 'Create user' }).click();
      await expect.poll(() => form.getByRole('alert').textContent()).toContain('password');

      // A long but common password is refused with the reason.
      await form.getByLabel(/^Password/).fill('password1234');
      await form.getByRole('button', { name: 'Create user' }).click();
      await expect.poll(() => form.getByRole('alert').textContent()).toContain('commonly used password');

      await form.getByLabel(/^Password/).fill('ein sehr langes Passwort');
      await form.getByRole('button', { name: 'Create user' }).click();
      const users = page.getByRole('table', { name: 'Users' });
      await expect.poll(() => users.textContent()).toContain('bea@example.com');
      const bea = (await ui.t.api('GET', '/api/v1/users')).json().items.find((u: { email: string }) => u.email === 'bea@example.com');
      expect(bea).toMatchObject({ name: 'Bea Beispiel', role: 'agent', service: false, disabled: false });
      expect((await ui.t.api('POST', '/api/v1/auth/login', { email: 'bea@example.com', password: 'ein sehr langes Passwort' }, null)).statusCode).toBe(200);

      // A service user: no password field.
      await form.getByLabel('Name', { exact: true }).fill('ERP Sync');
      await form.getByLabel('E-mail').fill('erp-sync@example.com');
      await form.getByLabel(/^Service user/).check();
      expect(await form.getByLabel(/^Password/).count()).toBe(0);
      await form.getByRole('button', { name: 'Create user' }).click();
      await expect.poll(() => users.textContent()).toContain('erp-sync@example.com');
      expect(await page.getByRole('row', { name: /ERP Sync/ }).textContent()).toContain('service user');

      // An API key for Bea: shown once with the copy hint, and it works.
      const keyForm = page.getByRole('form', { name: 'New API key', exact: true });
      await keyForm.getByLabel('Key owner').selectOption({ label: 'Bea Beispiel (bea@example.com)' });
      await keyForm.getByLabel(/^Key name/).fill('Auswertung');
      // A read-only key that expires: an agent's key offers no admin scope.
      expect(await keyForm.getByLabel(/^Scope/).locator('option', { hasText: 'admin' }).count()).toBe(0);
      await keyForm.getByLabel(/^Scope/).selectOption({ label: 'read only' });
      await keyForm.getByLabel(/^Expires/).fill('2027-01-31');
      await keyForm.getByRole('button', { name: 'Create API key' }).click();
      const shown = page.getByRole('textbox', { name: 'New API key (shown once)' });
      await shown.waitFor();
      const key = await shown.inputValue();
      expect(key).toMatch(/^dhk_/);
      expect(await page.getByText('it is shown only this once').count()).toBe(1);
      const me = await ui.t.api('GET', '/api/v1/auth/me', undefined, key);
      expect(me.statusCode).toBe(200);
      expect(JSON.stringify(me.json())).toContain('bea@example.com');
      const keys = page.getByRole('table', { name: 'API keys' });
      await expect.poll(() => keys.textContent()).toContain('Auswertung');
      expect(await keys.textContent()).toContain('Bea Beispiel');
      expect(await keys.getByRole('row', { name: /Auswertung/ }).textContent()).toContain('read only');
      const listedKey = (await ui.t.api('GET', '/api/v1/api-keys')).json().items[0];
      expect(listedKey).toMatchObject({ scope: 'read', expiresAt: expect.stringMatching(/^2027-0(?:1-31|2-01)T/) });
      expect((await ui.t.api('POST', '/api/v1/auth/logout', undefined, key)).statusCode).toBe(403);
      await page.getByRole('button', { name: 'Done, I have copied it' }).click();
      expect(await page.content()).not.toContain(key);

      // Revoke: the key stops working.
      page.once('dialog', (d) => void d.accept());
      await keys.getByRole('button', { name: 'Revoke Auswertung' }).click();
      await expect.poll(() => page.getByText('No API keys.').count()).toBe(1);
      expect((await ui.t.api('GET', '/api/v1/auth/me', undefined, key)).statusCode).toBe(401);

      // Role and disabling.
      await page.getByLabel('Role of Bea Beispiel').selectOption('admin');
      await expect.poll(async () => (await ui.t.api('GET', `/api/v1/users/${bea.id}`)).json().role).toBe('admin');
      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Disable Bea Beispiel' }).click();
      await expect.poll(async () => (await ui.t.api('GET', `/api/v1/users/${bea.id}`)).json().disabled).toBe(true);
      await page.getByRole('button', { name: 'Enable Bea Beispiel' }).waitFor();
      expect(ui.consoleErrors).toEqual([]);
    }, 60_000);
  });
}
