// Email addresses the customer states as their own, phone numbers after labels or in the
// signature, and postal addresses (German, and English ones when labelled or in a signature). Pure.
import type { Found } from './identifiers.ts';

// ----------------------------------------------------------------------------------------- email

const EMAIL = /(?<![\w.%+-])[A-Z0-9][\w.%+'-]*@[A-Z0-9](?:[A-Z0-9-]*[A-Z0-9])?(?:\.[A-Z0-9](?:[A-Z0-9-]*[A-Z0-9])?)*\.[A-Z]{2,}(?![\w-])/gi;
/** "E-Mail: x", "my email address is x", "antworten Sie an meine private E-Mail-Adresse x", "reply to x". */
const OWN_EMAIL_CONTEXT = new RegExp(
  '(?:^|\\n)[ \\t]*(?:e-?mail(?:-?adresse)?|mail|email\\s+address)[ \\t]*:[ \\t]*$|' +
    '(?:meine|mein|unsere|my|our)\\s+(?:[\\p{L}-]+\\s+){0,2}?(?:e-?mail(?:-?adresse)?|mail-?adresse|adresse|address|e-?mail\\s+address)(?!\\p{L})[^@\\n]{0,30}$|' +
    '(?:antworten|schreiben|kontaktieren|erreichen)\\s+Sie\\s+(?:mir\\s+|mich\\s+)?(?:bitte\\s+)?(?:per\\s+mail\\s+)?(?:an|unter)\\s+$|' +
    '(?:reply|write|respond)\\s+(?:to\\s+me\\s+)?(?:at|to)\\s+$|(?:contact|reach)\\s+me\\s+(?:by\\s+e-?mail\\s+)?(?:at|on|via)\\s+$',
  'iu',
);
const NEW_EMAIL = /(?<!\p{L})(?:neue[nr]?|new|künftig\p{L}*|zukünftig\p{L}*|ab\s+sofort|ändern|change|update)(?!\p{L})/iu;

export interface StatedEmail extends Found {
  /** Announced as a new address to change to: the ERP does not know it yet. */
  isNew: boolean;
}

export function findStatedEmails(text: string): StatedEmail[] {
  const out: StatedEmail[] = [];
  for (const m of text.matchAll(EMAIL)) {
    const at = m.index ?? 0;
    const before = text.slice(Math.max(0, at - 90), at);
    if (!OWN_EMAIL_CONTEXT.test(before)) continue;
    const sentence = before.split(/[.!?]\s|\n/).at(-1) ?? '';
    out.push({ value: m[0].toLowerCase(), index: at, rule: 'stated-email', isNew: NEW_EMAIL.test(sentence) });
  }
  return out;
}

/** Every address in the text (for the signature's "E-Mail: …" or a bare address line). */
export function findEmails(text: string): Found[] {
  return [...text.matchAll(EMAIL)].map((m) => ({ value: m[0].toLowerCase(), index: m.index ?? 0, rule: 'email' }));
}

// ----------------------------------------------------------------------------------------- phone

const PHONE_LABEL = new RegExp(
  '(?<!\\p{L})(?:' +
    [
      'tel(?:efon)?(?:nummer)?\\.?(?:[ -]?nr\\.?)?', 'rufnummer', 'festnetz(?:nummer)?', 'mobil(?:funk)?(?:nummer|telefon)?', 'handy(?:nummer)?(?:[ -]?nr\\.?)?',
      'phone(?:\\s+(?:number|no\\.?))?', 'mobile(?:\\s+(?:phone|number|no\\.?))?', 'cell(?:\\s+phone)?', 'telephone(?:\\s+number)?',
    ].join('|') +
    ')(?!\\p{L})[ \\t]*(?:[:.][ \\t]*)?(?:(?:ist|lautet|is)[ \\t]+)?|' +
    '(?:erreichbar|(?:Sie\\s+)?erreichen(?:\\s+Sie)?\\s+(?:mich|uns)|zu\\s+erreichen|rufen\\s+Sie\\s+mich(?:\\s+bitte)?(?:\\s+an)?|telefonisch)(?:\\s+\\p{L}+){0,3}?\\s*(?:unter|an|:)[ \\t]*|' +
    '(?:reach|call|contact|ring)\\s+me(?:\\s+\\p{L}+){0,3}?\\s+(?:on|at)[ \\t]+',
  'giu',
);
const TEAMS_NUMBER = /(?<!\p{L})(?:Ihre[rmn]?|eure[rmn]?|your)\s+(?:\p{L}+\s+)?$/iu;
const FORM_LABEL_START = /^\s*(?:Ihre[rmn]?|your)\s+(?:\p{L}+\s+)?$/iu;
const NOT_PHONE_LABEL = /(?:fax|telefax)\s*(?:[:.]\s*)?$/iu;
const PHONE_VALUE = /^(?:\+|00)?\(?\d[\d ()/.–-]{4,24}\d(?![\d.,]\d)/;

/** Digits with the leading + or 0 kept; "(0)" after a country code is dropped. */
export function normalisePhone(raw: string): string | null {
  let s = raw.trim();
  if (/^(?:\+|00)/.test(s)) s = s.replace(/\(0\)/g, '');
  const plus = s.startsWith('+');
  const digits = s.replace(/\D/g, '');
  if (digits.length < 6 || digits.length > 15) return null;
  return (plus ? '+' : '') + digits;
}

function readPhone(text: string, from: number): string | null {
  const m = PHONE_VALUE.exec(text.slice(from));
  if (!m) return null;
  // A date ("12.03.2026") is no phone number.
  if (/^\d{1,2}\.\d{1,2}\.\d{2,4}$/.test(m[0])) return null;
  return normalisePhone(m[0]);
}

export function findLabelledPhones(text: string): Found[] {
  const out: Found[] = [];
  for (const m of text.matchAll(PHONE_LABEL)) {
    // "… unter Ihrer Telefonnummer 0341 …" is the team's number; a form's "Ihre Telefonnummer:" line is the customer's.
    const lineBefore = text.slice(text.lastIndexOf('\n', (m.index ?? 0) - 1) + 1, m.index ?? 0);
    if (TEAMS_NUMBER.test(lineBefore) && !(FORM_LABEL_START.test(lineBefore) && m[0].includes(':'))) continue;
    const at = (m.index ?? 0) + m[0].length;
    const value = readPhone(text, at);
    if (value) out.push({ value, index: at, rule: 'phone-label' });
  }
  return out;
}

/** A signature line (or a "|"-separated part of one) that is a phone number and nothing else. */
export function phoneFromSignatureLine(segment: string): string | null {
  const text = segment.trim();
  if (NOT_PHONE_LABEL.test(text.replace(/(?<![\d\s()+/.–-])[\d\s()+/.–-]+$/, ''))) return null;
  const label = /^(?:[\p{L}.]+[ \t]*){0,2}[:.]?[ \t]*/u.exec(text)?.[0] ?? '';
  if (label && !/^(?:tel|telefon|fon|phone|mobil|mobile|handy|cell|[tmp])\b/iu.test(label)) return null;
  const rest = text.slice(label.length);
  if (!/^(?:\+|00|[0(])/.test(rest)) return null;
  const m = PHONE_VALUE.exec(rest);
  if (!m || m[0].length !== rest.length) return null;
  const phone = normalisePhone(m[0]);
  return phone && phone.replace('+', '').length >= 7 ? phone : null;
}

// --------------------------------------------------------------------------------------- address

export interface PostalAddress {
  street?: string;
  houseNumber?: string;
  postalCode?: string;
  city?: string;
  index: number;
  rule: string;
  /** Announced as the address the customer moves to. */
  isNew: boolean;
}

const cap = (word: string): string => `[${word[0]!.toUpperCase()}${word[0]!}]${word.slice(1)}`;
const SUFFIXES = ['straße', 'strasse', 'str\\.', 'weg', 'platz', 'allee', 'gasse', 'ring', 'damm', 'ufer', 'chaussee', 'steig', 'stieg', 'pfad', 'markt', 'promenade', 'graben', 'kamp', 'wall', 'anger', 'hof', 'berg', 'feld', 'garten', 'park', 'zeile', 'steg'];
const SUFFIX = `(?:${SUFFIXES.map(cap).join('|')})`;
const SEPARATE_SUFFIX = '(?:Straße|Strasse|Str\\.|Weg|Platz|Allee|Gasse|Ring|Damm|Ufer|Chaussee|Steig|Markt|Promenade|Graben|Hof|Berg)';
const STREET_PREFIX = '(?:(?:Am|An der|An den|Auf der|Auf dem|Im|In der|In den|Zum|Zur|Unter den|Vor dem|Hinter der|Beim|St\\.|Sankt|Alte[rnms]?|Neue[rnms]?|Große[rnms]?|Kleine[rnms]?|Obere[rnms]?|Untere[rnms]?|Lange[rnms]?|Hohe[rnms]?) )?';
const STREET = `(${STREET_PREFIX}(?:\\p{Lu}[\\p{L}-]*?${SUFFIX}|\\p{Lu}[\\p{L}-]* ${SEPARATE_SUFFIX}))`;
const HOUSE_NUMBER = '([1-9]\\d{0,3}(?: ?[a-zA-Z](?![\\p{L}]))?(?: ?[-–/] ?\\d{1,4}[a-zA-Z]?)?)(?![\\d.,]\\d|[ \\t]*(?:€|EUR|kWh|%|Uhr|m³))(?![\\p{L}\\d])';
const CITY_PREFIX = '(?:(?:Bad|Sankt|St\\.|Bergisch|Schwäbisch|Hann\\.|Groß|Klein|Alt|Neu|Markt|Königs|Ost|West|Nord|Süd) )?';
const CITY = `(${CITY_PREFIX}\\p{Lu}[\\p{L}-]*(?:(?: (?:am|an der|im|in der|ob der|bei|vor der|a\\. ?d\\.|a\\.) \\p{Lu}[\\p{L}-]*)|(?: \\(\\p{Lu}\\p{L}*\\)))?)(?![\\p{L}])`;
const POSTCODE_CITY = `(?:D-|DE-)?(\\d{5}) ${CITY}`;
/** "2. OG links", "EG rechts": a floor between the house number and the postcode. */
const FLOOR = '(?:[ \\t]*,[ \\t]*(?:\\d{1,2}\\.?[ \\t]*)?(?:OG|Etage|Stock|Obergeschoss|EG|DG|UG|Erdgeschoss|Dachgeschoss|Souterrain)(?:[ \\t]+(?:links|rechts|li\\.|re\\.|Mitte))?)?';
const ADDRESS_GAP = '(?:[ \\t]*(?:[,|;/–-](?:[ \\t]*\\n)?|\\n)[ \\t]*|[ \\t]+)';
const GERMAN_ADDRESS = new RegExp(`(?<![\\p{L}\\d-])${STREET} ${HOUSE_NUMBER}(?:${FLOOR}${ADDRESS_GAP}${POSTCODE_CITY})?`, 'gu');
/**
 * Streets without a telling suffix ("Am Anger 5", "Lange Reihe 12") are taken only with a
 * postcode and town after them: the postcode is what makes them an address.
 */
const PLAIN_STREET = `((?:(?:Am|An der|An den|Auf der|Auf dem|Im|In der|In den|Zum|Zur|Unter den|Vor dem|Hinter der|Beim) )?\\p{Lu}[\\p{L}.-]*(?: \\p{Lu}[\\p{L}.-]*)?)`;
const GERMAN_ADDRESS_WITH_POSTCODE = new RegExp(`(?<![\\p{L}\\d-])${PLAIN_STREET} ([1-9]\\d{0,2}(?: ?[a-zA-Z](?![\\p{L}]))?)${FLOOR}[ \\t]*(?:[,|](?:[ \\t]*\\n)?|\\n)[ \\t]*${POSTCODE_CITY}`, 'gu');
const POSTCODE_CITY_LINE = new RegExp(`^(?:(?:PLZ(?: ?/ ?Ort)?|Ort|Wohnort)[ \\t]*:[ \\t]*)?${POSTCODE_CITY}[ \\t]*$`, 'u');
/** Words that end a sentence part before a number, not streets ("Rechnung 12, 04109 …"). */
const NOT_STREETS = new Set(['Rechnung', 'Vertrag', 'Kundennummer', 'Vertragsnummer', 'Zähler', 'Zählerstand', 'Abschlag', 'Tel', 'Telefon', 'Mobil', 'Fax', 'Nr', 'Nummer', 'Wohnung', 'Haus', 'Objekt', 'PLZ', 'Postfach']);
const NOT_CITIES = new Set(['Tel', 'Telefon', 'Mobil', 'Fax', 'Deutschland', 'Germany', 'Kundennummer', 'Vertragsnummer', 'E-Mail', 'Email']);

const EN_STREET_TYPE = '(?:Road|Street|Lane|Avenue|Drive|Close|Way|Place|Crescent|Grove|Terrace|Court|Gardens|Square|Hill|Row|Walk|Park|Mews|Parade|Green|Rise|View|Boulevard|Rd\\.?|St\\.?|Ave\\.?|Blvd\\.?)';
const EN_POSTCODE = '([A-Z]{1,2}\\d[A-Z\\d]? ?\\d[A-Z]{2}|[AC-FHKNPRTV-Y]\\d{2} ?[AC-FHKNPRTV-Y0-9]{4}|D6W ?[0-9AC-FHKNPRTV-Y]{4}|\\d{5})';
const ENGLISH_ADDRESS = new RegExp(
  `^(?:(?:Flat|Apt\\.?|Apartment|Unit|Suite) ?[\\w-]+,? )?(\\d{1,5}[A-Za-z]?),? ((?:\\p{Lu}[\\p{L}'.-]* ){0,3}${EN_STREET_TYPE})(?![\\p{L}]),? ` +
    `(\\p{Lu}[\\p{L}'-]*(?: \\p{Lu}[\\p{L}'-]*)?)(?![\\p{L}\\d])(?:,? ${EN_POSTCODE}(?![\\p{L}\\d]))?`,
  'u',
);
const EN_ADDRESS_LABEL = /(?<!e-?mail\s)(?:(?:supply|service|billing|postal|property|home|current|new|old|installation|delivery|mailing)\s+)?address(?:\s+is)?[ \t]*[:-]?[ \t]*|\bI\s+live\s+at\s+|\b(?:residing|located)\s+at\s+/giu;
const NEW_ADDRESS = /(?<!\p{L})(?:neue|neuen|neuer|new|künftige\p{L}*|zukünftige\p{L}*|moving\s+to|move\s+to|ziehe\s+(?:\p{L}+\s+){0,3}?(?:nach|in|zu)|umzug\s+nach)(?!\p{L})[^\n]{0,60}$/iu;

/** "BS65AB" -> "BS6 5AB"; Eircodes keep a routing key and four characters ("D03 X2Y4"). */
function postcode(raw: string): string {
  const s = raw.toUpperCase().replace(/\s+/g, '');
  if (/^\d{5}$/.test(s)) return s;
  const tail = /^(?:[AC-FHKNPRTV-Y]\d{2}|D6W)[A-Z0-9]{4}$/.test(s) ? 4 : 3;
  return `${s.slice(0, -tail)} ${s.slice(-tail)}`;
}

const houseNumber = (raw: string): string => raw.replace(/\s+/g, '').toLowerCase();

function isNewAt(text: string, at: number): boolean {
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  const before = text.slice(Math.max(lineStart, at - 80), at);
  // Only the clause right before the address: "Current address: A. New address from May: B".
  const clause = before.split(/[.;]\s/).at(-1) ?? before;
  return NEW_ADDRESS.test(clause);
}

export function findGermanAddresses(text: string): PostalAddress[] {
  const out: PostalAddress[] = [];
  for (const m of text.matchAll(GERMAN_ADDRESS_WITH_POSTCODE)) {
    const at = m.index ?? 0;
    // Without a street suffix only at the start of a line, after a label's colon or with a prefix ("Am Anger").
    const placed = /(?:^|\n|:)[ \t]*$/.test(text.slice(Math.max(0, at - 40), at)) || /^(?:Am|An|Auf|Im|In|Zum|Zur|Unter|Vor|Hinter|Beim) /.test(m[1]!);
    if (!placed || m[1]!.split(' ').some((w) => NOT_STREETS.has(w)) || NOT_CITIES.has(m[4]!)) continue;
    out.push({ street: m[1]!, houseNumber: houseNumber(m[2]!), postalCode: m[3]!, city: m[4]!, index: at, rule: 'address-de-postcode', isNew: isNewAt(text, at) });
  }
  for (const m of text.matchAll(GERMAN_ADDRESS)) {
    if (out.some((a) => a.index === m.index)) continue;
    const city = m[4];
    // "Heidelberg 2026": a year after a word ending like a street is no address on its own.
    if (!m[3] && /^(?:19|20)\d\d$/.test(m[2]!)) continue;
    const address: PostalAddress = { street: m[1]!, houseNumber: houseNumber(m[2]!), index: m.index ?? 0, rule: 'address-de', isNew: isNewAt(text, m.index ?? 0) };
    if (m[3] && city && !NOT_CITIES.has(city)) {
      address.postalCode = m[3];
      address.city = city;
    }
    out.push(address);
  }
  return out;
}

/** "04109 Leipzig" on a line of its own (a signature) or after "PLZ / Ort:". */
export function postcodeCityLine(line: string): { postalCode: string; city: string } | null {
  const m = POSTCODE_CITY_LINE.exec(line.trim());
  if (!m || NOT_CITIES.has(m[2]!)) return null;
  return { postalCode: m[1]!, city: m[2]! };
}

function englishAddressAt(text: string, from: number, rule: string, isNew: boolean): PostalAddress | null {
  const m = ENGLISH_ADDRESS.exec(text.slice(from));
  if (!m) return null;
  const address: PostalAddress = { houseNumber: houseNumber(m[1]!), street: m[2]!, city: m[3]!, index: from, rule, isNew };
  if (m[4]) address.postalCode = postcode(m[4]);
  return address;
}

/** English addresses after an address label ("Supply address: 14 Kingsley Road, Bristol BS6 5AB"). */
export function findLabelledEnglishAddresses(text: string): PostalAddress[] {
  const out: PostalAddress[] = [];
  for (const m of text.matchAll(EN_ADDRESS_LABEL)) {
    const at = (m.index ?? 0) + m[0].length;
    const address = englishAddressAt(text, at, 'address-en-label', /\bnew\b/i.test(m[0]) || isNewAt(text, m.index ?? 0));
    if (address) out.push(address);
  }
  return out;
}

const UK_POSTCODE_AT_END = /(?:[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[AC-FHKNPRTV-Y]\d{2} ?[AC-FHKNPRTV-Y0-9]{4})$/;

/**
 * English addresses without a label, taken only with a full UK postcode or Eircode at the end
 * ("… at our site, 8 Canal Street, Manchester M1 3HE"): a bare "12 Main Street" is too weak.
 */
export function findEnglishAddressesWithPostcode(text: string): PostalAddress[] {
  const out: PostalAddress[] = [];
  for (const m of text.matchAll(/(?<![\p{L}\d])\d{1,5}[A-Za-z]?,? \p{Lu}/gu)) {
    const address = englishAddressAt(text, m.index ?? 0, 'address-en-postcode', isNewAt(text, m.index ?? 0));
    if (address?.postalCode && UK_POSTCODE_AT_END.test(address.postalCode)) out.push(address);
  }
  return out;
}

/** An English address in a signature line part ("5 Harbour Street, Leith EH6 6QW"). */
export function englishAddressInSignature(segment: string, index: number): PostalAddress | null {
  const address = englishAddressAt(segment.trim(), 0, 'address-en-signature', false);
  return address ? { ...address, index } : null;
}
