// Contract, customer and meter numbers after their labels, and IBANs anywhere. Pure.
// An id is only ever taken after a label: numbers on their own (amounts, readings, dates,
// invoice and order numbers, phone numbers) never become ids.

export interface Found {
  value: string;
  index: number;
  rule: string;
}

/**
 * Between a label and its value: ":", "#", "bei Ihnen:", or a short phrase ending in a verb
 * ("ist", "meiner Wohnung ist", "lautet", "is").
 */
const SEP =
  '[ \\t]*(?:(?:\\p{L}+[ \\t]+){0,3}?(?:ist|lautet|lauten|is|are|sind|was|war)(?!\\p{L})[ \\t]*(?::[ \\t]*)?|' +
  '(?:(?:bei\\s+(?:Ihnen|euch|dir)|with\\s+(?:you|us))[ \\t]*)?(?:[:#=.][ \\t]*|\\n[ \\t]*)*)';
/** An id: digit groups ("200 888 123"), or one token of letters, digits and inner - or /. */
const VALUE =
  '(\\d{2,}(?:[ ]\\d{3,}(?![\\d,.]\\d|\\s*(?:€|EUR|Euro|kWh|m³|m3|Uhr|%)))+|[A-Z0-9](?:[A-Z0-9]|[-/](?=[A-Z0-9])){2,39})(?![A-Z0-9])';
const idPattern = (label: string): string => `(?<![\\p{L}\\d])(?:${label})(?![\\p{L}])${SEP}${VALUE}`;

export const DEFAULT_CONTRACT_PATTERNS: readonly string[] = Object.freeze([
  idPattern('(?:Vertrag|Vetrag|Vertarg|Vertrags|Vertragskonto|Vertrags-?Konto)[-\\s]?(?:nummer|numm?er|nr|no|n°)\\.?'),
  idPattern('Vertragskonto|Vertrag|VK-?Nr\\.?'),
  idPattern('(?:Versicherungs(?:schein)?|Policen?)[-\\s]?(?:nummer|nr)\\.?'),
  idPattern('(?:contract|account|acct\\.?|policy)(?:\\s*(?:number|no\\.?|nr\\.?|#|id|ref(?:erence)?))?|acc\\.?\\s*(?:no\\.?|number|#)'),
]);

export const DEFAULT_CUSTOMER_PATTERNS: readonly string[] = Object.freeze([
  idPattern('Kunden[-\\s]?(?:nummer|numm?er|nr|no|id|kennung|konto)\\.?'),
  idPattern('Kd\\.?[-\\s]?(?:Nr|Nummer)\\.?|KdNr\\.?|KNr\\.?'),
  idPattern('(?:Geschäftspartner|GP)[-\\s]?(?:nummer|nr)\\.?|Mitglieds?[-\\s]?(?:nummer|nr)\\.?'),
  idPattern('(?:customer|cust\\.?|client|member(?:ship)?)\\s*(?:number|no\\.?|nr\\.?|#|id|ref(?:erence)?)'),
]);

const DATE = /^(?:\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2})$/;
const YEAR = /^(?:19|20)\d{2}$/;
const AMOUNT_AFTER = /^\s*(?:€|EUR\b|Euro\b|kWh|MWh|kW\b|m³|m3\b|Uhr\b|%|,\d|\.\d{1,2}\b)/iu;
const AMOUNT_BEFORE = /(?:[€$£]|\bEUR)\s*$/iu;

/** An id must hold a digit and be no date, year or amount. */
export function plausibleId(value: string, before: string, after: string): boolean {
  if (!/\d/.test(value) || value.length > 50) return false;
  if (DATE.test(value) || YEAR.test(value)) return false;
  return !AMOUNT_AFTER.test(after) && !AMOUNT_BEFORE.test(before);
}

function compile(source: string): RegExp | null {
  for (const flags of ['giu', 'gi']) {
    try {
      return new RegExp(source, flags);
    } catch {
      // Team patterns written without the u flag in mind get a second chance without it.
    }
  }
  return null;
}

/** "Meine Kundennummer beim alten Anbieter …", "our previous supplier's account number …": not the team's ids. */
const OTHER_SUPPLIER = new RegExp(
  '(?:(?:previous|old|former|current|other)\\s+(?:\\p{L}+\\s+)?(?:supplier|provider)|' +
    '(?:bisherig|vorherig|alt|früher|ehemalig|vorig|ander)\\p{L}*\\s+(?:\\p{L}+\\s+){0,2}?\\p{L}*(?:versorger|anbieter|lieferant)|vorversorger|altversorger)[^.!?\\n]{0,40}$',
  'iu',
);

/** Values of the first capture group (or the whole match) of each pattern, in text order. */
export function findLabelledIds(text: string, patterns: readonly string[], rule: string): Found[] {
  const out: Found[] = [];
  for (const [n, source] of patterns.entries()) {
    const re = compile(source);
    if (!re) continue;
    for (const m of text.matchAll(re)) {
      const raw = m[1] ?? m[0];
      const at = (m.index ?? 0) + m[0].lastIndexOf(raw);
      const value = raw.replace(/\s+/g, '');
      if (!plausibleId(value, text.slice(Math.max(0, at - 6), at), text.slice(at + raw.length, at + raw.length + 8))) continue;
      if (OTHER_SUPPLIER.test(text.slice(Math.max(0, (m.index ?? 0) - 80), m.index ?? 0))) continue;
      out.push({ value, index: at, rule: `${rule}#${n}` });
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

// ---------------------------------------------------------------------------------------- meters

const METER_LABEL = new RegExp(
  '(?<!\\p{L})(?:(?:(?:strom|gas|wasser|wärme)-?)?(?:zähler|zaehler)(?:[-\\s]?(?:nummer|nr\\.?|no\\.?))?|' +
    'meter(?:\\s*serial)?(?:\\s*(?:number|no\\.?|nr\\.?|id|#))?)(?!\\p{L})' + SEP,
  'giu',
);
const METERING_POINT_LABEL = new RegExp(
  '(?<!\\p{L})(?:zählpunkt(?:bezeichnung|nummer|-?id)?|zp-?nr\\.?|messlokation(?:s-?id|snummer)?|melo(?:-?id)?|metering\\s+point(?:\\s+(?:id|number))?)(?!\\p{L})' + SEP,
  'giu',
);
const MARKET_LOCATION_LABEL = new RegExp(
  '(?<!\\p{L})(?:marktlokation(?:s-?id|s-?nummer)?|malo(?:-?id|-?nr\\.?)?|market\\s+location(?:\\s+(?:id|number))?)(?!\\p{L})' + SEP,
  'giu',
);
const METER_TOKEN = /^[A-Z0-9][A-Z0-9-]*(?![\p{L}\d])/u;
const UNIT_AFTER = /^\s*(?:kWh|MWh|kW|m³|m3|l\b|Liter|EUR|€|Uhr|%)/iu;
/** A Zählpunktbezeichnung (Messlokation): "DE" and 31 letters or digits, 33 characters. */
const METERING_POINT = /(?<![A-Z0-9])DE[0-9A-Z]{31}(?![A-Z0-9])/g;

/** Upper-case letter/digit groups separated by single spaces ("1 ESY11 6012 3456"), stopping before a unit. */
function readMeterValue(text: string, from: number): string | null {
  let pos = from;
  const parts: string[] = [];
  while (parts.join('').length < 40) {
    const m = METER_TOKEN.exec(text.slice(pos));
    if (!m) break;
    if (UNIT_AFTER.test(text.slice(pos + m[0].length))) break;
    parts.push(m[0]);
    pos += m[0].length;
    if (!/^ [A-Z0-9]/.test(text.slice(pos, pos + 2))) break;
    pos += 1;
  }
  const value = parts.join('');
  return (value.match(/\d/g)?.length ?? 0) >= 4 ? value : null;
}

/** The MaLo-ID check digit (BDEW): odd positions plus twice the even positions, complemented mod 10. */
export function isValidMarketLocationId(id: string): boolean {
  if (!/^\d{11}$/.test(id)) return false;
  let sum = 0;
  for (let i = 0; i < 10; i++) sum += Number(id[i]) * (i % 2 === 0 ? 1 : 2);
  return (10 - (sum % 10)) % 10 === Number(id[10]);
}

/** Meter numbers: a labelled Zählernummer first, then a Zählpunktbezeichnung, then a labelled MaLo-ID. */
export function findMeterNumbers(text: string): Found[] {
  const meters: Found[] = [];
  for (const m of text.matchAll(METER_LABEL)) {
    const at = (m.index ?? 0) + m[0].length;
    const value = readMeterValue(text, at);
    if (value && !DATE.test(value)) meters.push({ value, index: at, rule: 'meter-label' });
  }
  const points: Found[] = [];
  for (const m of text.matchAll(METERING_POINT_LABEL)) {
    const at = (m.index ?? 0) + m[0].length;
    const value = (/^[A-Z0-9]+(?: [A-Z0-9]+)*/.exec(text.slice(at))?.[0] ?? '').replace(/ /g, '');
    if (/^DE[0-9A-Z]{31}$/.test(value)) points.push({ value, index: at, rule: 'metering-point-label' });
    else if (isValidMarketLocationId(value)) points.push({ value, index: at, rule: 'market-location-label' });
  }
  for (const m of text.matchAll(METERING_POINT)) points.push({ value: m[0], index: m.index ?? 0, rule: 'metering-point' });
  const locations: Found[] = [];
  for (const m of text.matchAll(MARKET_LOCATION_LABEL)) {
    const at = (m.index ?? 0) + m[0].length;
    const value = (/^\d[\d ]{9,14}\d(?!\d)/.exec(text.slice(at))?.[0] ?? '').replace(/ /g, '');
    if (isValidMarketLocationId(value)) locations.push({ value, index: at, rule: 'market-location-label' });
  }
  const byPosition = (a: Found, b: Found): number => a.index - b.index;
  return [...meters.sort(byPosition), ...points.sort(byPosition), ...locations.sort(byPosition)];
}

// ----------------------------------------------------------------------------------------- IBANs

/** Lengths of the IBANs customers of a German-speaking team send most; others are checked by range. */
const IBAN_LENGTHS: Record<string, number> = {
  DE: 22, AT: 20, CH: 21, LI: 21, LU: 20, NL: 18, BE: 16, FR: 27, IT: 27, ES: 24, PT: 25, GB: 22, IE: 22, DK: 18, SE: 24, NO: 15,
  FI: 18, PL: 28, CZ: 24, SK: 24, HU: 28, SI: 19, HR: 21, RO: 24, BG: 22, GR: 27, LT: 20, LV: 21, EE: 20, MT: 31, CY: 28, TR: 26,
};

export function isValidIban(iban: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const expected = IBAN_LENGTHS[iban.slice(0, 2)];
  if (expected !== undefined && iban.length !== expected) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const digits = code >= 65 ? String(code - 55) : ch;
    for (const d of digits) rest = (rest * 10 + Number(d)) % 97;
  }
  return rest === 1;
}

const IBAN_START = /(?<![A-Za-z0-9])([A-Z]{2}\d{2})(?= ?[A-Z0-9])/g;
/** "auf Ihr Konto DE…", "your account DE…", "Empfänger: …": the IBAN belongs to the team, not the customer. */
const NOT_THE_CUSTOMERS = /(?:\b(?:Ihr(?:e|em|en)?|eure?[mn]?|your)\s+(?:[\p{L}-]+\s+){0,2}?(?:Konto|Bankverbindung|IBAN|account|bank\s+details)|Empfänger|Zahlungsempfänger|payee|beneficiary)\b[\s:]*(?:IBAN[\s:]*)?$/iu;

/** IBANs with a valid check sum, written with or without spaces; upper case, no spaces. */
export function findIbans(text: string): Found[] {
  const out: Found[] = [];
  for (const m of text.matchAll(IBAN_START)) {
    const start = m.index ?? 0;
    if (NOT_THE_CUSTOMERS.test(text.slice(Math.max(0, start - 60), start))) continue;
    let pos = start + 4;
    let chars = m[1] ?? '';
    const candidates: string[] = [];
    while (chars.length < 34) {
      const group = /^ ?([A-Z0-9]{1,34})(?![a-z])/.exec(text.slice(pos));
      if (!group) break;
      for (const ch of group[1] ?? '') {
        if (chars.length >= 34) break;
        chars += ch;
      }
      pos += group[0].length;
      candidates.push(chars);
    }
    const hit = candidates.reverse().find(isValidIban);
    if (hit) out.push({ value: hit, index: start, rule: 'iban-checksum' });
  }
  return out;
}
