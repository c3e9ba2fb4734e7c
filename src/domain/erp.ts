import type { Executor } from './executor.ts';

/**
 * ERP records as deskhook reads them (Enneo's shapes): contracts and customers, the four
 * operations that fetch them, and the checks every answer of a team's ERP goes through.
 */
export const ERP_OPERATIONS = ['contractById', 'customerById', 'searchContracts', 'searchCustomers'] as const;
export type ErpOperation = (typeof ERP_OPERATIONS)[number];

export const ERP_MODES = ['local', 'live'] as const;
export type ErpMode = (typeof ERP_MODES)[number];

export interface ErpTtls {
  contractById: number;
  customerById: number;
  searchContracts: number;
  searchCustomers: number;
  /** How long "there is no such record" is remembered. */
  notFound: number;
}

/** Seconds: by id 15 min, searches 60 s, not found 30 s. */
export const DEFAULT_ERP_TTLS: ErpTtls = Object.freeze({ contractById: 900, customerById: 900, searchContracts: 60, searchCustomers: 60, notFound: 30 });

/** Settings → Integration of surrounding systems → ERP Integration. */
export interface ErpSettings {
  mode: ErpMode;
  executors: Partial<Record<ErpOperation, Executor>>;
  cacheTtlSeconds: ErpTtls;
  /** Deadline of one ERP call. */
  timeoutMs: number;
}

export const DEFAULT_ERP_SETTINGS: ErpSettings = Object.freeze({ mode: 'local', executors: {}, cacheTtlSeconds: DEFAULT_ERP_TTLS, timeoutMs: 10_000 });

export interface AgentPreviewItem { label: string; value: string; tooltip?: string; url?: string }
export interface ErpUrl { url: string; icon?: string }

/** Mandatory fields; every other field the ERP sends is kept as given. */
export interface Contract {
  id: string;
  customerId: string;
  business: boolean;
  lastname: string | null;
  company: string | null;
  [field: string]: unknown;
}

export interface Customer {
  id: string;
  business: boolean;
  lastname: string | null;
  company: string | null;
  contractIds: string[];
  [field: string]: unknown;
}

export interface ContractMatch {
  contractId: string;
  customerId: string;
  /** The ERP may decide the legitimation itself (0–30) and say why. */
  customerLegitimation?: number;
  customerLegitimationMessage?: string;
}

/** Characteristics the search by characteristics may receive (Enneo's default parameter names). */
export const CHARACTERISTICS = [
  'contractId', 'customerId', 'firstname', 'lastname', 'company', 'email', 'phone', 'meterNumber', 'iban', 'street', 'houseNumber',
  'postalCode', 'city',
] as const;
export type Characteristic = (typeof CHARACTERISTICS)[number];
export type Characteristics = Partial<Record<Characteristic, string>>;

export const MAX_CUSTOMER_IDS = 10;
const MAX_ID_LENGTH = 50;

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });

/** Ids are strings or integers of at most 50 characters; deskhook keeps them as strings. */
export function normaliseId(value: unknown): string | null {
  if (typeof value === 'number' && Number.isInteger(value)) value = String(value);
  if (typeof value !== 'string') return null;
  const id = value.trim();
  return id.length > 0 && id.length <= MAX_ID_LENGTH ? id : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkPerson(r: Record<string, unknown>, what: string): string | null {
  if (typeof r.business !== 'boolean') return `${what}.business must be true or false`;
  if (r.business) {
    if (typeof r.company !== 'string' || !r.company.trim()) return `${what}.company is required for a business ${what}`;
  } else if (typeof r.lastname !== 'string' || !r.lastname.trim()) {
    return `${what}.lastname is required unless the ${what} is a business`;
  }
  for (const field of ['firstname', 'email', 'phone', 'zip'] as const) {
    if (r[field] !== undefined && r[field] !== null && typeof r[field] !== 'string' && typeof r[field] !== 'number') return `${what}.${field} must be a string`;
  }
  if (r.agentPreview !== undefined && r.agentPreview !== null) {
    if (!Array.isArray(r.agentPreview)) return `${what}.agentPreview must be a list of {label, value}`;
    const bad = r.agentPreview.findIndex((p) => !isRecord(p) || typeof p.label !== 'string' || (typeof p.value !== 'string' && typeof p.value !== 'number'));
    if (bad >= 0) return `${what}.agentPreview[${bad}] needs a label and a value`;
  }
  if (r.erpUrls !== undefined && r.erpUrls !== null) {
    if (!Array.isArray(r.erpUrls)) return `${what}.erpUrls must be a list of {url, icon}`;
    const bad = r.erpUrls.findIndex((u) => !isRecord(u) || typeof u.url !== 'string');
    if (bad >= 0) return `${what}.erpUrls[${bad}].url is required`;
  }
  return null;
}

export function checkContract(value: unknown): Checked<Contract> {
  if (!isRecord(value)) return fail('a contract must be an object');
  const id = normaliseId(value.id);
  if (!id) return fail('contract.id is required (a string or an integer of at most 50 characters)');
  const customerId = normaliseId(value.customerId);
  if (!customerId) return fail('contract.customerId is required (a string or an integer of at most 50 characters)');
  const problem = checkPerson(value, 'contract');
  if (problem) return fail(problem);
  return {
    ok: true,
    value: { ...value, id, customerId, business: value.business as boolean, lastname: (value.lastname as string | null | undefined) ?? null, company: (value.company as string | null | undefined) ?? null },
  };
}

export function checkCustomer(value: unknown): Checked<Customer> {
  if (!isRecord(value)) return fail('a customer must be an object');
  const id = normaliseId(value.id);
  if (!id) return fail('customer.id is required (a string or an integer of at most 50 characters)');
  if (!Array.isArray(value.contractIds) || value.contractIds.length === 0) return fail('customer.contractIds must list at least one contract (otherwise it is not a customer)');
  const contractIds: string[] = [];
  for (const [i, raw] of value.contractIds.entries()) {
    const c = normaliseId(raw);
    if (!c) return fail(`customer.contractIds[${i}] is not an id`);
    contractIds.push(c);
  }
  const problem = checkPerson(value, 'customer');
  if (problem) return fail(problem);
  return {
    ok: true,
    value: {
      ...value, id, contractIds, business: value.business as boolean,
      lastname: (value.lastname as string | null | undefined) ?? null, company: (value.company as string | null | undefined) ?? null,
    },
  };
}

/** The answer of searchContracts: exactly one match, or null. A list is accepted only with at most one entry. */
export function checkContractMatch(value: unknown): Checked<ContractMatch | null> {
  if (value === null || value === undefined || (isRecord(value) && Object.keys(value).length === 0)) return { ok: true, value: null };
  if (Array.isArray(value)) {
    if (value.length > 1) return fail(`searchContracts must return at most one match, got ${value.length}`);
    return checkContractMatch(value[0] ?? null);
  }
  if (!isRecord(value)) return fail('searchContracts must return {contractId, customerId} or null');
  const contractId = normaliseId(value.contractId);
  if (!contractId) return fail('searchContracts result.contractId is required');
  const customerId = normaliseId(value.customerId);
  if (!customerId) return fail('searchContracts result.customerId is required');
  const match: ContractMatch = { contractId, customerId };
  if (value.customerLegitimation !== undefined && value.customerLegitimation !== null) {
    const level = value.customerLegitimation;
    if (typeof level !== 'number' || !Number.isInteger(level) || level < 0 || level > 30) return fail('searchContracts result.customerLegitimation must be a whole number from 0 to 30');
    match.customerLegitimation = level;
  }
  if (typeof value.customerLegitimationMessage === 'string') match.customerLegitimationMessage = value.customerLegitimationMessage;
  return { ok: true, value: match };
}

/** The answer of searchCustomers: `[{id}]` (or bare ids); at most the first 10 are used. */
export function checkCustomerIds(value: unknown): Checked<string[]> {
  if (value === null || value === undefined) return { ok: true, value: [] };
  if (!Array.isArray(value)) return fail('searchCustomers must return a list of {id}');
  const ids: string[] = [];
  for (const [i, item] of value.entries()) {
    const id = normaliseId(isRecord(item) ? item.id : item);
    if (!id) return fail(`searchCustomers result[${i}].id is not an id`);
    if (!ids.includes(id)) ids.push(id);
  }
  return { ok: true, value: ids.slice(0, MAX_CUSTOMER_IDS) };
}

/**
 * The cache key of a lookup: the operation and its input with keys sorted, text trimmed and
 * lower-cased (ids keep their case), and `ticketId` left out, since the same characteristics
 * mean the same customer whichever ticket they came from.
 */
export function erpCacheKey(operation: ErpOperation, input: Record<string, unknown>): string {
  const parts = Object.keys(input)
    .filter((k) => k !== 'ticketId' && input[k] !== undefined && input[k] !== null && input[k] !== '')
    .sort()
    .map((k) => {
      const v = input[k];
      const text = typeof v === 'string' ? v.trim().replace(/\s+/g, ' ') : JSON.stringify(v);
      return `${k}=${/Id$/.test(k) ? text : text.toLowerCase()}`;
    });
  return `${operation}:${parts.join('&')}`;
}
