import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, startUiApp, type UiApp } from './support/browser.ts';

const missing = chromiumMissing();
if (missing) {
  // CI installs Chromium (.ci/run): there a missing browser is a failure, not a silent skip.
  describe.skipIf(!process.env.CI)('web UI', () => {
    it('has a browser to test with', () => {
      throw new Error(missing);
    });
  });
} else {
  describe('web UI in a real browser', () => {
    let ui: UiApp;
    beforeAll(async () => { ui = await startUiApp('sqlite'); }, 120_000);
    afterAll(async () => { await ui?.close(); });

    it('logs in and shows the layout: navigation, the customer search at the top right, the bell', async () => {
      const page = await ui.newPage();
      await page.goto(ui.baseUrl + '/');
      await page.getByLabel('Password').fill('wrong password!');
      await page.getByLabel('E-mail').fill('admin@example.com');
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('invalid_credentials');
      await ui.login(page);
      await expect.poll(() => page.getByRole('search').isVisible()).toBe(true);
      expect(await page.getByRole('link', { name: 'Email accounts' }).isVisible()).toBe(true);
      // A deep link works (the server answers every page path with the app).
      await page.goto(ui.baseUrl + '/settings/erp');
      await page.getByRole('navigation').waitFor();
      // Switching to German.
      await page.getByLabel('Interface language').selectOption('de');
      expect(await page.getByRole('link', { name: 'E-Mail-Konten' }).isVisible()).toBe(true);
      // Security headers: a strict policy on the app's pages, no sniffing or framing anywhere.
      const pageRes = await page.request.get(ui.baseUrl + '/tickets');
      expect(pageRes.headers()['content-security-policy']).toContain("script-src 'self'");
      expect(pageRes.headers()['x-frame-options']).toBe('DENY');
      const apiRes = await page.request.get(ui.baseUrl + '/api/v1/auth/me');
      expect(apiRes.status()).toBe(401);
      expect(apiRes.headers()['x-content-type-options']).toBe('nosniff');
      // The API's 404 stays JSON.
      const res = await page.request.get(ui.baseUrl + '/api/v1/nope');
      expect(res.status()).toBe(404);
      expect((await res.json()).code).toBe('route_not_found');
      expect(ui.consoleErrors).toEqual([]);
    });
  });
}
