#!/usr/bin/env node
/**
 * A receiver for deskhook's event hooks (asynchronous events, see docs/events.md).
 *
 * deskhook POSTs every event the hook subscribes to, after the change is committed, and retries
 * until it gets a 2xx. Nobody waits for this receiver, but deskhook delivers AT LEAST ONCE: a
 * retry after a timeout, a worker that crashed mid-attempt or a replay by an admin sends an event
 * again, with the same `webhook-id` (the event id). So it:
 *
 *   1. verifies the Standard Webhooks signature with the hook's secret     -> 401 if it fails
 *   2. skips an event whose webhook-id it has seen already                 -> 200 {"duplicate":true}
 *   3. takes the event (here: logs its type and what it is about)          -> 204, at once
 *
 * Run it:
 *
 *   DESKHOOK_EVENT_SECRET='whsec_…' PORT=4100 node event-receiver.mjs
 *
 * - DESKHOOK_EVENT_SECRET (required): the event hook's signing secret, from
 *   `GET /api/v1/event-hooks/{id}/signing-secret` (admins).
 * - PORT (optional, default 4100; 0 picks a free port, which the start line names).
 *
 * It listens on 127.0.0.1 only: put it next to deskhook, or behind a reverse proxy that
 * terminates TLS. deskhook refuses loopback and private addresses unless they are allowed, so a
 * receiver on the same host needs `DESKHOOK_EGRESS_ALLOW=127.0.0.1` in deskhook's environment;
 * the hook's URL is then `http://127.0.0.1:4100/`.
 *
 * Its only dependency is the npm package `standardwebhooks` (`npm install standardwebhooks`).
 * Node.js 20 or later.
 */
import { createServer } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

const SECRET = process.env.DESKHOOK_EVENT_SECRET;
const PORT = process.env.PORT === undefined || process.env.PORT === '' ? 4100 : Number(process.env.PORT);
const HOST = '127.0.0.1';

/** An event is a few KB (a ticket, a conversation); anything far larger is not from deskhook. */
const MAX_BODY_BYTES = 1024 * 1024;

if (!SECRET || !SECRET.startsWith('whsec_')) {
  console.error('DESKHOOK_EVENT_SECRET must be set to the event hook\'s signing secret (whsec_…)');
  process.exit(1);
}
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  console.error(`PORT must be a port number, not "${process.env.PORT}"`);
  process.exit(1);
}

// After a rotation of the secret deskhook signs with the new AND the old secret for 24 hours, so
// this receiver keeps working until you give it the new secret (within those 24 hours).
const webhook = new Webhook(SECRET);

// ---------------------------------------------------------------------------------------------
// Deduplication by webhook-id
//
// In memory, for the example: it forgets on restart and is per process. A real receiver keeps the
// ids in its database, with the id as a unique key, written in the same transaction as whatever
// it does with the event (`insert … on conflict do nothing`: no row inserted = a duplicate), and
// keeps them at least as long as deskhook keeps events (DESKHOOK_EVENT_RETENTION_DAYS, 30 days),
// since an admin can replay any event that old.
// ---------------------------------------------------------------------------------------------

const MAX_REMEMBERED = 100_000;
const seen = new Set();

function remember(id) {
  seen.add(id);
  // A Set iterates in insertion order: drop the oldest once full.
  if (seen.size > MAX_REMEMBERED) seen.delete(seen.values().next().value);
}

// ---------------------------------------------------------------------------------------------
// What to do with an event. Keep it quick: deskhook waits for the answer up to
// DESKHOOK_EVENT_TIMEOUT_MS (15 s) and counts a timeout as a failure (and retries). Heavy work
// belongs in a queue of your own: store the event, answer, work on it afterwards.
// ---------------------------------------------------------------------------------------------

/** A short description of an event for the log line: what it is about. */
function describe(event) {
  const d = event.data ?? {};
  switch (event.type) {
    case 'TicketCreated':
      return `ticket=${d.ticketId} subject=${JSON.stringify(d.ticket?.subject ?? '')}`;
    case 'TicketUpdated':
      return `ticket=${d.ticketId} changed=${Object.keys(d.changes ?? {}).join(',')} by=${d.userId ?? 'system'}`;
    case 'TicketResponse':
    case 'ConversationCreated':
    case 'EmailSent':
    case 'EmailFailed':
      return `ticket=${d.ticketId} conversation=${d.conversationId}`;
    case 'WebhookFailed':
      return `ticket=${d.ticketId ?? '-'} hook=${d.hook} invocation=${d.invocationId}`;
    case 'ProfileCreated':
    case 'ProfileUpdated':
    case 'ProfileDeleted':
      return `user=${d.userId}`;
    case 'CronMinute':
    case 'CronHour':
    case 'CronDay':
    case 'CronWeek':
      return `scheduledFor=${d.scheduledFor} ${d.timeZone}`;
    default:
      // New types may be added to deskhook: accept them (a 2xx), never fail on them.
      return '';
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP: read the raw body, verify, deduplicate, answer. One log line per request.
// ---------------------------------------------------------------------------------------------

/**
 * Reads the body as the exact bytes sent: the signature covers them, not a re-serialised JSON.
 * Resolves null when the body is larger than MAX_BODY_BYTES (the rest is read and dropped).
 */
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

function log(req, status, began, what) {
  const ms = (performance.now() - began).toFixed(1);
  console.log(`${new Date().toISOString()} ${req.method} ${req.url} ${status} ${ms}ms ${what}`);
}

async function handle(req, res, began) {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    send(res, 405, { error: 'deskhook events are POST requests' });
    log(req, 405, began, 'not a POST');
    return;
  }
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    res.setHeader('connection', 'close');
    send(res, 413, { error: `the body is larger than ${MAX_BODY_BYTES} bytes` });
    log(req, 413, began, 'body too large');
    return;
  }
  const raw = await readBody(req);
  if (raw === null) {
    send(res, 413, { error: `the body is larger than ${MAX_BODY_BYTES} bytes` });
    log(req, 413, began, 'body too large');
    return;
  }

  // Verify before anything else, deduplication included (else anyone could fill the list of seen
  // ids). The timestamp check (5 minutes) holds for retries too: deskhook signs every attempt anew.
  // A 401 is a failed attempt for deskhook: it retries on the hook's schedule.
  const id = String(req.headers['webhook-id'] ?? '');
  let event;
  try {
    event = webhook.verify(raw, {
      'webhook-id': id,
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
    });
  } catch (err) {
    if (!(err instanceof WebhookVerificationError) && !(err instanceof SyntaxError)) throw err;
    const reason = err instanceof SyntaxError ? 'the body is not JSON' : err.message;
    const status = err instanceof SyntaxError ? 400 : 401;
    send(res, status, { error: status === 401 ? 'invalid signature' : reason });
    log(req, status, began, `rejected: ${reason}`);
    return;
  }
  if (event === null || typeof event !== 'object' || typeof event.type !== 'string') {
    send(res, 400, { error: 'the body must be an event {id, type, timestamp, data}' });
    log(req, 400, began, 'rejected: not an event');
    return;
  }

  // The webhook-id is the event id (`evt_…`), the same on every retry and replay of the event.
  // A duplicate still gets a 2xx: anything else would make deskhook retry it. The body makes it
  // visible in deskhook's deliveries log (the attempt's `response`).
  if (seen.has(id)) {
    send(res, 200, { duplicate: true });
    log(req, 200, began, `${id} ${event.type} duplicate, skipped`);
    return;
  }
  const about = describe(event);
  remember(id);
  send(res, 204);
  log(req, 204, began, `${id} ${event.type}${about ? ` ${about}` : ''}`);
}

const server = createServer((req, res) => {
  const began = performance.now();
  handle(req, res, began).catch((err) => {
    // A 500 is a failed attempt: deskhook delivers the event again later.
    if (!res.headersSent) send(res, 500, { error: 'internal error' });
    else res.destroy();
    log(req, 500, began, `error: ${err.message}`);
  });
});
// deskhook keeps connections open between deliveries. Node announces this idle timeout in a
// `Keep-Alive: timeout=65` header, and deskhook's HTTP client closes idle connections a little
// before it, so a delivery never lands on a connection this side is just closing.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`deskhook event receiver listening on http://${HOST}:${port}/`);
});

// Stop taking new connections, let the running requests finish, then exit.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
