import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import type { DialectKind } from '../../src/adapters/db/dialect.ts';
import { REPO_ROOT } from './process.ts';
import { PASSWORD, startTestApp, type TestApp } from './test-app.ts';

/** Debian's Chromium (`apt-get install chromium`), driven by playwright-core. */
export const CHROMIUM = process.env.DESKHOOK_CHROMIUM ?? '/usr/bin/chromium';
export const WEB_ROOT = `${REPO_ROOT}web/dist`;

/** Why the browser tests cannot run here, or null. CI installs Chromium, so there it is a failure. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} not found: browser tests skipped (install with: apt-get install -y --no-install-recommends chromium)`;
}

/** Builds the web UI once when web/dist is missing (as `npm start` does). */
export function ensureWebBuild(): void {
  if (existsSync(`${WEB_ROOT}/index.html`)) return;
  const r = spawnSync(process.execPath, [`${REPO_ROOT}node_modules/vite/bin/vite.js`, 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building the web UI failed');
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The machine has no network: without these Chromium keeps trying to reach Google's services.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export interface UiApp {
  t: TestApp;
  baseUrl: string;
  browser: Browser;
  /** A new page at 1280×800, collecting console errors (tests assert there are none). */
  newPage(lang?: 'en' | 'de'): Promise<Page>;
  consoleErrors: string[];
  /** Logs in through the login form as the test admin (or agent). */
  login(page: Page, who?: 'admin' | 'agent'): Promise<void>;
  close(): Promise<void>;
}

/** The real HTTP server with the built UI on a free port, and a browser. */
export async function startUiApp(kind: DialectKind): Promise<UiApp> {
  ensureWebBuild();
  const t = await startTestApp(kind, { webRoot: WEB_ROOT });
  await t.http.listen({ port: 0, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${(t.http.server.address() as { port: number }).port}`;
  const browser = await launchBrowser();
  const consoleErrors: string[] = [];
  const pages: Page[] = [];
  return {
    t, baseUrl, browser, consoleErrors,
    async newPage(lang = 'en') {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: lang === 'de' ? 'de-DE' : 'en-GB' });
      const page = await context.newPage();
      // A 4xx the UI asked for and shows (a wrong password, a webhook's refusal) is not an error of
      // the page; Chromium still logs each such response. Everything else counts, 5xx included.
      page.on('console', (m: ConsoleMessage) => {
        if (m.type() === 'error' && !/the server responded with a status of 4\d\d/.test(m.text())) consoleErrors.push(m.text());
      });
      page.on('pageerror', (err) => consoleErrors.push(String(err)));
      pages.push(page);
      return page;
    },
    async login(page, who = 'admin') {
      await page.goto(baseUrl + '/');
      await page.getByLabel(/E-mail|E-Mail/).fill(who === 'admin' ? 'admin@example.com' : 'agent@example.com');
      await page.getByLabel(/Password|Passwort/).fill(PASSWORD);
      await page.getByRole('button', { name: /Log in|Anmelden/ }).click();
      await page.getByRole('navigation').waitFor();
    },
    async close() {
      await browser.close();
      await t.close();
    },
  };
}
