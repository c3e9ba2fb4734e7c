#!/usr/bin/env node
/**
 * A receiver for deskhook's synchronous webhooks, ready to deploy.
 *
 * deskhook calls it while an agent (or the API, or the mail intake) is in the middle of a step and
 * waits for the answer; what it answers decides what happens next (see docs/webhooks.md):
 *
 *   ticketUpdates  a ticket with a contract (`contractId`) that still carries the tag
 *                  `open-contract` may not be closed                      -> {abort: true, message}
 *   newEmails in   a customer mail whose subject mentions "Kündigung"
 *                  gets priority high, the tag `kuendigung` and a note    -> {ticket: {...}, note}
 *   newEmails out  an email to a customer that contains something that
 *                  looks like an IBAN is not sent                         -> {abort: true, message}
 *   anything else  go on, change nothing                                  -> {}
 *
 * Run it:
 *
 *   DESKHOOK_WEBHOOK_SECRET='whsec_…' PORT=4000 node webhook-receiver.mjs
 *
 * - DESKHOOK_WEBHOOK_SECRET (required): the email account's signing secret, from
 *   Settings → Communication channels → Email accounts → Webhooks, or
 *   `GET /api/v1/email-accounts/{id}/webhooks/signing-secret` (admins).
 * - PORT (optional, default 4000; 0 picks a free port, which the start line names).
 *
 * It listens on 127.0.0.1 only: put it next to deskhook, or behind a reverse proxy that
 * terminates TLS. deskhook refuses loopback and private addresses unless they are allowed, so a
 * receiver on the same host needs `DESKHOOK_EGRESS_ALLOW=127.0.0.1` in deskhook's environment;
 * the hook URL is then `http://127.0.0.1:4000/`.
 *
 * Its only dependency is the npm package `standardwebhooks` (`npm install standardwebhooks`).
 * Node.js 20 or later.
 */
import { createServer } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

const SECRET = process.env.DESKHOOK_WEBHOOK_SECRET;
const PORT = process.env.PORT === undefined || process.env.PORT === '' ? 4000 : Number(process.env.PORT);
const HOST = '127.0.0.1';

/**
 * deskhook's inputs are a few KB (the ticket and one email); anything far larger is not from it.
 * Reading stops at this size so a stray client cannot make the receiver buffer without end.
 */
const MAX_BODY_BYTES = 1024 * 1024;

if (!SECRET || !SECRET.startsWith('whsec_')) {
  console.error('DESKHOOK_WEBHOOK_SECRET must be set to the email account\'s signing secret (whsec_…)');
  process.exit(1);
}
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  console.error(`PORT must be a port number, not "${process.env.PORT}"`);
  process.exit(1);
}

// One verifier for the process. After a rotation of the secret deskhook signs with the new AND
// the old secret for 24 hours, so this receiver keeps working until you give it the new secret
// (within those 24 hours) and restart it.
const webhook = new Webhook(SECRET);

// ---------------------------------------------------------------------------------------------
// The rules: input in, answer out. Each returns an answer, or null to leave the decision to the
// next rule. Every key of an answer is optional; unknown keys or wrong types make deskhook treat
// the answer as a failure of the hook, so answer only with these:
//   abort (boolean), message (string), note (string), spam (boolean),
//   ticket: {priority, status, agentId, dueBy, addTags, removeTags}
// ---------------------------------------------------------------------------------------------

/**
 * ticketUpdates: refuse to close a ticket whose contract is still open.
 *
 * `changes` holds only the properties this step changes (their new values), `previous` their old
 * values, and `ticket` the ticket as it will be if the change goes through. So "is being closed"
 * is `changes.status === 'closed'`, and the tag is looked up on the ticket after the change: a
 * change that closes the ticket and removes `open-contract` in one go is let through.
 *
 * Changes made by the system (`userId: null`: a pending ticket reopening at its dueBy, a customer
 * reply reopening a closed ticket) cannot be stopped; an abort there is not honoured, and those
 * changes never close a ticket anyway.
 */
function refuseClosingOpenContract(input) {
  if (input.hook !== 'ticketUpdates') return null;
  const closing = input.changes?.status === 'closed';
  const ticket = input.ticket ?? {};
  const tags = Array.isArray(ticket.tags) ? ticket.tags : [];
  if (closing && ticket.contractId && tags.some((t) => String(t).toLowerCase() === 'open-contract')) {
    return {
      abort: true,
      message: `Ticket ${input.ticketId} cannot be closed: contract ${ticket.contractId} is still open (tag "open-contract"). Settle the contract or remove the tag first.`,
    };
  }
  return null;
}

/** "Kündigung" with or without the umlaut as mail clients write it: Kündigung, Kuendigung, Kundigung. */
const CANCELLATION = /k(?:ü|ue|u)ndigung/i;

/**
 * newEmails, inbound: flag cancellations. The answer is applied by deskhook to the ticket (with
 * the webhook as the actor in the activity log); the note appears as an internal note.
 * `conversationId` is null when the mail opened a new ticket and set when it is a reply; either
 * way `ticketId` is the ticket it belongs to.
 */
function flagCancellation(input) {
  if (input.hook !== 'newEmails' || input.direction !== 'in') return null;
  // NFC: a subject may spell "ü" as "u" + combining diaeresis, depending on the sender's client.
  const subject = String(input.email?.subject ?? '').normalize('NFC');
  if (!CANCELLATION.test(subject)) return null;
  return {
    ticket: { priority: 'high', addTags: ['kuendigung'] },
    note: 'Possible cancellation (subject mentions "Kündigung"): check the contract and retention offers before answering.',
  };
}

/**
 * Something that looks like an IBAN: two capital letters, two check digits, then the account part
 * in blocks of four (the last one may be shorter), written in one piece or with single spaces:
 * DE89 3704 0044 0532 0130 00, DE89370400440532013000, NO93 8601 1117 947.
 * Deliberately no checksum test: a mistyped IBAN is as much a leak as a correct one.
 */
const IBAN_LIKE = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/;

/**
 * newEmails, outbound: an email to a customer that contains an IBAN is not sent. deskhook holds
 * the email until this answer; on abort it is kept with `deliveryStatus: "blocked"` and the agent
 * sees the message. Internal notes (`direction: "internal"`) are not checked.
 */
function blockIbanInOutbound(input) {
  if (input.hook !== 'newEmails' || input.direction !== 'out') return null;
  const email = input.email ?? {};
  const text = [email.subject, email.bodyPlain, email.bodyHtml].filter((part) => typeof part === 'string').join('\n');
  if (!IBAN_LIKE.test(text)) return null;
  return {
    abort: true,
    message: 'This email was not sent: it contains what looks like an IBAN. Bank details must not be sent by email; remove them and send again.',
  };
}

const RULES = [refuseClosingOpenContract, flagCancellation, blockIbanInOutbound];

/** The answer for one input: the first rule that has one, else `{}` ("go on"). */
function decide(input) {
  for (const rule of RULES) {
    const answer = rule(input);
    if (answer) return answer;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// HTTP: read the raw body, verify, decide, answer. One log line per request.
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
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

/** What the log line says about an answer. */
function summarise(answer) {
  if (answer.abort) return 'abort';
  const parts = [];
  if (answer.ticket) parts.push(`ticket ${JSON.stringify(answer.ticket)}`);
  if (answer.note) parts.push('note');
  return parts.length ? parts.join(' + ') : 'go on';
}

function log(req, status, began, what) {
  const ms = (performance.now() - began).toFixed(1);
  console.log(`${new Date().toISOString()} ${req.method} ${req.url} ${status} ${ms}ms ${what}`);
}

async function handle(req, res, began) {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    send(res, 405, { error: 'deskhook webhooks are POST requests' });
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

  // Verify before anything else: the signature proves the request comes from deskhook (it holds
  // the secret) and the timestamp check (5 minutes) stops replays of old requests. A 401 makes
  // deskhook report the invocation as failed, with the account's failure policy.
  let input;
  try {
    input = webhook.verify(raw, {
      'webhook-id': String(req.headers['webhook-id'] ?? ''),
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
  if (input === null || typeof input !== 'object') {
    send(res, 400, { error: 'the body must be a JSON object' });
    log(req, 400, began, 'rejected: not a JSON object');
    return;
  }

  // The invocation id is in the input and in `webhook-id`; it is the key of deskhook's invocation
  // log (GET /api/v1/email-accounts/{id}/invocations), so log it to find a call on both sides.
  const answer = decide(input);
  send(res, 200, answer);
  const subject = input.direction ? `${input.hook}/${input.direction}` : input.hook;
  log(req, 200, began, `${input.invocationId} ${subject} ticket=${input.ticketId ?? '-'} -> ${summarise(answer)}`);
}

const server = createServer((req, res) => {
  const began = performance.now();
  handle(req, res, began).catch((err) => {
    // A bug here must still answer: deskhook would otherwise wait until the account's timeoutMs.
    // A 500 makes deskhook report the invocation as failed, with the account's failure policy.
    if (!res.headersSent) send(res, 500, { error: 'internal error' });
    else res.destroy();
    log(req, 500, began, `error: ${err.message}`);
  });
});
// deskhook keeps connections open between calls. Node announces this idle timeout in a
// `Keep-Alive: timeout=65` header, and deskhook's HTTP client closes idle connections a little
// before it, so a call never lands on a connection this side is just closing.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`deskhook webhook receiver listening on http://${HOST}:${port}/`);
});

// Stop taking new connections, let the running requests finish, then exit.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
