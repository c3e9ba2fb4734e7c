/**
 * A complete ERP adapter for deskhook's `live` ERP mode (docs/erp.md), as custom code.
 *
 * deskhook calls one executor per ERP operation. This module handles all four, so the same code
 * can be configured for each of them (`PUT /api/v1/erp`, see docs/erp.md); it tells the
 * operations apart by their input:
 *
 *   {q, limit, offset}                          -> searchCustomers: [{id}] customer ids
 *   {ticketId, ...characteristics}              -> searchContracts: {contractId, customerId} or null
 *   {contractId} (nothing else)                 -> contractById:    a Contract or null
 *   {customerId} (nothing else)                 -> customerById:    a Customer or null
 *   anything else (characteristics, no ticketId) -> searchContracts
 *
 * deskhook always sends `ticketId` with searchContracts (null when there is no ticket), and the
 * characteristics may include a `contractId` or `customerId` found in the message, so "has a
 * contractId" alone does not mean contractById. In a test run of searchContracts
 * (`POST /api/v1/erp/searchContracts/test`), include `"ticketId": null` in the input as well.
 *
 * The ERP (an example; adapt the paths and field names to yours) speaks German and answers JSON:
 *
 *   GET {ERP_BASE_URL}/vertraege/{vertragsnummer}          -> ErpVertrag, 404 if unknown
 *   GET {ERP_BASE_URL}/kunden/{kundennummer}               -> ErpKunde,   404 if unknown
 *   GET {ERP_BASE_URL}/kunden?suche=…&limit=…&offset=…     -> {treffer: ErpKunde[]}   (free text)
 *   GET {ERP_BASE_URL}/vertraege?email=…&plz=…&limit=…     -> {treffer: ErpVertrag[]} (every parameter must match)
 *
 * Every request carries the API key in `x-api-key`, read from the deskhook secret ERP_API_KEY
 * (`PUT /api/v1/secrets/ERP_API_KEY {"value": "…"}`). If the ERP is on an internal network, allow
 * its address in DESKHOOK_EGRESS_ALLOW.
 *
 * Tested: test/erp-adapter-example.test.ts runs this file, unchanged except for ERP_BASE_URL,
 * against a fake of this ERP through deskhook's HTTP API.
 */
import type { Ctx, CustomCode } from 'deskhook';

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

const ERP_BASE_URL = 'https://erp.stadtwerke.example/api/v1';
/** The ERP's own screens, for the quick links (`erpUrls`) on the ticket. */
const ERP_UI_URL = 'https://erp.stadtwerke.example/ui';
/** The deskhook secret holding the ERP's API key. */
const API_KEY_SECRET = 'ERP_API_KEY';

// ---------------------------------------------------------------------------------------------
// What deskhook sends and expects (docs/erp.md)
// ---------------------------------------------------------------------------------------------

interface Characteristics {
  contractId?: string;
  customerId?: string;
  firstname?: string;
  lastname?: string;
  company?: string;
  email?: string;
  phone?: string;
  meterNumber?: string;
  iban?: string;
  street?: string;
  houseNumber?: string;
  postalCode?: string;
  city?: string;
}

type Input =
  | { contractId: string | number }
  | { customerId: string | number }
  | { q: string; limit: number; offset: number }
  | (Characteristics & { ticketId?: number | null });

interface AgentPreviewItem { label: string; value: string; tooltip?: string; url?: string }
interface ErpUrl { url: string; icon: string }

/** deskhook's Contract: mandatory id, customerId, business, lastname (unless business), company (if business). */
interface Contract {
  id: string;
  customerId: string;
  business: boolean;
  lastname: string | null;
  company: string | null;
  firstname: string | null;
  email: string | null;
  phone: string | null;
  deliveryAddress: string | null;
  billingAddress: string | null;
  zip: string | null;
  agentPreview: AgentPreviewItem[];
  erpUrls: ErpUrl[];
  /** Any further field is kept as given (see `toContract`). */
  [extra: string]: unknown;
}

/** deskhook's Customer: like a Contract's person, plus contractIds (at least one). */
interface Customer {
  id: string;
  business: boolean;
  lastname: string | null;
  company: string | null;
  contractIds: string[];
  [extra: string]: unknown;
}

interface ContractMatch { contractId: string; customerId: string }

// ---------------------------------------------------------------------------------------------
// What the ERP answers
// ---------------------------------------------------------------------------------------------

interface ErpAnschrift {
  strasse: string;
  hausnummer: string;
  plz: string;
  ort: string;
}

interface ErpPerson {
  typ: 'privat' | 'gewerbe';
  anrede: string | null;
  vorname: string | null;
  nachname: string | null;
  firma: string | null;
  email: string | null;
  telefon: string | null;
}

interface ErpVertrag {
  vertragsnummer: string;
  kundennummer: string;
  status: 'aktiv' | 'gekündigt' | 'entwurf';
  sparte: 'Strom' | 'Gas' | 'Wärme';
  tarif: string;
  /** Monthly instalment in euro. */
  abschlag: number;
  vertragsbeginn: string;
  vertragsende: string | null;
  zaehlernummer: string | null;
  kunde: ErpPerson;
  lieferanschrift: ErpAnschrift;
  rechnungsanschrift: ErpAnschrift | null;
}

interface ErpKunde extends ErpPerson {
  kundennummer: string;
  anschrift: ErpAnschrift;
  kundeSeit: string;
  /** Vertragsnummern. */
  vertraege: string[];
}

interface ErpTrefferliste<T> { treffer: T[] }

// ---------------------------------------------------------------------------------------------
// The executor
// ---------------------------------------------------------------------------------------------

const erpAdapter: CustomCode<Input, Contract | Customer | ContractMatch | Array<{ id: string }> | null> = async (input, ctx) => {
  const erp = await erpClient(ctx);
  const keys = Object.keys(input);
  if ('q' in input) return searchCustomers(erp, input);
  if ('ticketId' in input) return searchContracts(erp, ctx, input);
  if (keys.length === 1 && 'contractId' in input) return contractById(erp, String(input.contractId));
  if (keys.length === 1 && 'customerId' in input) return customerById(erp, String(input.customerId));
  return searchContracts(erp, ctx, input as Characteristics);
};
export default erpAdapter;

async function contractById(erp: ErpClient, id: string): Promise<Contract | null> {
  const vertrag = await erp.get<ErpVertrag>(`/vertraege/${encodeURIComponent(id.trim())}`);
  // null: "no such contract" (deskhook caches that for its notFound TTL and answers 404).
  return vertrag ? toContract(vertrag) : null;
}

async function customerById(erp: ErpClient, id: string): Promise<Customer | null> {
  const kunde = await erp.get<ErpKunde>(`/kunden/${encodeURIComponent(id.trim())}`);
  // Someone without a contract (a prospect) is not a customer for deskhook.
  if (!kunde || kunde.vertraege.length === 0) return null;
  return toCustomer(kunde);
}

/** The agent's search bar: the ERP's own free-text search; deskhook loads each customer by id. */
async function searchCustomers(erp: ErpClient, input: { q: string; limit: number; offset: number }): Promise<Array<{ id: string }>> {
  const list = await erp.get<ErpTrefferliste<ErpKunde>>(`/kunden${query({ suche: input.q, limit: input.limit, offset: input.offset })}`);
  return (list?.treffer ?? []).map((k) => ({ id: k.kundennummer }));
}

/**
 * At most one contract for what was found in a message. The most specific characteristics are
 * tried first; the first query that finds exactly one contract decides. A query that finds
 * several is ambiguous and the next one is tried; when none decides, the answer is null
 * ("not recognised"), never a guess.
 */
async function searchContracts(erp: ErpClient, ctx: Ctx, input: Characteristics & { ticketId?: number | null }): Promise<ContractMatch | null> {
  for (const params of searchQueries(input)) {
    const list = await erp.get<ErpTrefferliste<ErpVertrag>>(`/vertraege${query({ ...params, limit: 2 })}`);
    const found = list?.treffer ?? [];
    if (found.length === 1) {
      ctx.log('found', found[0]!.vertragsnummer, 'by', Object.keys(params).join('+'));
      return { contractId: found[0]!.vertragsnummer, customerId: found[0]!.kundennummer };
    }
    if (found.length > 1) ctx.log('ambiguous:', Object.keys(params).join('+'), 'matches several contracts');
  }
  return null;
}

/** The ERP queries for the characteristics, most specific first (ticketId is not sent). */
function searchQueries(c: Characteristics): Array<Record<string, string>> {
  const queries: Array<Record<string, string>> = [];
  const compact = (s: string) => s.replace(/\s+/g, '');
  if (c.contractId) queries.push({ vertragsnummer: c.contractId.trim() });
  if (c.customerId) queries.push({ kundennummer: c.customerId.trim() });
  if (c.meterNumber) queries.push({ zaehlernummer: compact(c.meterNumber).toUpperCase() });
  if (c.iban) queries.push({ iban: compact(c.iban).toUpperCase() });
  if (c.email) queries.push({ email: c.email.trim().toLowerCase() });
  // A name alone is not specific enough: it needs the postal code, else the city, else the first name.
  const name: Record<string, string> | null = c.company ? { firma: c.company.trim() } : c.lastname ? { nachname: c.lastname.trim() } : null;
  if (name && c.postalCode) queries.push({ ...name, plz: c.postalCode.trim() });
  else if (name && c.city) queries.push({ ...name, ort: c.city.trim() });
  else if (name && c.firstname && !c.company) queries.push({ ...name, vorname: c.firstname.trim() });
  return queries;
}

// ---------------------------------------------------------------------------------------------
// Mapping the ERP's records to deskhook's shapes
// ---------------------------------------------------------------------------------------------

function toContract(v: ErpVertrag): Contract {
  const k = v.kunde;
  const business = k.typ === 'gewerbe';
  const period = v.vertragsende ? `${date(v.vertragsbeginn)} – ${date(v.vertragsende)}` : `seit ${date(v.vertragsbeginn)}`;
  return {
    id: v.vertragsnummer,
    customerId: v.kundennummer,
    business,
    lastname: business ? null : k.nachname,
    company: business ? k.firma : null,
    firstname: business ? null : k.vorname,
    email: k.email ? k.email.toLowerCase() : null,
    phone: k.telefon,
    deliveryAddress: address(v.lieferanschrift),
    billingAddress: v.rechnungsanschrift ? address(v.rechnungsanschrift) : null, // null: same as delivery
    zip: v.lieferanschrift.plz,
    // Shown at the top right of the ticket.
    agentPreview: [
      { label: 'Tarif', value: `${v.sparte}: ${v.tarif}` },
      { label: 'Abschlag', value: `${euro(v.abschlag)} / Monat` },
      { label: 'Status', value: v.status, tooltip: period },
      ...(v.zaehlernummer ? [{ label: 'Zähler', value: v.zaehlernummer }] : []),
    ],
    // Quick links into the ERP.
    erpUrls: [
      { url: `${ERP_UI_URL}/vertraege/${encodeURIComponent(v.vertragsnummer)}`, icon: 'contract' },
      { url: `${ERP_UI_URL}/kunden/${encodeURIComponent(v.kundennummer)}`, icon: 'customer' },
    ],
    // Further fields are kept as given: webhooks and event hooks see them, and the customer
    // recognition compares meterNumber, street and city with what a message mentions.
    meterNumber: v.zaehlernummer,
    street: v.lieferanschrift.strasse,
    houseNumber: v.lieferanschrift.hausnummer,
    city: v.lieferanschrift.ort,
    status: v.status,
    tariff: v.tarif,
  };
}

function toCustomer(k: ErpKunde): Customer {
  const business = k.typ === 'gewerbe';
  return {
    id: k.kundennummer,
    business,
    lastname: business ? null : k.nachname,
    company: business ? k.firma : null,
    firstname: business ? null : k.vorname,
    email: k.email ? k.email.toLowerCase() : null,
    phone: k.telefon,
    billingAddress: address(k.anschrift),
    zip: k.anschrift.plz,
    street: k.anschrift.strasse,
    houseNumber: k.anschrift.hausnummer,
    city: k.anschrift.ort,
    contractIds: k.vertraege,
    agentPreview: [{ label: 'Kunde seit', value: date(k.kundeSeit) }],
    erpUrls: [{ url: `${ERP_UI_URL}/kunden/${encodeURIComponent(k.kundennummer)}`, icon: 'customer' }],
  };
}

function address(a: ErpAnschrift): string {
  return `${a.strasse} ${a.hausnummer}, ${a.plz} ${a.ort}`;
}

/** 1234.5 -> "1.234,50 €" (there is no Intl in the sandbox). */
function euro(amount: number): string {
  const [whole, cents] = amount.toFixed(2).split('.');
  return `${whole!.replace(/\B(?=(\d{3})+(?!\d))/g, '.')},${cents} €`;
}

/** "2024-01-31" -> "31.01.2024". */
function date(iso: string): string {
  const [y, m, d] = iso.slice(0, 10).split('-');
  return `${d}.${m}.${y}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

interface ErpClient {
  /** The parsed JSON of a 2xx answer, null for a 404; any other answer throws. */
  get<T>(path: string): Promise<T | null>;
}

async function erpClient(ctx: Ctx): Promise<ErpClient> {
  const apiKey = await ctx.secrets.get(API_KEY_SECRET); // a promise: await it
  if (apiKey === null) throw new Error(`the secret ${API_KEY_SECRET} is not set (PUT /api/v1/secrets/${API_KEY_SECRET})`);
  return {
    async get<T>(path: string): Promise<T | null> {
      const res = await ctx.fetch(`${ERP_BASE_URL}${path}`, { headers: { 'x-api-key': apiKey, accept: 'application/json' } });
      if (res.status === 404) return null;
      if (!res.ok) {
        // Throwing fails the run: deskhook serves a stale cached answer if it has one
        // (marked stale), otherwise the lookup fails with 502 erp_failed and this message.
        const hint = res.status === 401 || res.status === 403 ? ` (check the secret ${API_KEY_SECRET})` : '';
        throw new Error(`the ERP answered ${res.status} to GET ${path}${hint}: ${(await res.text()).slice(0, 200)}`);
      }
      return await res.json<T>();
    },
  };
}

/** "?a=1&b=x" from the non-empty parameters (there is no URLSearchParams in the sandbox). */
function query(params: Record<string, string | number>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
