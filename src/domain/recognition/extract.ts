// Rule-based recognition of the customer in an inbound email: the characteristics (ids, name,
// company, contact data, address) the customer explicitly gave, in German or English, each with
// the rule that found it. Pure: no I/O, no packages. What the customer did not write in the mail
// itself (quoted replies, forwarded messages, the team's own signature) is never taken.
import type { Characteristic, Characteristics } from '../erp.ts';
import { CHARACTERISTICS } from '../erp.ts';
import {
  englishAddressInSignature, findEmails, findEnglishAddressesWithPostcode, findGermanAddresses, findLabelledEnglishAddresses, findLabelledPhones, findStatedEmails,
  normalisePhone, phoneFromSignatureLine, postcodeCityLine, type PostalAddress,
} from './contact.ts';
import { boundBody, boundHeader } from './bounds.ts';
import { customerText, type CustomerText } from './customer-text.ts';
import { readFormFields } from './form-fields.ts';
import { DEFAULT_CONTRACT_PATTERNS, DEFAULT_CUSTOMER_PATTERNS, findIbans, findLabelledIds, findMeterNumbers, type Found } from './identifiers.ts';
import { isNoReplyAddress, ownParty, type OwnParty } from './own-party.ts';
import { findCompanies, nameCandidates, resolveName, type NameCandidate } from './parties.ts';
import { parseName } from './person-name.ts';

export { stripQuotedHistory } from './quoted-history.ts';
export { DEFAULT_CONTRACT_PATTERNS, DEFAULT_CUSTOMER_PATTERNS, isValidIban, isValidMarketLocationId } from './identifiers.ts';

export interface ExtractionInput {
  from: string | null;
  fromName?: string | null;
  subject: string;
  /** Plain text. */
  body: string;
}

export interface ExtractionOptions {
  /**
   * Regex sources for contract / customer numbers (case-insensitive, first capture group or whole
   * match = the number). Given patterns replace the defaults; an empty list keeps them. The
   * defaults read the number after labels like Vertragsnummer, Vertrags-Nr., Vertrag,
   * Vertragskonto, Versicherungsscheinnummer, contract number, contract no., account number,
   * policy number (contract) and Kundennummer, Kunden-Nr., Kd.-Nr., customer number, customer no.,
   * cust. no., customer ID (customer). Every hit must hold a digit and be no date or amount.
   */
  contractPatterns?: string[];
  customerPatterns?: string[];
  /** The team's own domains/addresses: never taken as the customer's email, and their signatures (the agent's own data in quoted replies) are ignored. */
  ownDomains?: string[];
}

export interface ExtractionLogEntry {
  field: Characteristic;
  value: string;
  source: 'subject' | 'body' | 'sender' | 'signature' | 'greeting' | 'introduction';
  rule: string;
}

export interface Extraction {
  characteristics: Characteristics;
  log: ExtractionLogEntry[];
}

type Source = ExtractionLogEntry['source'];

class Picks {
  readonly entries = new Map<Characteristic, ExtractionLogEntry>();
  take(field: Characteristic, value: string | undefined | null, source: Source, rule: string): void {
    const v = value?.trim();
    if (v && !this.entries.has(field)) this.entries.set(field, { field, value: v, source, rule });
  }
  has(field: Characteristic): boolean {
    return this.entries.has(field);
  }
}

/** The first body hit (labelled where the customer wrote it), else the first subject hit. */
function firstOf(picks: Picks, field: Characteristic, ct: CustomerText, body: Found[], subject: Found[]): void {
  const hit = body[0];
  if (hit) picks.take(field, hit.value, ct.regionAt(hit.index), hit.rule);
  else if (subject[0]) picks.take(field, subject[0].value, 'subject', subject[0].rule);
}

function identifiers(picks: Picks, ct: CustomerText, subject: string, options: ExtractionOptions): void {
  const ibans = findIbans(ct.text);
  // A number read after "account:" may be the start of an IBAN on the next line: never an id.
  const outsideIbans = (f: Found): boolean => !ibans.some((i) => f.index >= i.index && f.index < i.index + i.value.length + 8);
  const contract = options.contractPatterns?.length ? options.contractPatterns : DEFAULT_CONTRACT_PATTERNS;
  const customer = options.customerPatterns?.length ? options.customerPatterns : DEFAULT_CUSTOMER_PATTERNS;
  firstOf(picks, 'contractId', ct, findLabelledIds(ct.text, contract, 'contract-pattern').filter(outsideIbans), findLabelledIds(subject, contract, 'contract-pattern'));
  firstOf(picks, 'customerId', ct, findLabelledIds(ct.text, customer, 'customer-pattern').filter(outsideIbans), findLabelledIds(subject, customer, 'customer-pattern'));
  firstOf(picks, 'meterNumber', ct, findMeterNumbers(ct.text), findMeterNumbers(subject));
  firstOf(picks, 'iban', ct, ibans, findIbans(subject));
}

/**
 * The customer's email. An address the customer states as their own in the text ("meine
 * E-Mail-Adresse ist …", "please reply to …", "E-Mail: …" in a form or signature) wins over the
 * sender: people write from an office, a relative's or a shared mailbox and name the address
 * their contract knows. An address announced as *new* ("meine neue E-Mail-Adresse lautet …")
 * does not win, because the ERP still holds the old one, which is usually the sender. The sender
 * counts unless it is the team's own domain or a no-reply robot.
 */
function email(picks: Picks, ct: CustomerText, input: ExtractionInput, own: OwnParty, formEmail: string | null): void {
  const usable = (a: string): boolean => !own.isOwnAddress(a) && !isNoReplyAddress(a);
  const stated = findStatedEmails(ct.text).filter((e) => usable(e.value));
  const current = stated.find((e) => !e.isNew);
  if (current) picks.take('email', current.value, ct.regionAt(current.index), current.rule);
  if (formEmail && /^[^\s@]+@[^\s@]+\.[a-z]{2,}$/i.test(formEmail) && usable(formEmail)) picks.take('email', formEmail.toLowerCase(), 'body', 'form-field');
  const sender = input.from?.trim().toLowerCase();
  if (sender && sender.includes('@') && usable(sender)) picks.take('email', sender, 'sender', 'sender-address');
  const signed = findEmails(ct.text).find((e) => ct.regionAt(e.index) === 'signature' && usable(e.value));
  if (signed) picks.take('email', signed.value, 'signature', 'signature-email');
  const announced = stated.find((e) => e.isNew);
  if (announced) picks.take('email', announced.value, ct.regionAt(announced.index), `${announced.rule}-new`);
}

function phone(picks: Picks, ct: CustomerText, formPhone: string | null): void {
  if (formPhone) picks.take('phone', normalisePhone(formPhone), 'body', 'form-field');
  const labelled = findLabelledPhones(ct.text)[0];
  if (labelled) picks.take('phone', labelled.value, ct.regionAt(labelled.index), labelled.rule);
  for (const line of ct.lines.slice(ct.signature)) {
    for (const segment of line.split('|')) picks.take('phone', phoneFromSignatureLine(segment), 'signature', 'signature-phone');
  }
}

/**
 * The customer's address. When someone writes for the customer, an address in the writer's
 * signature is the writer's own (a tax adviser's office), so only the text counts.
 */
function address(picks: Picks, ct: CustomerText, form: ReturnType<typeof readFormFields>, onBehalf: boolean): void {
  const formLine = Math.min(...[form.street, form.houseNumber, form.postalCode, form.city, form.postalCity].map((f) => f?.line ?? Infinity));
  if (Number.isFinite(formLine)) {
    const source: Source = formLine >= ct.signature ? 'signature' : 'body';
    const street = form.street ? (findGermanAddresses(form.street.value)[0] ?? splitStreet(form.street.value)) : null;
    const postal = form.postalCity ? postcodeCityLine(form.postalCity.value) : null;
    picks.take('street', street?.street, source, 'form-field');
    picks.take('houseNumber', form.houseNumber?.value.replace(/\s+/g, '').toLowerCase() ?? street?.houseNumber, source, 'form-field');
    picks.take('postalCode', form.postalCode?.value ?? postal?.postalCode ?? street?.postalCode, source, 'form-field');
    picks.take('city', form.city?.value ?? postal?.city ?? street?.city, source, 'form-field');
  }
  const signatureLines = ct.lines.map((l, i) => ({ l, i })).filter(({ i }) => i >= ct.signature);
  const candidates: PostalAddress[] = [
    ...findGermanAddresses(ct.text),
    ...findLabelledEnglishAddresses(ct.text),
    ...findEnglishAddressesWithPostcode(ct.text),
    ...signatureLines.flatMap(({ l, i }) => l.split('|').map((s) => englishAddressInSignature(s, ct.lineStarts[i]!))).filter((a): a is PostalAddress => a !== null),
  ]
    .filter((a) => !onBehalf || ct.regionAt(a.index) === 'body')
    .sort((a, b) => a.index - b.index);
  const chosen = candidates.find((a) => !a.isNew) ?? candidates[0];
  const source = (a: { index: number }): Source => ct.regionAt(a.index);
  if (chosen) {
    picks.take('street', chosen.street, source(chosen), chosen.rule);
    picks.take('houseNumber', chosen.houseNumber, source(chosen), chosen.rule);
    picks.take('postalCode', chosen.postalCode, source(chosen), chosen.rule);
    picks.take('city', chosen.city, source(chosen), chosen.rule);
  }
  // "Lindenstraße 4" and "04109 Leipzig" on lines of their own, or only the town given.
  const line = chosen ? ct.lineAt(chosen.index) : ct.signature - 1;
  for (const [i, text] of ct.lines.entries()) {
    if (i <= line || i > line + 3 || (!chosen && (i < ct.signature || onBehalf))) continue;
    const pc = postcodeCityLine(text);
    if (!pc) continue;
    picks.take('postalCode', pc.postalCode, i >= ct.signature ? 'signature' : 'body', 'postcode-city-line');
    picks.take('city', pc.city, i >= ct.signature ? 'signature' : 'body', 'postcode-city-line');
    break;
  }
}

/** "Lindenstraße 4" -> street and house number; the number is found from the end, so no pattern backtracks. */
function splitStreet(value: string): Pick<PostalAddress, 'street' | 'houseNumber' | 'postalCode' | 'city'> | null {
  const text = value.trim();
  const number = /\s(\d{1,4}\s?[a-z]?)$/i.exec(text.slice(-8));
  if (!number) return null;
  const street = text.slice(0, text.length - number[0].length).trimEnd();
  return /^\p{Lu}[\p{L} .-]+$/u.test(street) ? { street, houseNumber: number[1]!.replace(/\s+/g, '').toLowerCase() } : null;
}

/** Names; returns whether the customer is someone the writer writes for. */
function names(picks: Picks, ct: CustomerText, input: ExtractionInput, form: ReturnType<typeof readFormFields>): boolean {
  let formName: NameCandidate | null = null;
  const byForm = form.name ? parseName(form.name.value, { lenient: true }) : form.firstname || form.lastname ? { firstname: form.firstname?.value, lastname: form.lastname?.value } : null;
  if (byForm && (byForm.firstname || byForm.lastname)) {
    const name: NameCandidate['name'] = {};
    if (byForm.firstname) name.firstname = byForm.firstname;
    if (byForm.lastname) name.lastname = byForm.lastname;
    formName = { name, source: 'body', rule: 'form-field', rank: 1 };
  }
  const candidates = nameCandidates(ct, input.fromName, formName);
  const resolved = resolveName(candidates, ct.text);
  if (resolved.firstname) picks.take('firstname', resolved.firstname.value, resolved.firstname.source, resolved.firstname.rule);
  if (resolved.lastname) picks.take('lastname', resolved.lastname.value, resolved.lastname.source, resolved.lastname.rule);
  return candidates[0]?.rank === 0;
}

/** The customer's company; the writer's signature company does not count when writing for someone else. */
function company(picks: Picks, ct: CustomerText, input: ExtractionInput, own: OwnParty, formCompany: string | null, onBehalf: boolean): void {
  if (formCompany) picks.take('company', formCompany, 'body', 'form-field');
  const found = findCompanies(ct.text, own);
  const signed = onBehalf ? undefined : found.find((c) => ct.regionAt(c.index) === 'signature');
  if (signed) picks.take('company', signed.value, 'signature', 'legal-form');
  const written = found.find((c) => ct.regionAt(c.index) === 'body');
  if (written) picks.take('company', written.value, 'body', 'legal-form');
  const sender = input.fromName && !onBehalf ? findCompanies(input.fromName, own)[0] : undefined;
  if (sender) picks.take('company', sender.value, 'sender', 'display-name-legal-form');
}

/**
 * The characteristics of one email. Reads at most the bounds of bounds.ts (the first 64 KiB and
 * 2,000 lines of the body, 1,000 characters of subject and display name), in time linear in that.
 */
export function extractCharacteristics(raw: ExtractionInput, options: ExtractionOptions = {}): Extraction {
  const input: ExtractionInput = { ...raw, fromName: raw.fromName ? boundHeader(raw.fromName) : raw.fromName, body: boundBody(raw.body ?? '') };
  const own = ownParty(options.ownDomains);
  const ct = customerText(input.body, own);
  const subject = boundHeader(raw.subject ?? '').replace(/\s+/g, ' ').trim();
  const form = readFormFields(ct.lines);
  const picks = new Picks();

  identifiers(picks, ct, subject, options);
  email(picks, ct, input, own, form.email?.value ?? null);
  phone(picks, ct, form.phone?.value ?? null);
  const onBehalf = names(picks, ct, input, form);
  address(picks, ct, form, onBehalf);
  company(picks, ct, input, own, form.company?.value ?? null, onBehalf);

  const characteristics: Characteristics = {};
  const log: ExtractionLogEntry[] = [];
  for (const field of CHARACTERISTICS) {
    const entry = picks.entries.get(field);
    if (!entry) continue;
    characteristics[field] = entry.value;
    log.push(entry);
  }
  return { characteristics, log };
}
