/**
 * `npm run screenshots`: regenerates the pictures of docs/ui.md in docs/screenshots/.
 *
 * Starts the demo (`deskhook demo`, src/main/demo.ts) in this process on free ports with a
 * temporary data directory, waits until its sample emails have become tickets (webhooks answered,
 * customers recognised, events delivered), then drives Debian's Chromium (/usr/bin/chromium, or
 * DESKHOOK_CHROMIUM) with playwright-core at 1280×800 through the main pages, logged in as the
 * demo admin. Every step waits for a specific text, never for a fixed time. Everything it started
 * is stopped at the end, and the temporary directory is deleted. A web/dist older than web/src is
 * built again first, so the pictures show the UI as it is. The bell and the attachment clip are
 * emoji: install an emoji font (Debian: fonts-noto-color-emoji) or they show as empty boxes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { DEMO_ADMIN, DEMO_ACCOUNT_ADDRESS, runDemo, type RunningDemo } from '../src/main/demo.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'docs', 'screenshots');
const CHROMIUM = process.env.DESKHOOK_CHROMIUM ?? '/usr/bin/chromium';
const VIEWPORT = { width: 1280, height: 800 };
/** Generous: the first page load compiles nothing, but the machine may be busy. */
const STEP_TIMEOUT_MS = 30_000;

const log = (line: string) => void process.stdout.write(`screenshots: ${line}\n`);

// ---------------------------------------------------------------------------------------------
// The demo, and waiting until it has settled
// ---------------------------------------------------------------------------------------------

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

async function apiClient(base: string): Promise<Api> {
  let token = '';
  const call: Api = async (method, path, body) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} /api/v1${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  };
  token = (await call('POST', '/auth/login', { email: DEMO_ADMIN.email, password: DEMO_ADMIN.password })).token;
  return call;
}

/** Polls `probe` until it returns something truthy; throws with `what` after timeoutMs. */
async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

/** The state every picture relies on: the sample tickets recognised and patched, hooks and events done. */
async function waitForDemoData(api: Api): Promise<void> {
  const account = await until('the demo email account', async () =>
    ((await api('GET', '/email-accounts')).items as Array<{ id: number; address: string }>).find((a) => a.address === DEMO_ACCOUNT_ADDRESS));
  await until('five tickets, recognised, the "Störung" one patched by the webhook', async () => {
    const items = (await api('GET', '/tickets?limit=50')).items as Array<{ subject: string; legitimationLevel: number; priority: string; tags: string[] }>;
    const bySubject = (s: string) => items.find((t) => t.subject.startsWith(s));
    return items.length >= 5
      && (bySubject('Zählerstand')?.legitimationLevel ?? 0) >= 20
      && bySubject('Störung')?.priority === 'high' && bySubject('Störung')!.tags.includes('demo');
  });
  await until('the newEmails webhook invocations of the five sample emails', async () =>
    (await api('GET', `/email-accounts/${account.id}/invocations?hook=newEmails&limit=50`)).items.length >= 5);
  const hook = await until('the demo event hook', async () => (await api('GET', '/event-hooks')).items[0] as { id: number } | undefined);
  await until('every event delivered to the demo receiver', async () => {
    const pending = (await api('GET', `/event-hooks/${hook.id}/deliveries?status=pending`)).items.length;
    const succeeded = (await api('GET', `/event-hooks/${hook.id}/deliveries?status=succeeded&limit=50`)).items.length;
    return pending === 0 && succeeded >= 5;
  });
}

// ---------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------

function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The flags of test/support/browser.ts: without them Chromium keeps trying to reach Google's services.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--hide-scrollbars'],
  });
}

const written: string[] = [];

/** Saves a PNG of the viewport (or the whole page, or a clip) as docs/screenshots/<name>.png. */
async function shot(page: Page, name: string, options: { fullPage?: boolean; clip?: { x: number; y: number; width: number; height: number } } = {}): Promise<void> {
  const path = join(OUT, `${name}.png`);
  // Nothing focused: no focus ring or caret in the picture. (The page's globals are reached through
  // an element: this script is type-checked without the DOM's types.)
  await page.locator('body').evaluate((body) => body.ownerDocument.activeElement?.blur());
  await page.screenshot({ path, animations: 'disabled', caret: 'hide', ...options });
  written.push(path);
  log(`${name}.png (${Math.round(statSync(path).size / 1024)} KB)`);
}

/** Scrolls so that `target` is at the top of the window, `offset` pixels below its edge. */
async function scrollToTop(target: Locator, offset = 8): Promise<void> {
  await target.evaluate((el, off) => {
    el.scrollIntoView({ block: 'start' });
    el.ownerDocument.defaultView?.scrollBy(0, -off);
  }, offset);
}

async function pictures(page: Page, base: string): Promise<void> {
  const nav = (name: string) => page.getByRole('navigation').getByRole('link', { name, exact: true });

  // Log in through the form, as a person does.
  await page.goto(`${base}/`);
  await page.getByLabel('E-mail').fill(DEMO_ADMIN.email);
  await page.getByLabel('Password').fill(DEMO_ADMIN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation').waitFor();

  // 1. The inbox with the five sample tickets.
  await page.getByRole('heading', { name: 'Inbox', level: 1 }).waitFor();
  for (const subject of ['Zählerstand Strom', 'Frage zur Ratenzahlung', 'Störung: kein Strom in der Backstube', 'Moving out', 'Was kostet Ökostrom']) {
    await page.getByRole('link', { name: subject }).waitFor();
  }
  await page.getByRole('combobox', { name: 'Email account' }).getByRole('option', { name: /Stadtwerke Demo/ }).waitFor({ state: 'attached' });
  await shot(page, 'inbox');

  // 2. The customer search at the top right: "mueller" finds Anna and Max Müller.
  const search = page.getByRole('searchbox', { name: 'Search customers' });
  await search.fill('mueller');
  const results = page.getByRole('list', { name: 'Search customers' });
  await results.getByRole('button', { name: /Anna Müller/ }).waitFor();
  await results.getByRole('button', { name: /Max Müller/ }).waitFor();
  // The top right corner of the window, down to just below the results.
  const box = (await results.boundingBox())!;
  const left = Math.max(0, Math.floor(box.x) - 24);
  await shot(page, 'search', { clip: { x: left, y: 0, width: VIEWPORT.width - left, height: Math.ceil(box.y + box.height) + 24 } });

  // 3. The customer page, reached through the search bar.
  await search.fill('mustermann');
  await results.getByRole('button', { name: /Erika Mustermann/ }).click();
  await page.getByRole('heading', { name: 'Erika Mustermann', level: 1 }).waitFor();
  await page.getByRole('article', { name: 'Contract V-410001' }).getByText('Strom: Strom Basis 2026').waitFor();
  await page.getByRole('article', { name: 'Contract V-410002' }).getByText('Gas: Gas Komfort').waitFor();
  await page.getByRole('main').getByRole('link', { name: 'Zählerstand Strom' }).waitFor();
  await shot(page, 'customer', { fullPage: true });

  // 4. A ticket: the "Störung" one, patched by the demo webhook, with the green customer panel; an
  //    attempt to close it, which the webhook refuses; the activity log with the invocations.
  await nav('Inbox').click();
  await page.getByRole('link', { name: 'Störung: kein Strom in der Backstube' }).click();
  await page.getByRole('heading', { name: /Störung: kein Strom in der Backstube/, level: 1 }).waitFor();
  const panel = page.getByTestId('customer-panel');
  await panel.getByRole('heading', { name: /Bäckerei Sonnenschein GmbH/ }).waitFor();
  await panel.getByText('legitimised', { exact: true }).waitFor();
  await panel.getByText('Gewerbe Strom Plus').waitFor();
  await page.getByRole('article', { name: /^Internal note/ }).getByText(/Störungsmeldung erkannt/).waitFor();
  const activity = page.getByRole('region', { name: 'Activity' });
  await activity.getByText('ERP calls').waitFor();
  const properties = page.getByRole('form', { name: 'Properties' });
  await properties.getByLabel('Status').selectOption('closed');
  await properties.getByRole('button', { name: 'Save' }).click();
  await properties.getByRole('alert').getByText(/behoben/).waitFor();
  await page.getByRole('button', { name: 'Refresh' }).click();
  await activity.getByText(/eine Störung wird erst geschlossen/).waitFor();
  await shot(page, 'ticket', { fullPage: true });

  // 5. Settings → Email accounts → the demo account: the webhooks, one tested, and the invocation log.
  await nav('Email accounts').click();
  await page.getByRole('link', { name: 'Stadtwerke Demo Kundenservice' }).click();
  await page.getByRole('heading', { name: 'Email account: Stadtwerke Demo Kundenservice', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Test: Webhook for ticket updates' }).click();
  await page.getByTestId('test-result').getByText('Outcome: ok').waitFor();
  const log = page.getByRole('table', { name: 'Invocation log' });
  await log.getByRole('cell', { name: 'test', exact: true }).first().waitFor();
  await scrollToTop(page.getByRole('heading', { name: 'Synchronous webhooks' }));
  await shot(page, 'email-account-webhooks');
  await log.getByRole('row').filter({ hasText: 'aborted' }).getByRole('link', { name: '#3' }).waitFor();
  await scrollToTop(page.getByRole('heading', { name: 'Invocation log' }));
  await shot(page, 'email-account-invocations');

  // 6. Settings → ERP Integration: the stored adapter in the code editor of contractById, a test run.
  await nav('ERP Integration').click();
  await page.getByRole('heading', { name: 'ERP Integration', level: 1 }).waitFor();
  const op = page.getByRole('region', { name: 'contractById', exact: true });
  const editor = op.locator('.cm-content');
  await editor.waitFor();
  await until('the adapter in the editor', async () => ((await editor.textContent()) ?? '').includes('ERP_BASE_URL'), STEP_TIMEOUT_MS);
  await op.getByLabel('Test input (JSON)').fill('{\n  "contractId": "V-410001"\n}');
  await op.getByRole('button', { name: 'Run', exact: true }).click();
  await op.getByText(/Succeeded in \d+ ms/).waitFor();
  await until('the test run\'s output', async () => ((await op.getByLabel('Output: contractById').textContent()) ?? '').includes('"lastname": "Mustermann"'), STEP_TIMEOUT_MS);
  await scrollToTop(page.getByRole('heading', { name: 'Operations', level: 2 }));
  await shot(page, 'erp-editor');
  await scrollToTop(op.getByRole('region', { name: 'Test: contractById' }), 120);
  await shot(page, 'erp-test');
  const stats = page.getByRole('region', { name: 'Cache statistics of this process' });
  await stats.getByRole('row', { name: /^Local contracts/ }).getByText('10').waitFor();
  await scrollToTop(page.getByRole('heading', { name: 'Cache and time limit' }));
  await shot(page, 'erp-cache-recognition');

  // 7. Settings → Events: the demo hook and its deliveries, one opened to its attempts.
  await nav('Events').click();
  await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
  await page.getByRole('link', { name: 'Demo receiver' }).click();
  await page.getByRole('heading', { name: 'Event hook “Demo receiver”' }).waitFor();
  const deliveries = page.getByRole('region', { name: 'Deliveries' });
  const first = deliveries.getByRole('row').filter({ hasText: 'TicketCreated' }).first();
  await first.getByText('succeeded').waitFor();
  await first.getByRole('button', { name: /^Show attempts of delivery/ }).click();
  await deliveries.getByRole('table', { name: 'Attempts' }).getByRole('cell', { name: '200', exact: true }).waitFor();
  await scrollToTop(deliveries, 60);
  await shot(page, 'events');

  // 8. The same inbox in German, switched with the language menu.
  await page.locator('body').evaluate((body) => body.ownerDocument.defaultView?.scrollTo(0, 0));
  await page.getByRole('banner').getByRole('combobox').selectOption('de');
  await nav('Posteingang').click();
  await page.getByRole('heading', { name: 'Posteingang', level: 1 }).waitFor();
  await page.getByRole('columnheader', { name: 'Letzte Nachricht' }).waitFor();
  await page.getByRole('link', { name: 'Zählerstand Strom' }).waitFor();
  await shot(page, 'inbox-de');
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

/** The newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** Pictures of an old build would be wrong: builds web/dist again when web/src is newer than it. */
function ensureFreshBuild(): void {
  const index = join(ROOT, 'web', 'dist', 'index.html');
  const sources = Math.max(newest(join(ROOT, 'web', 'src')), statSync(join(ROOT, 'src', 'adapters', 'sandbox', 'ctx.d.ts')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  log('web/dist is missing or older than web/src: building the web UI …');
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building the web UI failed (npm run build)');
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Chromium (apt-get install -y --no-install-recommends chromium) or set DESKHOOK_CHROMIUM`);
  ensureFreshBuild();
  mkdirSync(OUT, { recursive: true });

  const temp = mkdtempSync(join(tmpdir(), 'deskhook-screenshots-'));
  const demoLines: string[] = [];
  let demo: RunningDemo | null = null;
  let browser: Browser | null = null;
  const pageErrors: string[] = [];
  try {
    log('starting the demo …');
    demo = await runDemo({ dataDir: join(temp, 'data-demo'), port: 0, smtpPort: 0, say: (line) => demoLines.push(line) });
    log(`demo at ${demo.url}; waiting until the sample emails are processed …`);
    await waitForDemoData(await apiClient(demo.url));

    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, locale: 'en-GB', timezoneId: 'Europe/Berlin', colorScheme: 'light' });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    // 4xx answers the UI asked for and shows (the webhook's refusal) are not errors of the page.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/the server responded with a status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
    });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    await pictures(page, demo.url);
  } catch (err) {
    if (demoLines.length) process.stderr.write(`${demoLines.join('\n')}\n`);
    throw err;
  } finally {
    await browser?.close().catch(() => undefined);
    await demo?.stop().catch((err: unknown) => log(`stopping the demo: ${String(err)}`));
    rmSync(temp, { recursive: true, force: true });
  }
  if (pageErrors.length) log(`the pages logged errors:\n  ${pageErrors.join('\n  ')}`);
  log(`${written.length} pictures in ${OUT}`);
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`screenshots: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
