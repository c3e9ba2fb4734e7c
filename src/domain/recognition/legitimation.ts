import type { Characteristics, Contract, Customer } from '../erp.ts';
import type { LegitimationLevel } from '../ticket.ts';

/** Independent pieces of evidence that the writer is the holder of the contract. */
export const CRITERIA = ['emailMatches', 'idMentioned', 'nameMentioned', 'addressMatches', 'phoneMatches', 'meterMatches'] as const;
export type Criterion = (typeof CRITERIA)[number];

/** A rule group: legitimised when at least `min` of `criteria` hold. Any group satisfied is enough. */
export interface LegitimationRule {
  name: string;
  criteria: Criterion[];
  min: number;
}

/** Enneo's typical rule: two independent criteria. */
export const DEFAULT_LEGITIMATION_RULES: LegitimationRule[] = [{ name: 'two independent criteria', criteria: [...CRITERIA], min: 2 }];

export interface CriterionResult {
  criterion: Criterion;
  met: boolean;
  detail: string;
}

function fold(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number'
    ? String(value).normalize('NFD').replace(/\p{M}+/gu, '').replace(/ß/g, 'ss').toLowerCase().replace(/\s+/g, ' ').trim()
    : '';
}

/** Phone numbers compared by their national digits: +49 171… and 0171… are the same. */
function phoneDigits(value: unknown): string {
  const digits = String(value ?? '').replace(/[^\d+]/g, '');
  return digits.replace(/^\+49/, '0').replace(/^0049/, '0').replace(/^\+/, '');
}

/** Strings of the record's fields named like `names`, also inside nested addresses. */
function values(record: Record<string, unknown> | null, names: string[]): string[] {
  if (!record) return [];
  const out: string[] = [];
  const walk = (obj: unknown, depth: number) => {
    if (!obj || typeof obj !== 'object' || depth > 2) return;
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
      if (names.includes(k) && (typeof v === 'string' || typeof v === 'number')) out.push(String(v));
      else if (names.includes(k) && Array.isArray(v)) out.push(...v.filter((x) => typeof x === 'string' || typeof x === 'number').map(String));
      else if (typeof v === 'object') walk(v, depth + 1);
    }
  };
  walk(record, 0);
  return out;
}

/**
 * Checks each criterion against the contract and customer the ERP returned. Contract and
 * customer numbers count once together (one criterion): mentioning both is not two pieces of evidence.
 */
export function evaluateCriteria(ch: Characteristics, senderEmail: string | null, contract: Contract, customer: Customer | null): CriterionResult[] {
  const records = [contract, customer].filter((r): r is Contract | Customer => r !== null) as Array<Record<string, unknown>>;
  const field = (names: string[]) => records.flatMap((r) => values(r, names));
  const results: CriterionResult[] = [];

  const emails = field(['email', 'emails']).map(fold);
  const sender = fold(senderEmail);
  const email = sender && emails.includes(sender) ? sender : ch.email && emails.includes(fold(ch.email)) ? fold(ch.email) : null;
  results.push({ criterion: 'emailMatches', met: email !== null, detail: email ? `${email} is the ERP's email` : `sender ${senderEmail ?? 'unknown'} is not the ERP's email` });

  const idMentioned = (ch.contractId !== undefined && fold(ch.contractId) === fold(contract.id))
    || (ch.customerId !== undefined && fold(ch.customerId) === fold(contract.customerId));
  results.push({ criterion: 'idMentioned', met: idMentioned, detail: idMentioned ? 'the contract or customer number is in the message' : 'no matching contract or customer number in the message' });

  // Whole words only, at least three letters: "Müller" matches "Müller-Lüdenscheidt", "Ma" matches nothing.
  const lastnames = field(['lastname', 'company']).map(fold);
  const wordIn = (part: string, whole: string) => part.length >= 3 && ` ${whole.replace(/[^\p{L}\p{N}]+/gu, ' ')} `.includes(` ${part} `);
  const name = [ch.lastname, ch.company].map(fold).find((n) => n && lastnames.some((l) => l === n || wordIn(n, l) || wordIn(l, n)));
  results.push({ criterion: 'nameMentioned', met: name !== undefined, detail: name ? `the name ${name} matches` : 'no matching name in the message' });

  const zips = field(['zip', 'postalCode', 'postcode']).map(fold);
  const streets = field(['street', 'streetName']).map(fold);
  const cities = field(['city', 'town']).map(fold);
  const zip = ch.postalCode && zips.includes(fold(ch.postalCode));
  const streetKey = (s: string) => fold(s).replace(/(?:strasse|str\.?)(?=\s|\d|$)/g, 'str').replace(/\d[\s\S]*/, '').trimEnd().replace(/\P{L}+/gu, '');
  const place = (ch.street && streetKey(ch.street).length >= 3 && streets.some((s) => streetKey(s) === streetKey(ch.street!))) || (ch.city && cities.includes(fold(ch.city)));
  const address = Boolean(zip && place);
  results.push({ criterion: 'addressMatches', met: address, detail: address ? 'postal code and street or city match' : 'the postal address does not match (or is incomplete)' });

  const phones = field(['phone', 'mobile', 'phones']).map(phoneDigits).filter((p) => p.length >= 6);
  const phone = ch.phone !== undefined && phones.includes(phoneDigits(ch.phone));
  results.push({ criterion: 'phoneMatches', met: phone, detail: phone ? 'the phone number matches' : 'no matching phone number' });

  const meters = field(['meterNumber', 'meterNumbers', 'meterId']).map((m) => fold(m).replace(/\s/g, ''));
  const meter = ch.meterNumber !== undefined && meters.includes(fold(ch.meterNumber).replace(/\s/g, ''));
  results.push({ criterion: 'meterMatches', met: meter, detail: meter ? 'the meter number matches' : 'no matching meter number' });
  return results;
}

/** 0: no contract; 10: recognised, not legitimised; 20: a rule group holds. (30 is an agent's confirmation.) */
export function legitimationLevel(found: boolean, criteria: CriterionResult[], rules: LegitimationRule[]): { level: LegitimationLevel; rule: string | null } {
  if (!found) return { level: 0, rule: null };
  const met = new Set(criteria.filter((c) => c.met).map((c) => c.criterion));
  const rule = rules.find((r) => r.criteria.filter((c) => met.has(c)).length >= r.min);
  return rule ? { level: 20, rule: rule.name } : { level: 10, rule: null };
}

/** An ERP's own verdict (0–30) mapped onto deskhook's levels. */
export function levelFromErp(value: number): LegitimationLevel {
  return value >= 30 ? 30 : value >= 20 ? 20 : value >= 10 ? 10 : 0;
}
