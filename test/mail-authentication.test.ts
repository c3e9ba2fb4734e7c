import { generateKeyPairSync } from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { sendQueuedMail } from '../src/app/mail/send-outbound.ts';
import { MailauthVerifier } from '../src/adapters/mail-auth/mailauth-verifier.ts';
import { BACKENDS } from './support/backends.ts';
import { startCatcher, startInbound, type Catcher } from './support/mail.ts';
import { startRecordingReceiver, type RecordingReceiver } from './support/recording-receiver.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

const SUPPORT = 'support@stadtwerke.example';
const CUSTOMER = 'anna@kunde.example';

// The customer's domain publishes a DKIM key, SPF that allows no server of ours, and DMARC
// `p=reject`: what a real mail domain looks like. There is no outside DNS here, so the verifier
// gets a resolver that answers for this zone only.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dkimKey = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const ZONE: Record<string, string> = {
  'mail._domainkey.kunde.example': `v=DKIM1; k=rsa; p=${dkimKey}`,
  'kunde.example': 'v=spf1 -all',
  '_dmarc.kunde.example': 'v=DMARC1; p=reject',
};
const resolver = async (name: string, rrtype: string): Promise<unknown> => {
  const txt = ZONE[name.toLowerCase().replace(/\.$/, '')];
  if (rrtype === 'TXT' && txt) return [[txt]];
  throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
};

let receiver: RecordingReceiver;
let hookUrl: string;
beforeAll(async () => {
  receiver = await startRecordingReceiver();
  hookUrl = receiver.url;
});
afterAll(() => receiver.close());

// Point 6 of the security review: a spoofed From with `Re: [#N]` must not land in ticket N.
describe.each(BACKENDS)('sender authentication and threading on %s', (kind) => {
  let t: TestApp;
  let inbound: Awaited<ReturnType<typeof startInbound>>;
  let catcher: Catcher;

  beforeEach(async () => {
    t = await startTestApp(kind);
    t.deps.mail.authenticator = new MailauthVerifier({ resolver, budgetMs: 5000 });
    catcher = await startCatcher();
    inbound = await startInbound(t.deps);
    const created = await t.api('POST', '/api/v1/email-accounts', {
      name: 'Service', address: SUPPORT, inbound: { type: 'smtp' },
      outbound: { host: '127.0.0.1', port: catcher.port, secure: false, user: null, senderName: 'Stadtwerke' },
      webhooks: { enabled: true, newEmails: { type: 'apiCall', url: hookUrl }, timeoutMs: 2000, failurePolicy: 'notify' },
    });
    expect(created.statusCode, created.body).toBe(201);
    receiver.calls.length = 0;
  });
  afterEach(async () => {
    await inbound.close();
    await catcher.close();
    await t.close();
  });

  /** Sends as the customer's own mail server would: DKIM-signed by kunde.example. */
  const sendSigned = async (subject: string, text: string) => {
    const client = nodemailer.createTransport({
      host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true,
      dkim: { domainName: 'kunde.example', keySelector: 'mail', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    });
    try {
      await client.sendMail({ from: CUSTOMER, to: SUPPORT, subject, text });
    } finally {
      client.close();
    }
  };
  const ingestOne = async () => {
    const [result] = await processPendingInbound(t.deps);
    return result!;
  };
  const ticket = async (id: number) => (await t.api('GET', `/api/v1/tickets/${id}`)).json();

  it('verifies DKIM and DMARC at intake, and shows the result on the ticket, its thread and the webhook', async () => {
    await sendSigned('Zählerstand', 'Mein Zählerstand ist 12345.');
    const first = await ingestOne();
    expect(first.outcome).toBe('new_ticket');
    const authentication = (await ticket(first.ticketId!)).flags.authentication;
    expect(authentication).toMatchObject({
      authenticated: true, dmarc: { result: 'pass', domain: 'kunde.example' },
      dkim: [{ result: 'pass', domain: 'kunde.example', aligned: true }], spf: { result: 'fail' },
    });
    expect(receiver.calls[0]?.json).toMatchObject({ hook: 'newEmails', email: { from: { address: CUSTOMER }, authentication: { authenticated: true, dmarc: { result: 'pass' } } } });
  });

  it('a spoofed From with the bare token becomes a new ticket; the real customer still threads', async () => {
    await sendSigned('Abschlag', 'Mein Abschlag ist zu hoch.');
    const original = await ingestOne();
    const n = original.ticketId!;

    // Anyone can write the participant's address and the sequential ticket id.
    await inbound.send({ from: CUSTOMER, to: SUPPORT, subject: `Re: Abschlag [#${n}]`, text: 'Bitte überweisen Sie an IBAN DE00 0000.' });
    const spoofed = await ingestOne();
    expect(spoofed.outcome).toBe('new_ticket');
    expect(spoofed.ticketId).not.toBe(n);
    expect((await ticket(n)).messageCount).toBe(1);
    expect((await ticket(spoofed.ticketId!)).flags.authentication).toMatchObject({ authenticated: false, dmarc: { result: 'fail', policy: 'reject' }, dkim: [] });
    expect(receiver.calls.at(-1)?.json).toMatchObject({ ticketId: spoofed.ticketId, email: { authentication: { authenticated: false } } });

    // The same bare token from the customer's signed mail is believed.
    await sendSigned(`Re: Abschlag [#${n}]`, 'Haben Sie meine Nachricht bekommen?');
    const genuine = await ingestOne();
    expect(genuine).toMatchObject({ outcome: 'reply', ticketId: n });
    const thread = (await t.api('GET', `/api/v1/tickets/${n}/conversations`)).json().items;
    expect(thread.at(-1).flags.authentication).toMatchObject({ authenticated: true });
  });

  it('our replies carry a keyed token; it threads a participant even where DNS cannot vouch, a forged digest does not', async () => {
    await sendSigned('Umzug', 'Ich ziehe um.');
    const n = (await ingestOne()).ticketId!;
    const reply = await t.api('POST', `/api/v1/tickets/${n}/conversations`, { direction: 'out', body: '<p>Wohin ziehen Sie?</p>' });
    expect(reply.statusCode, reply.body).toBeLessThan(300);
    await sendQueuedMail(t.deps);
    const subject = catcher.received[0]!.parsed.subject ?? '';
    const token = new RegExp(`\\[#${n}-([a-z2-7]{8})\\]`).exec(subject);
    expect(token, subject).not.toBeNull();

    // The customer answers from a client that does not sign: the keyed token is enough.
    await inbound.send({ from: CUSTOMER, to: SUPPORT, subject: `Re: ${subject}`, text: 'Nach Köln.' });
    expect(await ingestOne()).toMatchObject({ outcome: 'reply', ticketId: n });

    // A guessed digest is no better than none.
    const forged = token![1]!.split('').reverse().join('') === token![1] ? 'aaaaaaaa' : token![1]!.split('').reverse().join('');
    await inbound.send({ from: CUSTOMER, to: SUPPORT, subject: `Re: Umzug [#${n}-${forged}]`, text: 'Neue Bankverbindung.' });
    const guessed = await ingestOne();
    expect(guessed.outcome).toBe('new_ticket');
    expect(guessed.ticketId).not.toBe(n);
  });

  it('without DNS in time the result is temperror, the mail is still taken in, unauthenticated', async () => {
    t.deps.mail.authenticator = new MailauthVerifier({ resolver: () => new Promise(() => undefined), budgetMs: 300 });
    await sendSigned('Frage', 'Hallo');
    const result = await ingestOne();
    expect(result.outcome).toBe('new_ticket');
    expect((await ticket(result.ticketId!)).flags.authentication).toMatchObject({ authenticated: false, dmarc: { result: 'temperror' }, note: expect.stringContaining('300 ms') });
  });
});
