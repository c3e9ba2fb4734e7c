import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { Webhook } from 'standardwebhooks';
import { ConfigError, loadConfig } from '../config/load-config.ts';
import { serve, type RunningServer } from './serve.ts';

/**
 * `deskhook demo` (`npm run demo`): the embedded product on a fresh data directory, plus everything
 * a newcomer needs to click through every feature at once, all in this one process:
 *
 * - a demo ERP REST API (German field names, an API key) with invented Stadtwerke customers;
 * - the same records imported in local mode, and docs/examples/erp-adapter.ts stored as the
 *   live-mode executor of all four operations (mode stays `local`: live is one switch away);
 * - a demo webhook receiver: the email account's synchronous hooks and an event hook point at it;
 * - a mailbox that catches the replies agents send (nothing leaves the machine);
 * - sample customer emails sent through deskhook's own SMTP port.
 *
 * Every record, name, address, IBAN and phone number here is invented (IBANs use the made-up bank
 * code 12345678, phone numbers the ranges the Bundesnetzagentur keeps for film and television).
 */

export const DEMO_ADMIN = { email: 'admin@demo.local', password: 'demo-password-1' } as const;
export const DEMO_ACCOUNT_ADDRESS = 'service@stadtwerke-demo.local';
const ERP_API_KEY = 'demo-erp-key-0001';
/** Written into the data directory, so a restart deletes only what a demo created. */
const MARKER = '.deskhook-demo';

// ---------------------------------------------------------------------------------------------
// The demo ERP's records
// ---------------------------------------------------------------------------------------------

interface Anschrift { strasse: string; hausnummer: string; plz: string; ort: string }
interface Person { typ: 'privat' | 'gewerbe'; anrede: string | null; vorname: string | null; nachname: string | null; firma: string | null; email: string | null; telefon: string | null }
interface Kunde extends Person { kundennummer: string; anschrift: Anschrift; kundeSeit: string; vertraege: string[] }
interface Vertrag {
  vertragsnummer: string; kundennummer: string; status: 'aktiv' | 'gekündigt'; sparte: 'Strom' | 'Gas' | 'Wärme'; tarif: string; abschlag: number;
  vertragsbeginn: string; vertragsende: string | null; zaehlernummer: string; iban: string; kunde: Person;
  lieferanschrift: Anschrift; rechnungsanschrift: Anschrift | null;
}

/** A German IBAN with a correct check sum for an invented bank code and account. */
function germanIban(account: number): string {
  const bban = `12345678${String(account).padStart(10, '0')}`;
  const check = 98n - (BigInt(`${bban}131400`) % 97n); // "DE00" moved to the end, D=13, E=14
  return `DE${String(check).padStart(2, '0')}${bban}`.replace(/(.{4})(?!$)/g, '$1 ');
}

const at = (strasse: string, hausnummer: string, plz: string, ort: string): Anschrift => ({ strasse, hausnummer, plz, ort });
type VertragSeed = [nr: string, sparte: Vertrag['sparte'], tarif: string, abschlag: number, beginn: string, zaehler: string, extra?: Partial<Vertrag>];
interface KundeSeed extends Omit<Kunde, 'vertraege' | 'anrede' | 'vorname' | 'nachname' | 'firma'> {
  anrede?: string; vorname?: string; nachname?: string; firma?: string; konto: number; vertraege: VertragSeed[];
}

const SEEDS: KundeSeed[] = [
  {
    kundennummer: 'K-2101', typ: 'privat', anrede: 'Frau', vorname: 'Erika', nachname: 'Mustermann', email: 'erika.mustermann@example.com',
    telefon: '+49 30 23125101', anschrift: at('Musterstraße', '12', '12345', 'Musterstadt'), kundeSeit: '2019-03-01', konto: 4711001,
    vertraege: [
      ['V-410001', 'Strom', 'Strom Basis 2026', 84.5, '2024-01-01', '1DEMO0000410001'],
      ['V-410002', 'Gas', 'Gas Komfort', 61, '2025-05-01', '7DEMO0000410002', { lieferanschrift: at('Seeweg', '4', '12359', 'Musterstadt') }],
    ],
  },
  {
    kundennummer: 'K-2102', typ: 'privat', anrede: 'Herr', vorname: 'Jürgen', nachname: 'Schäfer', email: 'j.schaefer@example.org',
    telefon: '0221 4710102', anschrift: at('Lindenallee', '7', '54321', 'Beispielhausen'), kundeSeit: '2021-11-01', konto: 4711002,
    vertraege: [['V-410003', 'Strom', 'Öko Strom 24', 52, '2021-11-01', '1DEMO0000410003']],
  },
  {
    kundennummer: 'K-2103', typ: 'gewerbe', firma: 'Bäckerei Sonnenschein GmbH', email: 'info@baeckerei-sonnenschein.example',
    telefon: '089 99998103', anschrift: at('Marktplatz', '3', '12345', 'Musterstadt'), kundeSeit: '2015-07-15', konto: 4711003,
    vertraege: [['V-420001', 'Strom', 'Gewerbe Strom Plus', 1234.5, '2015-08-01', '1DEMO0000420001', { rechnungsanschrift: at('Postfach', '10 20 30', '12301', 'Musterstadt') }]],
  },
  {
    kundennummer: 'K-2104', typ: 'privat', anrede: 'Frau', vorname: 'Anna', nachname: 'Müller', email: 'anna.mueller@example.net',
    telefon: null, anschrift: at('Ringstraße', '44', '12349', 'Musterstadt'), kundeSeit: '2023-02-01', konto: 4711004,
    vertraege: [['V-410004', 'Strom', 'Strom Basis 2026', 70, '2023-02-01', '1DEMO0000410004', { status: 'gekündigt', vertragsende: '2026-12-31' }]],
  },
  {
    kundennummer: 'K-2105', typ: 'privat', anrede: 'Herr', vorname: 'Mehmet', nachname: 'Yilmaz', email: 'm.yilmaz@example.com',
    telefon: '040 66969105', anschrift: at('Gartenweg', '2a', '54322', 'Beispielhausen'), kundeSeit: '2020-06-01', konto: 4711005,
    vertraege: [['V-410005', 'Wärme', 'Fernwärme Klassik', 96, '2020-06-01', '9DEMO0000410005']],
  },
  {
    kundennummer: 'K-2106', typ: 'gewerbe', firma: 'Autohaus Beispiel KG', email: 'service@autohaus-beispiel.example',
    telefon: '069 90009106', anschrift: at('Industriestraße', '15', '54321', 'Beispielhausen'), kundeSeit: '2012-01-01', konto: 4711006,
    vertraege: [
      ['V-420002', 'Strom', 'Gewerbe Strom Plus', 2150, '2012-01-01', '1DEMO0000420002'],
      ['V-420003', 'Gas', 'Gas Gewerbe', 780, '2016-10-01', '7DEMO0000420003'],
    ],
  },
  {
    kundennummer: 'K-2107', typ: 'privat', anrede: 'Herr', vorname: 'Max', nachname: 'Müller', email: 'max.mueller@example.org',
    telefon: '030 23125107', anschrift: at('Am Bach', '9', '12345', 'Musterstadt'), kundeSeit: '2024-09-01', konto: 4711007,
    vertraege: [['V-410006', 'Strom', 'Strom Basis 2026', 45, '2024-09-01', '1DEMO0000410006']],
  },
  {
    kundennummer: 'K-2108', typ: 'gewerbe', firma: 'Kita Regenbogen e.V.', email: 'leitung@kita-regenbogen.example',
    telefon: '0221 4710108', anschrift: at('Schulstraße', '1', '12347', 'Musterstadt'), kundeSeit: '2018-04-01', konto: 4711008,
    vertraege: [['V-420004', 'Strom', 'Öko Strom Gewerbe', 310, '2018-04-01', '1DEMO0000420004']],
  },
];

const KUNDEN: Kunde[] = SEEDS.map(({ konto: _konto, vertraege, anrede, vorname, nachname, firma, ...k }) => ({
  ...k, anrede: anrede ?? null, vorname: vorname ?? null, nachname: nachname ?? null, firma: firma ?? null, vertraege: vertraege.map(([nr]) => nr),
}));
const VERTRAEGE: Vertrag[] = SEEDS.flatMap((seed, i) => seed.vertraege.map(([nr, sparte, tarif, abschlag, beginn, zaehler, extra]): Vertrag => {
  const { typ, anrede, vorname, nachname, firma, email, telefon } = KUNDEN[i]!;
  return {
    vertragsnummer: nr, kundennummer: seed.kundennummer, status: 'aktiv', sparte, tarif, abschlag, vertragsbeginn: beginn, vertragsende: null,
    zaehlernummer: zaehler, iban: germanIban(seed.konto), kunde: { typ, anrede, vorname, nachname, firma, email, telefon },
    lieferanschrift: seed.anschrift, rechnungsanschrift: null, ...extra,
  };
}));

// The same records as deskhook's Contract and Customer, mapped as docs/examples/erp-adapter.ts maps
// them, so local and live mode show the same thing (plus the IBAN, which the local search uses).
const euro = (n: number) => `${n.toFixed(2).replace('.', ',').replace(/\B(?=(\d{3})+(?!\d))/g, '.')} €`;
const date = (iso: string) => iso.split('-').reverse().join('.');
const address = (a: Anschrift) => `${a.strasse} ${a.hausnummer}, ${a.plz} ${a.ort}`;

function toContract(v: Vertrag, ui: string): Record<string, unknown> {
  const business = v.kunde.typ === 'gewerbe';
  return {
    id: v.vertragsnummer, customerId: v.kundennummer, business, lastname: business ? null : v.kunde.nachname, company: business ? v.kunde.firma : null,
    firstname: business ? null : v.kunde.vorname, email: v.kunde.email, phone: v.kunde.telefon, deliveryAddress: address(v.lieferanschrift),
    billingAddress: v.rechnungsanschrift ? address(v.rechnungsanschrift) : null, zip: v.lieferanschrift.plz,
    agentPreview: [
      { label: 'Tarif', value: `${v.sparte}: ${v.tarif}` },
      { label: 'Abschlag', value: `${euro(v.abschlag)} / Monat` },
      { label: 'Status', value: v.status, tooltip: v.vertragsende ? `${date(v.vertragsbeginn)} – ${date(v.vertragsende)}` : `seit ${date(v.vertragsbeginn)}` },
      { label: 'Zähler', value: v.zaehlernummer },
    ],
    erpUrls: [{ url: `${ui}/vertraege/${v.vertragsnummer}`, icon: 'contract' }, { url: `${ui}/kunden/${v.kundennummer}`, icon: 'customer' }],
    meterNumber: v.zaehlernummer, street: v.lieferanschrift.strasse, houseNumber: v.lieferanschrift.hausnummer, city: v.lieferanschrift.ort,
    status: v.status, tariff: v.tarif, iban: v.iban,
  };
}

function toCustomer(k: Kunde, ui: string): Record<string, unknown> {
  const business = k.typ === 'gewerbe';
  return {
    id: k.kundennummer, business, lastname: business ? null : k.nachname, company: business ? k.firma : null, firstname: business ? null : k.vorname,
    email: k.email, phone: k.telefon, billingAddress: address(k.anschrift), zip: k.anschrift.plz, street: k.anschrift.strasse,
    houseNumber: k.anschrift.hausnummer, city: k.anschrift.ort, contractIds: k.vertraege,
    agentPreview: [{ label: 'Kunde seit', value: date(k.kundeSeit) }], erpUrls: [{ url: `${ui}/kunden/${k.kundennummer}`, icon: 'customer' }],
  };
}

// ---------------------------------------------------------------------------------------------
// Small HTTP servers on 127.0.0.1
// ---------------------------------------------------------------------------------------------

type Say = (line: string) => void;
interface Aux { url: string; close(): Promise<void> }

async function listen(server: Server | SMTPServer): Promise<number> {
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const s = server instanceof SMTPServer ? server.server : server;
  return (s.address() as { port: number }).port;
}

function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((done) => server.close(() => done()));
}

function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) req.destroy(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json; charset=utf-8') =>
  res.writeHead(status, { 'content-type': type }).end(typeof body === 'string' ? body : JSON.stringify(body));

/** Lower case, umlauts both as "u" and "ue", so "muller" and "mueller" find "Müller". */
function words(text: string): string[] {
  const lower = text.toLowerCase();
  const german = lower.replace(/ä/g, 'ae').replace(/ö/g, 'oe').replace(/ü/g, 'ue').replace(/ß/g, 'ss');
  return `${lower.normalize('NFD').replace(/\p{M}+/gu, '')} ${german}`.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}
const compact = (s: string | null) => (s ?? '').replace(/\s+/g, '').toUpperCase();
const same = (a: string | null, b: string) => (a ?? '').toLowerCase() === b.toLowerCase();

const FILTERS: Record<string, (v: Vertrag, x: string) => boolean> = {
  vertragsnummer: (v, x) => v.vertragsnummer === x, kundennummer: (v, x) => v.kundennummer === x,
  zaehlernummer: (v, x) => compact(v.zaehlernummer) === compact(x), iban: (v, x) => compact(v.iban) === compact(x),
  email: (v, x) => same(v.kunde.email, x), nachname: (v, x) => same(v.kunde.nachname, x), firma: (v, x) => same(v.kunde.firma, x),
  vorname: (v, x) => same(v.kunde.vorname, x), plz: (v, x) => v.lieferanschrift.plz === x, ort: (v, x) => same(v.lieferanschrift.ort, x),
};

/** The demo ERP: what docs/examples/erp-adapter.ts expects, plus "screens" for the quick links. */
async function startErp(say: Say): Promise<Aux & { api: string; ui: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://erp');
    const q = Object.fromEntries(url.searchParams);
    const path = decodeURIComponent(url.pathname);
    if (req.method !== 'GET') return send(res, 405, { fehler: 'nur GET' });
    let m = /^\/ui\/(vertraege|kunden)\/([^/]+)$/.exec(path);
    if (m) {
      const record = m[1] === 'vertraege' ? VERTRAEGE.find((v) => v.vertragsnummer === m![2]) : KUNDEN.find((k) => k.kundennummer === m![2]);
      const esc = (s: string) => s.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
      return send(res, record ? 200 : 404, `<!doctype html><meta charset="utf-8"><title>Demo-ERP ${esc(m[2]!)}</title><h1>Demo-ERP: ${esc(m[2]!)}</h1><pre>${esc(JSON.stringify(record ?? 'nicht gefunden', null, 2))}</pre>`, 'text/html; charset=utf-8');
    }
    if (!path.startsWith('/api/v1/')) return send(res, 404, { fehler: 'unbekannter Pfad', api: '/api/v1/vertraege, /api/v1/kunden (Header x-api-key)' });
    if (req.headers['x-api-key'] !== ERP_API_KEY) return send(res, 401, { fehler: 'API-Schlüssel fehlt oder ist ungültig' });
    say(`[demo ERP] GET ${url.pathname}${url.search}`);
    const page = <T>(list: T[]) => ({ treffer: list.slice(Number(q.offset ?? 0), Number(q.offset ?? 0) + Number(q.limit ?? 50)), gesamt: list.length });
    if ((m = /^\/api\/v1\/vertraege\/([^/]+)$/.exec(path))) {
      const v = VERTRAEGE.find((x) => x.vertragsnummer === m![1]);
      return v ? send(res, 200, v) : send(res, 404, { fehler: 'Vertrag nicht gefunden' });
    }
    if ((m = /^\/api\/v1\/kunden\/([^/]+)$/.exec(path))) {
      const k = KUNDEN.find((x) => x.kundennummer === m![1]);
      return k ? send(res, 200, k) : send(res, 404, { fehler: 'Kunde nicht gefunden' });
    }
    if (path === '/api/v1/kunden') {
      const wanted = words(q.suche ?? '');
      return send(res, 200, page(KUNDEN.filter((k) => {
        const text = words([k.kundennummer, k.vorname, k.nachname, k.firma, k.email, k.anschrift.ort, k.anschrift.strasse].filter(Boolean).join(' '));
        return wanted.length > 0 && wanted.every((w) => text.some((t) => t.startsWith(w)));
      })));
    }
    if (path === '/api/v1/vertraege') {
      const filters = Object.entries(q).filter(([k]) => k !== 'limit' && k !== 'offset');
      const unknown = filters.find(([k]) => !FILTERS[k]);
      if (unknown || !filters.length) return send(res, 400, { fehler: unknown ? `unbekannter Parameter ${unknown[0]}` : 'mindestens ein Suchparameter' });
      return send(res, 200, page(VERTRAEGE.filter((v) => filters.every(([k, x]) => FILTERS[k]!(v, x)))));
    }
    return send(res, 404, { fehler: 'unbekannter Pfad' });
  });
  const url = `http://127.0.0.1:${await listen(server)}`;
  return { url, api: `${url}/api/v1`, ui: `${url}/ui`, close: () => closeHttp(server) };
}

const IBAN_LIKE = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/;

/** What the demo receiver answers to the email account's synchronous webhooks (docs/webhooks.md). */
function answerWebhook(input: any): Record<string, unknown> {
  const tags: string[] = input.ticket?.tags ?? [];
  if (input.hook === 'newEmails' && input.direction === 'in' && /st(?:ö|oe)rung/i.test(String(input.email?.subject ?? '').normalize('NFC'))) {
    return {
      ticket: { priority: 'high', addTags: ['demo'] },
      note: 'Demo-Webhook: Störungsmeldung erkannt, Priorität auf hoch gesetzt. Bitte die Netzleitstelle informieren. '
        + 'Schließen lässt sich das Ticket erst mit dem Tag „behoben“.',
    };
  }
  if (input.hook === 'newEmails' && input.direction === 'out' && IBAN_LIKE.test(`${input.email?.subject ?? ''}\n${input.email?.bodyPlain ?? ''}`)) {
    return { abort: true, message: 'Demo-Webhook: diese E-Mail enthält etwas, das wie eine IBAN aussieht, und wird nicht gesendet.' };
  }
  if (input.hook === 'ticketUpdates' && input.userId !== null && input.changes?.status === 'closed' && tags.includes('demo') && !tags.includes('behoben')) {
    return { abort: true, message: 'Demo-Webhook: eine Störung wird erst geschlossen, wenn sie behoben ist. Setzen Sie das Tag „behoben“ und schließen Sie dann.' };
  }
  return {};
}

/** The demo webhook receiver: synchronous hooks on /webhook, event deliveries on /events, both verified. */
async function startReceiver(say: Say): Promise<Aux & { verifyWith(path: '/webhook' | '/events', secret: string): void }> {
  const verifiers = new Map<string, Webhook>();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://receiver').pathname;
    if (req.method !== 'POST' || (path !== '/webhook' && path !== '/events')) {
      return send(res, 404, { hint: 'POST /webhook (synchronous webhooks) or POST /events (event hooks)' });
    }
    readBody(req).then((raw) => {
      const verifier = verifiers.get(path);
      let input: any;
      try {
        input = verifier ? verifier.verify(raw, req.headers as Record<string, string>) : JSON.parse(raw);
      } catch {
        say(`[demo receiver] ${path}: refused a request with a wrong signature`);
        return send(res, 401, { error: 'invalid signature' });
      }
      if (path === '/events') {
        say(`[demo receiver] event ${input.type}${input.data?.ticketId ? ` (ticket ${input.data.ticketId})` : ''}`);
        return send(res, 200, { received: input.id });
      }
      const answer = answerWebhook(input);
      const what = input.hook === 'newEmails' ? `newEmails ${input.direction}` : `ticketUpdates ${JSON.stringify(input.changes ?? {})}`;
      say(`[demo receiver] ${what} on ticket ${input.ticketId ?? '(test)'}: ${Object.keys(answer).length ? JSON.stringify(answer) : 'no change'}`);
      return send(res, 200, answer);
    }, () => send(res, 400, { error: 'unreadable body' }));
  });
  const url = `http://127.0.0.1:${await listen(server)}`;
  return { url, verifyWith: (path, secret) => verifiers.set(path, new Webhook(secret)), close: () => closeHttp(server) };
}

/** The account's outbound SMTP server: catches what agents send and prints it. */
async function startMailbox(say: Say): Promise<Aux & { port: number }> {
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, closeTimeout: 500,
    onData(stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        const to = [mail.to ?? []].flat().map((a) => a.text).join(', ');
        say(`[demo mailbox] sent to ${to}: "${mail.subject ?? ''}"`);
        callback();
      }, (err: Error) => callback(err));
    },
  });
  const port = await listen(server);
  return { port, url: `smtp://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
}

// ---------------------------------------------------------------------------------------------
// Sample mail
// ---------------------------------------------------------------------------------------------

const SAMPLE_EMAILS = [
  {
    from: '"Erika Mustermann" <erika.mustermann@example.com>', subject: 'Zählerstand Strom',
    text: 'Guten Tag,\n\nhier mein Zählerstand für den Stromzähler 1DEMO0000410001: 12.345 kWh, abgelesen am 28.11.\nVertragsnummer: V-410001\n\nViele Grüße\nErika Mustermann\n',
  },
  {
    from: '"Jürgen Schäfer" <juergen.privat@example.net>', subject: 'Frage zur Ratenzahlung',
    text: 'Sehr geehrte Damen und Herren,\n\ndie Jahresabrechnung ist dieses Jahr leider sehr hoch ausgefallen. Kann ich die Nachzahlung in Raten begleichen, z. B. in sechs Monatsraten?\n\n'
      + 'Mit freundlichen Grüßen\nJürgen Schäfer\nLindenallee 7\n54321 Beispielhausen\n',
  },
  {
    from: '"Bäckerei Sonnenschein" <info@baeckerei-sonnenschein.example>', subject: 'Störung: kein Strom in der Backstube',
    text: 'Hallo,\n\nseit heute 4 Uhr haben wir in der Backstube am Marktplatz 3 keinen Strom, die Öfen sind aus. Bitte schicken Sie dringend jemanden!\n\nBäckerei Sonnenschein GmbH\nTel. 089 99998103\n',
  },
  {
    from: '"Mehmet Yilmaz" <m.yilmaz@example.com>', subject: 'Moving out - please end my heating contract',
    text: 'Hello,\n\nI am moving out of my flat at Gartenweg 2a, 54322 Beispielhausen on 31 January. Please end my contract number V-410005 on that date and send the final bill to my new address: '
      + 'Hafenstraße 8, 12345 Musterstadt.\n\nThe meter reading will follow on the day I move out.\n\nBest regards,\nMehmet Yilmaz\n',
  },
  {
    from: '"Paula Neugier" <paula.neugier@example.net>', subject: 'Was kostet Ökostrom bei Ihnen?',
    text: 'Hallo,\n\nich ziehe bald nach Musterstadt und überlege, zu Ihnen zu wechseln. Was kostet Ihr Ökostrom-Tarif für 2.500 kWh im Jahr?\n\nDanke und viele Grüße\nPaula Neugier\n',
  },
] as const;

// ---------------------------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------------------------

export interface DemoOptions {
  /** Default DESKHOOK_DEMO_DATA_DIR, else ./data-demo. Deleted at every start (only if a demo created it). */
  dataDir?: string;
  /** HTTP port; default PORT, else 3000 (0 picks a free one). */
  port?: number;
  /** SMTP port; default DESKHOOK_SMTP_PORT, else 2525 (0 picks a free one). */
  smtpPort?: number;
  env?: NodeJS.ProcessEnv;
  /** Where the demo's lines go; default stdout. */
  say?: Say;
}

export interface RunningDemo {
  server: RunningServer;
  url: string;
  smtpPort: number;
  erpUrl: string;
  receiverUrl: string;
  stop(): Promise<void>;
}

/** Deletes the demo's data directory, refusing anything a demo did not create. */
function freshDataDir(dir: string, say: Say): void {
  const path = resolve(dir);
  if (existsSync(path) && readdirSync(path).length > 0) {
    if (!existsSync(join(path, MARKER))) {
      throw new ConfigError('DESKHOOK_DEMO_DATA_DIR', `${dir} exists and was not created by \`deskhook demo\`; remove it yourself or choose another directory`);
    }
    say(`deskhook demo: deleting ${dir} (the demo starts fresh every time)`);
    rmSync(path, { recursive: true, force: true });
  }
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, MARKER), 'Created by `deskhook demo`; deleted at its next start.\n');
}

/** The docs' ERP adapter, unchanged except for where the demo ERP listens. */
function adapterCode(erp: { api: string; ui: string }): string {
  const source = readFileSync(new URL('../../docs/examples/erp-adapter.ts', import.meta.url), 'utf8');
  const code = source
    .replace(/^const ERP_BASE_URL = '[^']*';$/m, `const ERP_BASE_URL = '${erp.api}';`)
    .replace(/^const ERP_UI_URL = '[^']*';$/m, `const ERP_UI_URL = '${erp.ui}';`);
  if (!code.includes(erp.api) || !code.includes(erp.ui)) throw new Error('docs/examples/erp-adapter.ts no longer declares ERP_BASE_URL and ERP_UI_URL as the demo expects');
  return code;
}

export async function runDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const env = options.env ?? process.env;
  const say = options.say ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const dataDir = options.dataDir ?? env.DESKHOOK_DEMO_DATA_DIR ?? './data-demo';
  freshDataDir(dataDir, say);
  const config = loadConfig(env, {
    DESKHOOK_DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '', DESKHOOK_ROLE: 'all',
    DESKHOOK_ADMIN_EMAIL: DEMO_ADMIN.email, DESKHOOK_ADMIN_PASSWORD: DEMO_ADMIN.password,
    DESKHOOK_SMTP_AUTH_USER: '', DESKHOOK_SMTP_AUTH_PASSWORD: '',
    DESKHOOK_EGRESS_ALLOW: [env.DESKHOOK_EGRESS_ALLOW, '127.0.0.1'].filter(Boolean).join(','),
    // The demo talks to the terminal; JSON log lines only for warnings unless asked for.
    DESKHOOK_LOG_LEVEL: env.DESKHOOK_LOG_LEVEL || 'warn',
    PORT: options.port, DESKHOOK_SMTP_PORT: options.smtpPort,
  });
  const server = await serve(config, 'all');
  const aux: Aux[] = [];
  const stop = async () => {
    await server.stop();
    await Promise.all(aux.splice(0).map((a) => a.close()));
  };
  try {
    const erp = await startErp(say);
    const receiver = await startReceiver(say);
    const mailbox = await startMailbox(say);
    aux.push(erp, receiver, mailbox);
    const smtpPort = server.smtpPort!;
    const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
    const base = `http://${host.includes(':') ? `[${host}]` : host}:${server.port}`;
    const api = await apiClient(base);

    await api('PUT', '/secrets/ERP_API_KEY', { value: ERP_API_KEY });
    const executor = { type: 'sourceCode', language: 'typescript', code: adapterCode(erp) };
    await api('PUT', '/erp', { mode: 'local', executors: { contractById: executor, customerById: executor, searchContracts: executor, searchCustomers: executor } });
    const lines = [...VERTRAEGE.map((v) => ({ type: 'contract', ...toContract(v, erp.ui) })), ...KUNDEN.map((k) => ({ type: 'customer', ...toCustomer(k, erp.ui) }))];
    await api('POST', '/erp/import', lines.map((l) => JSON.stringify(l)).join('\n'), 'application/x-ndjson');
    await api('PUT', '/recognition/settings', { ownDomains: ['stadtwerke-demo.local'] });

    const hook = { type: 'apiCall', url: `${receiver.url}/webhook` };
    const account = await api('POST', '/email-accounts', {
      name: 'Stadtwerke Demo Kundenservice', address: DEMO_ACCOUNT_ADDRESS, inbound: { type: 'smtp' },
      outbound: { host: '127.0.0.1', port: mailbox.port, secure: false, user: null, senderName: 'Stadtwerke Demo Kundenservice' },
      webhooks: { enabled: true, ticketUpdates: hook, newEmails: hook, timeoutMs: 5000, failurePolicy: 'notify' },
    });
    receiver.verifyWith('/webhook', (await api('GET', `/email-accounts/${account.id}/webhooks/signing-secret`)).signingSecret);
    const eventHook = await api('POST', '/event-hooks', {
      name: 'Demo receiver', events: ['TicketCreated', 'TicketUpdated'], executor: { type: 'apiCall', url: `${receiver.url}/events` }, orderingKey: 'ticket',
    });
    receiver.verifyWith('/events', (await api('GET', `/event-hooks/${eventHook.id}/signing-secret`)).signingSecret);

    const transport = nodemailer.createTransport({ host, port: smtpPort, secure: false, ignoreTLS: true });
    try {
      for (const mail of SAMPLE_EMAILS) await transport.sendMail({ ...mail, to: DEMO_ACCOUNT_ADDRESS });
    } finally {
      transport.close();
    }
    const deadline = Date.now() + 20_000;
    while ((await api('GET', `/tickets?emailAccountId=${account.id}`)).items.length < SAMPLE_EMAILS.length && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 200));
    }

    say([
      '',
      `  deskhook demo is ready: ${base}`,
      `    log in:            ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`,
      `    inbound SMTP:      ${host}:${smtpPort}, for ${DEMO_ACCOUNT_ADDRESS}`,
      `    demo ERP API:      ${erp.api} (header x-api-key: ${ERP_API_KEY}, stored as secret ERP_API_KEY)`,
      `    demo receiver:     ${receiver.url} (webhooks and events; it prints what it gets)`,
      `    demo mailbox:      127.0.0.1:${mailbox.port} (replies end here, nothing leaves this machine)`,
      `    data:              ${dataDir} (deleted at the next start)`,
      '',
      '  What to click first:',
      `    1. Inbox: ${SAMPLE_EMAILS.length} sample emails became tickets. Open "Zählerstand Strom": the customer panel shows`,
      '       Erika Mustermann\'s contract V-410001, recognised and legitimised (level 20); the activity log says why.',
      '    2. Open "Störung: kein Strom in der Backstube": the demo webhook set priority high, the tag "demo" and a note.',
      '       Close it: the webhook refuses until the ticket has the tag "behoben".',
      '    3. Reply to a ticket: the demo mailbox catches it and this terminal prints it.',
      '    4. Search bar: "mueller" finds Anna and Max Müller with their contracts.',
      '    5. Settings > ERP Integration: switch the mode to live (the adapter is stored) and press Test on',
      '       contractById with {"contractId": "V-410001"}: the answer now comes from the demo ERP API.',
      '    6. Settings > Email accounts > Stadtwerke Demo: the webhook invocation log. Settings > Events: the deliveries.',
      `  More mail: swaks --server ${host}:${smtpPort} --to ${DEMO_ACCOUNT_ADDRESS} --from you@example.com --header 'Subject: Störung'`,
      '  Ctrl-C stops everything.',
      '',
    ].join('\n'));
    return { server, url: base, smtpPort, erpUrl: erp.api, receiverUrl: receiver.url, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Logs in as the demo admin; the client throws on any answer that is not 2xx. */
async function apiClient(base: string): Promise<(method: string, path: string, body?: unknown, type?: string) => Promise<any>> {
  let token = '';
  const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': type } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`demo setup: ${method} /api/v1${path} answered ${res.status}: ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : null;
  };
  token = (await call('POST', '/auth/login', { email: DEMO_ADMIN.email, password: DEMO_ADMIN.password })).token;
  return call;
}

/** `deskhook demo`: runs until SIGINT (Ctrl-C) or SIGTERM, then stops everything it started. */
export async function runDemoCommand(): Promise<void> {
  const demo = await runDemo();
  const onSignal = () => {
    process.stdout.write('\ndeskhook demo: stopping …\n');
    demo.stop().then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`deskhook demo: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
