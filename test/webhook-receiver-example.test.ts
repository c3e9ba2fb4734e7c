import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptInbound } from '../src/app/mail/accept-inbound.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { freePort } from './support/process.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/**
 * docs/examples/webhook-receiver.mjs, the receiver docs/webhooks.md tells teams to deploy, run as
 * its own process and driven through the real product: HTTP API, executor runner with signing,
 * egress guard, answer schema and failure policies. SQLite only: what is under test is the
 * receiver and the product's use of it; the hooks' storage is covered on every backend by
 * webhooks.test.ts.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RECEIVER = fileURLToPath(new URL('../docs/examples/webhook-receiver.mjs', import.meta.url));
const IBAN = 'DE89 3704 0044 0532 0130 00';

interface Receiver {
  url: string;
  /** stdout lines: the start line, then one per request. */
  lines: string[];
  stop(): Promise<void>;
}

/** `node docs/examples/webhook-receiver.mjs` with only what its documentation says it needs. */
async function startReceiver(port: number, secret: string): Promise<Receiver> {
  const child: ChildProcess = spawn(process.execPath, [RECEIVER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), DESKHOOK_WEBHOOK_SECRET: secret },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the receiver did not start within 10 s: ${stderr}`)), 10_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the receiver exited with ${code}: ${stderr}`));
    });
  });
  expect(lines[0]).toBe(`deskhook webhook receiver listening on http://127.0.0.1:${port}/`);
  return {
    url: `http://127.0.0.1:${port}/`,
    lines,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits for the receiver's log line of an invocation (the line is written after the answer). */
async function logLine(receiver: Receiver, needle: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const line = receiver.lines.find((l) => l.includes(needle));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no log line with ${needle}; got:\n${receiver.lines.join('\n')}`);
}

describe('docs/examples/webhook-receiver.mjs driven by deskhook (sqlite)', () => {
  let t: TestApp;
  let receiver: Receiver;
  let impostor: Receiver;
  let accountId: number;
  let wrongAccountId: number;
  let secret: string;

  const hooksTo = (url: string) => ({
    enabled: true, ticketUpdates: { type: 'apiCall', url }, newEmails: { type: 'apiCall', url }, timeoutMs: 5000, failurePolicy: 'notify',
  });
  const newTicket = async (account: number, extra: Record<string, unknown> = {}) => {
    const res = await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag anpassen', from: 'erika.mustermann@example.com', emailAccountId: account, ...extra }, t.agentToken);
    expect(res.statusCode).toBe(201);
    return res.json() as { id: number };
  };
  const patchTicket = (id: number, body: unknown) => t.api('PATCH', `/api/v1/tickets/${id}`, body, t.agentToken);
  const write = (id: number, direction: 'out' | 'internal', body: string) => t.api('POST', `/api/v1/tickets/${id}/conversations`, { direction, body }, t.agentToken);
  const invocations = async (account: number, query: string) => (await t.api('GET', `/api/v1/email-accounts/${account}/invocations?${query}`)).json().items;

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    const port = await freePort();
    const wrongPort = await freePort();
    const created = await t.api('POST', '/api/v1/email-accounts', {
      name: 'Kundenservice', address: 'kundenservice@stadtwerke.example', inbound: { type: 'smtp' }, webhooks: hooksTo(`http://127.0.0.1:${port}/`),
    });
    expect(created.statusCode).toBe(201);
    accountId = created.json().id;
    secret = (await t.api('GET', `/api/v1/email-accounts/${accountId}/webhooks/signing-secret`)).json().signingSecret;
    expect(secret).toMatch(/^whsec_/);
    receiver = await startReceiver(port!, secret);

    // A second account whose receiver was deployed with a secret that is not the account's.
    wrongAccountId = (await t.api('POST', '/api/v1/email-accounts', {
      name: 'Zweites Postfach', address: 'zweites@stadtwerke.example', inbound: { type: 'smtp' }, webhooks: hooksTo(`http://127.0.0.1:${wrongPort}/`),
    })).json().id;
    impostor = await startReceiver(wrongPort!, `whsec_${randomBytes(32).toString('base64')}`);
  });

  afterAll(async () => {
    await Promise.all([receiver?.stop(), impostor?.stop()]);
    await t?.close();
  });

  it('refuses to close a ticket whose contract is still open, with the receiver\'s message', async () => {
    const ticket = await newTicket(accountId, { tags: ['open-contract'], contractId: 'V-100234' });
    const res = await patchTicket(ticket.id, { status: 'closed' });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const problem = res.json();
    expect(problem).toMatchObject({
      code: 'webhook_aborted', hook: 'ticketUpdates', invocationId: expect.stringMatching(/^inv_/),
      detail: `Ticket ${ticket.id} cannot be closed: contract V-100234 is still open (tag "open-contract"). Settle the contract or remove the tag first.`,
    });
    expect((await t.api('GET', `/api/v1/tickets/${ticket.id}`)).json().status).toBe('open');
    const [logged] = await invocations(accountId, `hook=ticketUpdates&outcome=aborted&ticketId=${ticket.id}`);
    expect(logged).toMatchObject({ id: problem.invocationId, status: 200, trigger: 'ticketUpdate', userId: t.agentId, output: { abort: true } });
    expect(await logLine(receiver, problem.invocationId)).toMatch(new RegExp(`POST / 200 [0-9.]+ms ${problem.invocationId} ticketUpdates ticket=${ticket.id} -> abort$`));

    // The receiver looks at the ticket as it will be: closing and removing the tag in one step passes.
    const settled = await patchTicket(ticket.id, { status: 'closed', removeTags: ['open-contract'] });
    expect(settled.statusCode).toBe(200);
    expect(settled.json()).toMatchObject({ status: 'closed', tags: [] });
    expect(settled.json().warnings).toBeUndefined();
  });

  it('blocks an outbound reply that contains an IBAN; other replies and notes go through', async () => {
    const ticket = await newTicket(accountId);
    const blocked = await write(ticket.id, 'out', `Guten Tag,\n\nbitte überweisen Sie den Betrag auf ${IBAN}.\n\nIhr Kundenservice`);
    expect(blocked.statusCode).toBe(422);
    expect(blocked.json()).toMatchObject({ code: 'webhook_aborted', hook: 'newEmails', detail: expect.stringContaining('looks like an IBAN'), conversationId: expect.any(Number) });
    const allowed = await write(ticket.id, 'out', 'Guten Tag,\n\nwir haben Ihren Abschlag angepasst.\n\nIhr Kundenservice');
    expect(allowed.statusCode).toBe(201);
    expect(allowed.json()).toMatchObject({ direction: 'out', deliveryStatus: 'queued' });
    expect(allowed.json().warnings).toBeUndefined();
    // Internal notes are not the receiver's concern, IBAN or not.
    const note = await write(ticket.id, 'internal', `Kunde hat ${IBAN} am Telefon genannt`);
    expect(note.statusCode).toBe(201);

    const thread = (await t.api('GET', `/api/v1/tickets/${ticket.id}/conversations`)).json().items;
    expect(thread.map((c: { id: number; direction: string; deliveryStatus: string | null }) => [c.id, c.direction, c.deliveryStatus])).toEqual([
      [blocked.json().conversationId, 'out', 'blocked'],
      [allowed.json().id, 'out', 'queued'],
      [note.json().id, 'internal', null],
    ]);
    // (Sorted: the test clock stands still, so all three invocations share one createdAt.)
    const calls = await invocations(accountId, `hook=newEmails&ticketId=${ticket.id}`);
    expect(calls.map((c: { trigger: string; outcome: string }) => `${c.trigger} ${c.outcome}`).sort()).toEqual(['internalNote ok', 'outboundEmail aborted', 'outboundEmail ok']);
  });

  it('lets a normal change pass unchanged, and answers the settings screen\'s test call', async () => {
    const ticket = await newTicket(accountId, { contractId: 'V-100235' });
    const res = await patchTicket(ticket.id, { priority: 'high', status: 'closed' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ priority: 'high', status: 'closed', tags: [] });
    expect(res.json().warnings).toBeUndefined();
    const [logged] = await invocations(accountId, `hook=ticketUpdates&ticketId=${ticket.id}`);
    expect(logged).toMatchObject({ outcome: 'ok', status: 200, output: {}, input: { changes: { priority: 'high', status: 'closed' }, previous: { priority: 'medium', status: 'open' } } });

    for (const hook of ['ticketUpdates', 'newEmails']) {
      const test = await t.api('POST', `/api/v1/email-accounts/${accountId}/webhooks/${hook}/test`);
      expect(test.json()).toMatchObject({ outcome: 'ok', answer: { abort: false, ticket: null, note: null }, error: null });
    }
  });

  it('flags an inbound "Kündigung" with priority, tag and note; other mail is left alone', async () => {
    // Mail as the SMTP server stores it, then the intake: parse, thread, store, run the hook.
    const deliver = async (messageId: string, subjectHeader: string) => {
      const raw = [
        'From: Erika Mustermann <erika.mustermann@example.com>', 'To: kundenservice@stadtwerke.example', `Subject: ${subjectHeader}`,
        `Message-ID: <${messageId}>`, 'Date: Sat, 28 Nov 2026 09:58:00 +0000', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit', '', 'Guten Tag,', 'hiermit kündige ich meinen Vertrag V-100234.', 'Erika Mustermann', '',
      ].join('\r\n');
      await acceptInbound(t.deps, {
        emailAccountId: accountId, source: 'smtp', sourceKey: null, envelopeFrom: 'erika.mustermann@example.com',
        envelopeTo: ['kundenservice@stadtwerke.example'], raw: Buffer.from(raw, 'utf8'),
      });
      const [result] = await processPendingInbound(t.deps);
      expect(result).toMatchObject({ outcome: 'new_ticket', ticketId: expect.any(Number) });
      return result!.ticketId!;
    };

    // "Kündigung" as an encoded word, with the "ü" decomposed as some mail clients send it.
    const cancelled = await deliver('k1@example.com', '=?UTF-8?Q?Ku=CC=88ndigung_zum_31.12.?=');
    expect((await t.api('GET', `/api/v1/tickets/${cancelled}`)).json()).toMatchObject({ priority: 'high', tags: ['kuendigung'] });
    const thread = (await t.api('GET', `/api/v1/tickets/${cancelled}/conversations`)).json().items;
    expect(thread).toEqual([expect.objectContaining({ direction: 'internal', body: expect.stringContaining('Possible cancellation') })]);
    const [call] = await invocations(accountId, `hook=newEmails&ticketId=${cancelled}`);
    expect(call).toMatchObject({
      trigger: 'inboundEmail', outcome: 'ok', conversationId: null, userId: null,
      input: { direction: 'in', conversationId: null, email: { messageId: 'k1@example.com', from: { address: 'erika.mustermann@example.com' } } },
      output: { ticket: { priority: 'high', addTags: ['kuendigung'] } },
    });
    expect(await logLine(receiver, call.id)).toContain(`newEmails/in ticket=${cancelled} -> ticket {"priority":"high","addTags":["kuendigung"]} + note`);

    const ordinary = await deliver('z1@example.com', '=?UTF-8?Q?Z=C3=A4hlerstand_M=C3=A4rz?=');
    expect((await t.api('GET', `/api/v1/tickets/${ordinary}`)).json()).toMatchObject({ priority: 'medium', tags: [] });
    expect((await invocations(accountId, `hook=newEmails&ticketId=${ordinary}`))[0]).toMatchObject({ outcome: 'ok', output: {} });
  });

  it('with the wrong secret the receiver answers 401 and deskhook reports webhook_failed', async () => {
    const ticket = await newTicket(wrongAccountId);
    const res = await patchTicket(ticket.id, { priority: 'urgent' });
    expect(res.statusCode).toBe(200);
    expect(res.json().priority).toBe('urgent');
    expect(res.json().warnings).toEqual([{ code: 'webhook_failed', hook: 'ticketUpdates', invocationId: expect.stringMatching(/^inv_/), message: expect.stringContaining('answered 401') }]);
    const [logged] = await invocations(wrongAccountId, `outcome=failed&ticketId=${ticket.id}`);
    expect(logged).toMatchObject({ id: res.json().warnings[0].invocationId, status: 401, policyApplied: 'notify', error: { code: 'http_status' } });
    expect(await logLine(impostor, 'No matching signature found')).toMatch(/POST \/ 401 /);

    const reply = await write(ticket.id, 'out', 'Guten Tag, wir melden uns.');
    expect(reply.statusCode).toBe(201);
    expect(reply.json()).toMatchObject({ deliveryStatus: 'queued', warnings: [{ code: 'webhook_failed', hook: 'newEmails', message: expect.stringContaining('answered 401') }] });

    // With policy block nothing changes and the API answers 502.
    expect((await t.api('PATCH', `/api/v1/email-accounts/${wrongAccountId}`, { webhooks: { failurePolicy: 'block' } })).statusCode).toBe(200);
    const blocked = await patchTicket(ticket.id, { priority: 'low' });
    expect(blocked.statusCode).toBe(502);
    expect(blocked.json()).toMatchObject({ code: 'webhook_failed', hook: 'ticketUpdates', detail: expect.stringContaining('answered 401') });
    expect((await t.api('GET', `/api/v1/tickets/${ticket.id}`)).json().priority).toBe('urgent');
  });

  it('refuses what does not come from deskhook: no signature, a changed body, a stale timestamp, another method', async () => {
    const body = JSON.stringify({ hook: 'ticketUpdates', ticketId: 1, changes: { status: 'closed' }, ticket: { contractId: 'X', tags: ['open-contract'] } });
    const sign = (id: string, at: Date, payload: string) => ({
      'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, payload),
    });
    const post = async (headers: Record<string, string>, payload: string) => {
      const res = await request(receiver.url, { method: 'POST', headers, body: payload });
      return { status: res.statusCode, json: await res.body.json() };
    };
    expect(await post({ 'content-type': 'application/json' }, body)).toEqual({ status: 401, json: { error: 'invalid signature' } });
    expect((await post(sign('msg_1', new Date(), body), body.replace('closed', 'open'))).status).toBe(401);
    expect((await post(sign('msg_2', new Date(Date.now() - 10 * 60_000), body), body)).status).toBe(401);
    expect(await post(sign('msg_3', new Date(), body), body)).toMatchObject({ status: 200, json: { abort: true } });
    const get = await request(receiver.url, { method: 'GET' });
    await get.body.dump();
    expect(get.statusCode).toBe(405);
  });
});

it('docs/webhooks.md embeds the receiver exactly as it is in docs/examples', () => {
  const source = readFileSync(RECEIVER, 'utf8');
  const doc = readFileSync(new URL('../docs/webhooks.md', import.meta.url), 'utf8');
  expect(doc).toContain(`\`\`\`js\n${source}\`\`\`\n`);
});
