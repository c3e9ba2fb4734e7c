import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDeliveries, deliverClaimed } from '../src/app/events/deliver-events.ts';
import type { AttemptOutcome } from '../src/domain/event-hook.ts';
import { BACKENDS } from './support/backends.ts';
import { freePort } from './support/process.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/**
 * docs/examples/event-receiver.mjs, the receiver docs/events.md points teams to, run as its own
 * process and fed by the real product: an event hook created through the API, an event written
 * by a ticket change, and the delivery as a worker makes it (claim with a lease, signed attempt,
 * recorded outcome). On every backend, since the deliveries and their log are stored ones.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RECEIVER = fileURLToPath(new URL('../docs/examples/event-receiver.mjs', import.meta.url));

interface Receiver {
  url: string;
  /** stdout lines: the start line, then one per request. */
  lines: string[];
  stop(): Promise<void>;
}

/** `node docs/examples/event-receiver.mjs` with only what its documentation says it needs. */
async function startReceiver(port: number, secret: string): Promise<Receiver> {
  const child: ChildProcess = spawn(process.execPath, [RECEIVER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), DESKHOOK_EVENT_SECRET: secret },
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
  expect(lines[0]).toBe(`deskhook event receiver listening on http://127.0.0.1:${port}/`);
  return {
    url: `http://127.0.0.1:${port}/`,
    lines,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits for the receiver's log line that contains every needle (the line is written after the answer). */
async function logLine(receiver: Receiver, ...needles: string[]): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const line = receiver.lines.find((l) => needles.every((n) => l.includes(n)));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no log line with ${needles.join(' + ')}; got:\n${receiver.lines.join('\n')}`);
}

describe.each(BACKENDS)('docs/examples/event-receiver.mjs fed by deskhook on %s', (kind) => {
  let t: TestApp;
  let receiver: Receiver;
  let hookId: number;
  let secret: string;

  /** Runs every due delivery as a worker does (test/events.test.ts `drain`). */
  const drain = async (): Promise<AttemptOutcome[]> => {
    const outcomes: AttemptOutcome[] = [];
    for (;;) {
      const batch = await claimDeliveries(t.deps, 'test-worker', 50, 60_000);
      if (!batch.deliveries.length) return outcomes;
      for (const d of batch.deliveries) outcomes.push(await deliverClaimed(t.deps, d, batch.hooks.get(d.delivery.hookId)!, 'test-worker'));
    }
  };
  const deliveriesOf = async (eventId: string) => (await t.api('GET', `/api/v1/event-hooks/${hookId}/deliveries?eventId=${eventId}`)).json().items as any[];

  beforeAll(async () => {
    t = await startTestApp(kind);
    const port = await freePort();
    const created = await t.api('POST', '/api/v1/event-hooks', {
      name: 'CRM sync', events: ['TicketCreated', 'TicketUpdated'], executor: { type: 'apiCall', url: `http://127.0.0.1:${port}/` },
    });
    expect(created.statusCode, created.body).toBe(201);
    hookId = created.json().id;
    secret = (await t.api('GET', `/api/v1/event-hooks/${hookId}/signing-secret`)).json().signingSecret;
    expect(secret).toMatch(/^whsec_/);
    receiver = await startReceiver(port, secret);
  });

  afterAll(async () => {
    await receiver?.stop();
    await t?.close();
  });

  it('accepts a signed event with 204 and logs its type; a redelivery is recognised as a duplicate', async () => {
    const ticket = await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag zu hoch', from: 'erika@example.com' }, t.agentToken);
    expect(ticket.statusCode).toBe(201);
    const ticketId = ticket.json().id as number;
    const [event] = (await t.api('GET', `/api/v1/events?type=TicketCreated&ticketId=${ticketId}`)).json().items;
    expect(event.id).toMatch(/^evt_/);

    expect(await drain()).toEqual(['succeeded']);
    const [delivered] = await deliveriesOf(event.id);
    expect(delivered).toMatchObject({ status: 'succeeded', attemptCount: 1, replay: false });
    expect(delivered.attempts).toMatchObject([{ attempt: 1, outcome: 'succeeded', status: 204, error: null }]);
    expect(await logLine(receiver, event.id)).toMatch(new RegExp(`POST / 204 [0-9.]+ms ${event.id} TicketCreated ticket=${ticketId} subject="Abschlag zu hoch"$`));

    // A change of the ticket is a new event: new id, accepted as new.
    await t.api('PATCH', `/api/v1/tickets/${ticketId}`, { priority: 'high' }, t.agentToken);
    expect(await drain()).toEqual(['succeeded']);
    const [updated] = (await t.api('GET', `/api/v1/events?type=TicketUpdated&ticketId=${ticketId}`)).json().items;
    expect(await logLine(receiver, updated.id)).toMatch(new RegExp(`POST / 204 [0-9.]+ms ${updated.id} TicketUpdated ticket=${ticketId} changed=priority by=${t.agentId}$`));

    // An admin replays the first event: the same webhook-id again, which the receiver skips and
    // still answers 2xx, so deskhook counts the delivery as done and does not retry.
    expect((await t.api('POST', `/api/v1/events/${event.id}/replay`, { hookId })).json()).toEqual({ hooks: [hookId], replayed: 1 });
    expect(await drain()).toEqual(['succeeded']);
    const [replayed, original] = await deliveriesOf(event.id);
    expect(original.id).toBe(delivered.id);
    expect(replayed).toMatchObject({ status: 'succeeded', replay: true });
    expect(replayed.attempts).toMatchObject([{ outcome: 'succeeded', status: 200, response: '{"duplicate":true}' }]);
    expect(await logLine(receiver, event.id, 'duplicate')).toMatch(new RegExp(`POST / 200 [0-9.]+ms ${event.id} TicketCreated duplicate, skipped$`));
    expect(receiver.lines.filter((l) => l.includes(event.id))).toHaveLength(2);
  });

  it('refuses what deskhook did not sign with 401: no signature, another secret, a changed body, a stale timestamp', async () => {
    const body = JSON.stringify({ id: 'evt_forged', type: 'TicketUpdated', timestamp: '2026-11-28T10:00:00.000Z', data: { ticketId: 1, changes: { status: 'closed' } } });
    const signed = (key: string, id: string, at: Date, payload: string) => ({
      'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(key).sign(id, at, payload),
    });
    const post = async (headers: Record<string, string>, payload: string) => {
      const res = await request(receiver.url, { method: 'POST', headers, body: payload });
      return { status: res.statusCode, json: await res.body.json() };
    };
    expect(await post({ 'content-type': 'application/json' }, body)).toEqual({ status: 401, json: { error: 'invalid signature' } });
    expect(await post(signed(`whsec_${randomBytes(32).toString('base64')}`, 'evt_forged', new Date(), body), body)).toEqual({ status: 401, json: { error: 'invalid signature' } });
    expect((await post(signed(secret, 'evt_forged', new Date(), body), body.replace('closed', 'open'))).status).toBe(401);
    expect((await post(signed(secret, 'evt_forged', new Date(Date.now() - 10 * 60_000), body), body)).status).toBe(401);
    expect(await logLine(receiver, 'POST / 401', 'rejected')).toBeTruthy();
    // Refused requests are not remembered: the genuine event with that id is still taken as new.
    const genuine = await request(receiver.url, { method: 'POST', headers: signed(secret, 'evt_forged', new Date(), body), body });
    await genuine.body.dump();
    expect(genuine.statusCode).toBe(204);
    const get = await request(receiver.url, { method: 'GET' });
    await get.body.dump();
    expect(get.statusCode).toBe(405);
  });
});
