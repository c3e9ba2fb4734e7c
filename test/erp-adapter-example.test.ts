import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

/**
 * docs/examples/erp-adapter.ts, the adapter docs/erp.md shows, read from disk and configured as
 * the sourceCode executor of all four ERP operations (only its ERP_BASE_URL is replaced), against
 * a fake of the REST ERP it is written for. Everything is driven through deskhook's HTTP API:
 * settings, secrets, lookups, searches, the test button and failures.
 */

const EXAMPLE = readFileSync(new URL('../docs/examples/erp-adapter.ts', import.meta.url), 'utf8');
const ERP_KEY = 'erp-key-7f3a9c2e51';

// ---------------------------------------------------------------------------------------------
// The fake ERP: German field names, an API key, 404 for unknown ids, two search endpoints
// ---------------------------------------------------------------------------------------------

interface Anschrift { strasse: string; hausnummer: string; plz: string; ort: string }
interface Person { typ: 'privat' | 'gewerbe'; anrede: string | null; vorname: string | null; nachname: string | null; firma: string | null; email: string | null; telefon: string | null }
interface Kunde extends Person { kundennummer: string; anschrift: Anschrift; kundeSeit: string; vertraege: string[] }
interface Vertrag {
  vertragsnummer: string; kundennummer: string; status: string; sparte: string; tarif: string; abschlag: number;
  vertragsbeginn: string; vertragsende: string | null; zaehlernummer: string | null; kunde: Person;
  lieferanschrift: Anschrift; rechnungsanschrift: Anschrift | null;
}

const anschrift = (strasse: string, hausnummer: string, plz: string, ort: string): Anschrift => ({ strasse, hausnummer, plz, ort });
const person = ({ typ, anrede, vorname, nachname, firma, email, telefon }: Kunde): Person => ({ typ, anrede, vorname, nachname, firma, email, telefon });

const KUNDEN: Kunde[] = [
  {
    kundennummer: 'K-5521', typ: 'privat', anrede: 'Frau', vorname: 'Erika', nachname: 'Mustermann', firma: null, email: 'Erika.Mustermann@example.com',
    telefon: '+49 30 123456', anschrift: anschrift('Hauptstraße', '12a', '12345', 'Musterstadt'), kundeSeit: '2019-03-01', vertraege: ['V-100234', 'V-100235'],
  },
  {
    kundennummer: 'K-6001', typ: 'gewerbe', anrede: null, vorname: null, nachname: null, firma: 'Bäckerei Schmitz GmbH', email: 'buero@baeckerei-schmitz.example',
    telefon: '+49 221 555000', anschrift: anschrift('Domstraße', '3', '50667', 'Köln'), kundeSeit: '2015-07-15', vertraege: ['V-200001'],
  },
  {
    kundennummer: 'K-6002', typ: 'privat', anrede: 'Herr', vorname: 'Jürgen', nachname: 'Müller', firma: null, email: 'j.mueller@example.com',
    telefon: '0221 987654', anschrift: anschrift('Ehrenstraße', '40', '50672', 'Köln'), kundeSeit: '2021-11-01', vertraege: ['V-300001'],
  },
  {
    kundennummer: 'K-6003', typ: 'privat', anrede: 'Frau', vorname: 'Anna', nachname: 'Müller', firma: null, email: 'anna.mueller@example.com',
    telefon: null, anschrift: anschrift('Sendlinger Straße', '8', '80331', 'München'), kundeSeit: '2023-02-01', vertraege: ['V-300002'],
  },
  // A prospect: known to the ERP, but without a contract, so not a customer for deskhook.
  {
    kundennummer: 'K-9999', typ: 'privat', anrede: 'Herr', vorname: 'Paul', nachname: 'Interessent', firma: null, email: 'paul@example.com',
    telefon: null, anschrift: anschrift('Weg', '1', '10115', 'Berlin'), kundeSeit: '2026-11-01', vertraege: [],
  },
];
const kunde = (nr: string) => KUNDEN.find((k) => k.kundennummer === nr)!;

const VERTRAEGE: Vertrag[] = [
  {
    vertragsnummer: 'V-100234', kundennummer: 'K-5521', status: 'aktiv', sparte: 'Strom', tarif: 'Strom Basis 2026', abschlag: 84.5,
    vertragsbeginn: '2024-01-01', vertragsende: null, zaehlernummer: '1ESY1161234567', kunde: person(kunde('K-5521')),
    lieferanschrift: kunde('K-5521').anschrift, rechnungsanschrift: null,
  },
  // Erika's second contract: same customer and email, another delivery address.
  {
    vertragsnummer: 'V-100235', kundennummer: 'K-5521', status: 'aktiv', sparte: 'Gas', tarif: 'Gas Komfort', abschlag: 61,
    vertragsbeginn: '2025-05-01', vertragsende: null, zaehlernummer: '7GMT0012345678', kunde: person(kunde('K-5521')),
    lieferanschrift: anschrift('Seeweg', '4', '23999', 'Insel Poel'), rechnungsanschrift: kunde('K-5521').anschrift,
  },
  {
    vertragsnummer: 'V-200001', kundennummer: 'K-6001', status: 'aktiv', sparte: 'Strom', tarif: 'Gewerbe Strom Plus', abschlag: 1234.5,
    vertragsbeginn: '2015-08-01', vertragsende: null, zaehlernummer: '1ESY1169999999', kunde: person(kunde('K-6001')),
    lieferanschrift: kunde('K-6001').anschrift, rechnungsanschrift: anschrift('Postfach', '10 20 30', '50442', 'Köln'),
  },
  {
    vertragsnummer: 'V-300001', kundennummer: 'K-6002', status: 'gekündigt', sparte: 'Strom', tarif: 'Öko Strom 24', abschlag: 52,
    vertragsbeginn: '2021-11-01', vertragsende: '2026-12-31', zaehlernummer: '1ESY1160123456', kunde: person(kunde('K-6002')),
    lieferanschrift: kunde('K-6002').anschrift, rechnungsanschrift: null,
  },
  {
    vertragsnummer: 'V-300002', kundennummer: 'K-6003', status: 'aktiv', sparte: 'Strom', tarif: 'Strom Basis 2026', abschlag: 70,
    vertragsbeginn: '2023-02-01', vertragsende: null, zaehlernummer: null, kunde: person(kunde('K-6003')),
    lieferanschrift: kunde('K-6003').anschrift, rechnungsanschrift: null,
  },
];

/** What the ERP was asked: path and query parameters, and whether the key was right. */
const requests: Array<{ path: string; params: Record<string, string>; keyOk: boolean }> = [];
const requestsTo = (path: string) => requests.filter((r) => r.path === path);

/** Lower case, umlauts both as "u" and "ue", so "muller" and "mueller" find "Müller". */
function words(text: string): string[] {
  const lower = text.toLowerCase();
  const plain = lower.normalize('NFD').replace(/\p{M}+/gu, '');
  const german = lower.replace(/ä/g, 'ae').replace(/ö/g, 'oe').replace(/ü/g, 'ue').replace(/ß/g, 'ss');
  return `${plain} ${german}`.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

const VERTRAG_FILTERS: Record<string, (v: Vertrag, value: string) => boolean> = {
  vertragsnummer: (v, x) => v.vertragsnummer === x,
  kundennummer: (v, x) => v.kundennummer === x,
  zaehlernummer: (v, x) => v.zaehlernummer === x.replace(/\s+/g, '').toUpperCase(),
  iban: () => false,
  email: (v, x) => v.kunde.email?.toLowerCase() === x.toLowerCase(),
  nachname: (v, x) => v.kunde.nachname?.toLowerCase() === x.toLowerCase(),
  firma: (v, x) => v.kunde.firma?.toLowerCase() === x.toLowerCase(),
  vorname: (v, x) => v.kunde.vorname?.toLowerCase() === x.toLowerCase(),
  plz: (v, x) => v.lieferanschrift.plz === x,
  ort: (v, x) => v.lieferanschrift.ort.toLowerCase() === x.toLowerCase(),
};

function erpAnswer(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://erp');
  const params = Object.fromEntries(url.searchParams);
  const keyOk = req.headers['x-api-key'] === ERP_KEY;
  requests.push({ path: url.pathname, params, keyOk });
  const send = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (req.method !== 'GET') return send(405, { fehler: 'nur GET' });
  if (!keyOk) return send(401, { fehler: 'API-Schlüssel fehlt oder ist ungültig' });
  const limit = Number(params.limit ?? 50);
  const offset = Number(params.offset ?? 0);

  let m = /^\/api\/v1\/vertraege\/([^/]+)$/.exec(url.pathname);
  if (m) {
    const vertrag = VERTRAEGE.find((v) => v.vertragsnummer === decodeURIComponent(m![1]!));
    return vertrag ? send(200, vertrag) : send(404, { fehler: 'Vertrag nicht gefunden' });
  }
  m = /^\/api\/v1\/kunden\/([^/]+)$/.exec(url.pathname);
  if (m) {
    const found = KUNDEN.find((k) => k.kundennummer === decodeURIComponent(m![1]!));
    return found ? send(200, found) : send(404, { fehler: 'Kunde nicht gefunden' });
  }
  if (url.pathname === '/api/v1/kunden') {
    // Free text: every word of the query is the start of a word of the customer.
    const q = words(params.suche ?? '');
    const treffer = KUNDEN.filter((k) => {
      const text = words([k.kundennummer, k.vorname, k.nachname, k.firma, k.email, k.anschrift.ort].filter(Boolean).join(' '));
      return q.length > 0 && q.every((w) => text.some((t) => t.startsWith(w)));
    });
    return send(200, { treffer: treffer.slice(offset, offset + limit), gesamt: treffer.length });
  }
  if (url.pathname === '/api/v1/vertraege') {
    const filters = Object.entries(params).filter(([k]) => k !== 'limit' && k !== 'offset');
    const unknown = filters.find(([k]) => !VERTRAG_FILTERS[k]);
    if (unknown) return send(400, { fehler: `unbekannter Parameter ${unknown[0]}` });
    if (!filters.length) return send(400, { fehler: 'mindestens ein Suchparameter' });
    const treffer = VERTRAEGE.filter((v) => filters.every(([k, x]) => VERTRAG_FILTERS[k]!(v, x)));
    return send(200, { treffer: treffer.slice(offset, offset + limit), gesamt: treffer.length });
  }
  send(404, { fehler: 'unbekannter Pfad' });
}

let erp: Server;
let erpBaseUrl: string;

beforeAll(async () => {
  erp = createServer(erpAnswer);
  await new Promise<void>((resolve) => erp.listen(0, '127.0.0.1', resolve));
  erpBaseUrl = `http://127.0.0.1:${(erp.address() as { port: number }).port}/api/v1`;
});
afterAll(async () => {
  erp.closeAllConnections();
  await new Promise<void>((resolve) => erp.close(() => resolve()));
});

/** The example as a team would deploy it: only the base URL is theirs. */
function adapterCode(): string {
  const code = EXAMPLE.replace(/^const ERP_BASE_URL = '[^']*';$/m, `const ERP_BASE_URL = '${erpBaseUrl}';`);
  expect(code).not.toBe(EXAMPLE);
  return code;
}

// ---------------------------------------------------------------------------------------------
// The adapter through deskhook
// ---------------------------------------------------------------------------------------------

describe.each(BACKENDS)('docs/examples/erp-adapter.ts against a REST ERP on %s', (kind) => {
  let t: TestApp;

  const setKey = async (value: string) => {
    const res = await t.api('PUT', '/api/v1/secrets/ERP_API_KEY', { value });
    expect(res.statusCode, res.body).toBe(200);
  };
  const get = (url: string) => t.api('GET', url, undefined, t.agentToken);
  const searchContracts = async (body: Record<string, unknown>) => {
    const res = await t.api('POST', '/api/v1/contracts/search', body, t.agentToken);
    expect(res.statusCode, res.body).toBe(200);
    return res.json().match;
  };
  const testRun = async (operation: string, input: Record<string, unknown>) => {
    const res = await t.api('POST', `/api/v1/erp/${operation}/test`, { input });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  beforeEach(async () => {
    t = await startTestApp(kind);
    requests.length = 0;
    await setKey(ERP_KEY);
    const executor = { type: 'sourceCode', language: 'typescript', code: adapterCode() };
    const res = await t.api('PUT', '/api/v1/erp', {
      mode: 'live', executors: { contractById: executor, customerById: executor, searchContracts: executor, searchCustomers: executor },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ mode: 'live', executors: { contractById: { type: 'sourceCode', language: 'typescript' } } });
  });
  afterEach(async () => {
    await t.close();
  });

  it('contractById: the ERP\'s record mapped to a Contract with agentPreview and erpUrls; cached; unknown ids are 404', async () => {
    const res = await get('/api/v1/contracts/V-100234');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-deskhook-cache']).toBe('miss');
    expect(res.json()).toEqual({
      id: 'V-100234', customerId: 'K-5521', business: false, lastname: 'Mustermann', company: null, firstname: 'Erika',
      email: 'erika.mustermann@example.com', phone: '+49 30 123456',
      deliveryAddress: 'Hauptstraße 12a, 12345 Musterstadt', billingAddress: null, zip: '12345',
      agentPreview: [
        { label: 'Tarif', value: 'Strom: Strom Basis 2026' },
        { label: 'Abschlag', value: '84,50 € / Monat' },
        { label: 'Status', value: 'aktiv', tooltip: 'seit 01.01.2024' },
        { label: 'Zähler', value: '1ESY1161234567' },
      ],
      erpUrls: [
        { url: 'https://erp.stadtwerke.example/ui/vertraege/V-100234', icon: 'contract' },
        { url: 'https://erp.stadtwerke.example/ui/kunden/K-5521', icon: 'customer' },
      ],
      meterNumber: '1ESY1161234567', street: 'Hauptstraße', houseNumber: '12a', city: 'Musterstadt', status: 'aktiv', tariff: 'Strom Basis 2026',
    });
    expect(requestsTo('/api/v1/vertraege/V-100234')).toEqual([{ path: '/api/v1/vertraege/V-100234', params: {}, keyOk: true }]);
    // The second lookup is deskhook's cache, not the ERP.
    expect((await get('/api/v1/contracts/V-100234')).headers['x-deskhook-cache']).toBe('hit');
    expect(requestsTo('/api/v1/vertraege/V-100234')).toHaveLength(1);

    // A business customer: company instead of lastname; a separate billing address.
    const business = (await get('/api/v1/contracts/V-200001')).json();
    expect(business).toMatchObject({
      id: 'V-200001', customerId: 'K-6001', business: true, company: 'Bäckerei Schmitz GmbH', lastname: null, firstname: null,
      billingAddress: 'Postfach 10 20 30, 50442 Köln', agentPreview: [{ label: 'Tarif' }, { label: 'Abschlag', value: '1.234,50 € / Monat' }, { label: 'Status' }, { label: 'Zähler' }],
    });
    expect((await get('/api/v1/contracts/V-300001')).json().agentPreview[2]).toEqual({ label: 'Status', value: 'gekündigt', tooltip: '01.11.2021 – 31.12.2026' });

    // The ERP's 404 is "no such contract" (the adapter returns null), remembered for the notFound TTL.
    const unknown = await get('/api/v1/contracts/V-404');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'not_found', detail: 'contract V-404 does not exist' });
    expect((await get('/api/v1/contracts/V-404')).statusCode).toBe(404);
    expect(requestsTo('/api/v1/vertraege/V-404')).toHaveLength(1);
  });

  it('customerById and the search bar: customers with their contracts, umlauts either way', async () => {
    const customer = await get('/api/v1/customers/K-5521');
    expect(customer.statusCode, customer.body).toBe(200);
    expect(customer.json()).toEqual({
      id: 'K-5521', business: false, lastname: 'Mustermann', company: null, firstname: 'Erika', email: 'erika.mustermann@example.com',
      phone: '+49 30 123456', billingAddress: 'Hauptstraße 12a, 12345 Musterstadt', zip: '12345', street: 'Hauptstraße', houseNumber: '12a',
      city: 'Musterstadt', contractIds: ['V-100234', 'V-100235'], agentPreview: [{ label: 'Kunde seit', value: '01.03.2019' }],
      erpUrls: [{ url: 'https://erp.stadtwerke.example/ui/kunden/K-5521', icon: 'customer' }],
    });
    // Unknown to the ERP, and known but without a contract: neither is a customer.
    expect((await get('/api/v1/customers/K-404')).statusCode).toBe(404);
    expect((await get('/api/v1/customers/K-9999')).statusCode).toBe(404);

    for (const q of ['m%C3%BCller', 'mueller', 'muller']) {
      const res = await get(`/api/v1/customers/search?q=${q}`);
      expect(res.statusCode, res.body).toBe(200);
      const { items, stale } = res.json();
      expect(stale).toBe(false);
      expect(items.map((c: { id: string }) => c.id), q).toEqual(['K-6002', 'K-6003']);
      expect(items[0]).toMatchObject({ id: 'K-6002', lastname: 'Müller', contracts: [{ id: 'V-300001', customerId: 'K-6002', agentPreview: [{ label: 'Tarif', value: 'Strom: Öko Strom 24' }, {}, {}, {}] }] });
    }
    expect(requestsTo('/api/v1/kunden')[0]!.params).toEqual({ suche: 'müller', limit: '10', offset: '0' });

    const erika = (await get('/api/v1/customers/search?q=Erika%20Muster')).json().items;
    expect(erika).toHaveLength(1);
    expect(erika[0].contracts.map((c: { id: string }) => c.id)).toEqual(['V-100234', 'V-100235']);
    expect((await get('/api/v1/customers/search?q=Schmitz')).json().items).toMatchObject([{ id: 'K-6001', company: 'Bäckerei Schmitz GmbH', contracts: [{ id: 'V-200001', business: true }] }]);
    expect((await get('/api/v1/customers/search?q=meier')).json().items).toEqual([]);
  });

  it('searchContracts: at most one contract, most specific characteristics first, ticketId never sent to the ERP', async () => {
    // A contract number found in a message is searched, not looked up: the answer is a match.
    expect(await searchContracts({ contractId: 'V-200001', ticketId: 3 })).toEqual({ contractId: 'V-200001', customerId: 'K-6001' });
    expect(await searchContracts({ meterNumber: '1esy 1161 2345 67' })).toEqual({ contractId: 'V-100234', customerId: 'K-5521' });

    // Erika's email belongs to two contracts: ambiguous, so the name with the postal code decides.
    requests.length = 0;
    expect(await searchContracts({ email: 'Erika.Mustermann@example.com', lastname: 'Mustermann', postalCode: '12345', ticketId: 5 }))
      .toEqual({ contractId: 'V-100234', customerId: 'K-5521' });
    expect(requests.map((r) => r.params)).toEqual([
      { email: 'erika.mustermann@example.com', limit: '2' },
      { nachname: 'Mustermann', plz: '12345', limit: '2' },
    ]);
    // Her customer number alone matches two contracts: no match rather than a guess.
    expect(await searchContracts({ customerId: 'K-5521', ticketId: 5 })).toBeNull();

    expect(await searchContracts({ lastname: 'Müller', city: 'Köln' })).toEqual({ contractId: 'V-300001', customerId: 'K-6002' });
    expect(await searchContracts({ company: 'Bäckerei Schmitz GmbH', postalCode: '50667' })).toEqual({ contractId: 'V-200001', customerId: 'K-6001' });
    expect(await searchContracts({ email: 'niemand@example.com' })).toBeNull();
    // A name alone is not enough: the adapter does not even ask.
    requests.length = 0;
    expect(await searchContracts({ lastname: 'Müller', ticketId: 9 })).toBeNull();
    expect(requests).toEqual([]);
  });

  it('the test button runs each operation through the adapter, without the cache', async () => {
    const contract = await testRun('contractById', { contractId: 'V-100234' });
    expect(contract).toMatchObject({ ok: true, error: null, output: { id: 'V-100234', customerId: 'K-5521', agentPreview: [{ label: 'Tarif' }, {}, {}, {}] } });
    expect(contract.durationMs).toBeGreaterThan(0);
    await testRun('contractById', { contractId: 'V-100234' });
    expect(requestsTo('/api/v1/vertraege/V-100234')).toHaveLength(2);

    expect(await testRun('customerById', { customerId: 'K-6003' })).toMatchObject({ ok: true, output: { id: 'K-6003', contractIds: ['V-300002'] } });
    expect(await testRun('customerById', { customerId: 'K-404' })).toMatchObject({ ok: true, output: null, error: null });
    expect(await testRun('searchCustomers', { q: 'Schmitz', limit: 10, offset: 0 })).toMatchObject({ ok: true, output: ['K-6001'] });
    const search = await testRun('searchContracts', { ticketId: null, contractId: 'V-300002' });
    expect(search).toMatchObject({ ok: true, output: { contractId: 'V-300002', customerId: 'K-6003' } });
    expect(search.logs).toEqual([expect.objectContaining({ level: 'log', message: 'found V-300002 by vertragsnummer' })]);
  });

  it('a wrong API key is 502 erp_failed (a cached answer is served stale instead); a missing one names the secret', async () => {
    expect((await get('/api/v1/contracts/V-100234')).statusCode).toBe(200);
    const wrongKey = 'wrong-key-0000';
    await setKey(wrongKey);

    const failed = await get('/api/v1/contracts/V-300001');
    expect(failed.statusCode).toBe(502);
    expect(failed.headers['content-type']).toContain('application/problem+json');
    const problem = failed.json();
    expect(problem).toMatchObject({ code: 'erp_failed' });
    expect(problem.detail).toContain('contractById: runtime_error');
    expect(problem.detail).toContain('the ERP answered 401 to GET /vertraege/V-300001 (check the secret ERP_API_KEY)');
    expect(problem.detail).not.toContain(wrongKey);
    expect(requestsTo('/api/v1/vertraege/V-300001')).toEqual([{ path: '/api/v1/vertraege/V-300001', params: {}, keyOk: false }]);

    // What deskhook has cached is served, marked stale, when the ERP fails.
    const stale = await get('/api/v1/contracts/V-100234?refresh=true');
    expect(stale.statusCode).toBe(200);
    expect(stale.headers['x-deskhook-cache']).toBe('stale');
    expect(stale.json()).toMatchObject({ id: 'V-100234', stale: true });

    expect((await get('/api/v1/customers/search?q=schmitz')).json()).toMatchObject({ code: 'erp_failed' });
    expect((await t.api('POST', '/api/v1/contracts/search', { email: 'j.mueller@example.com' }, t.agentToken)).statusCode).toBe(502);
    const button = await testRun('contractById', { contractId: 'V-300001' });
    expect(button).toMatchObject({ ok: false, output: null });
    expect(button.error).toContain('401');

    expect((await t.api('DELETE', '/api/v1/secrets/ERP_API_KEY')).statusCode).toBe(204);
    const missing = await get('/api/v1/contracts/V-300002');
    expect(missing.statusCode).toBe(502);
    expect(missing.json().detail).toContain('the secret ERP_API_KEY is not set');

    // Failed ERP calls: V-300001, the refresh, the two searches, V-300002 (test runs are not counted).
    const stats = (await t.api('GET', '/api/v1/erp/stats')).json();
    expect(stats).toMatchObject({ staleServed: 1, erpFailures: 5, shared: false });

    // With the right key again, the same lookup works.
    await setKey(ERP_KEY);
    expect((await get('/api/v1/contracts/V-300001')).json()).toMatchObject({ id: 'V-300001', customerId: 'K-6002' });
  });
});
