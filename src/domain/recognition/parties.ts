// Who wrote, or for whom: the customer's name from the sign-off, a self-introduction, the
// signature or the display name, and the customer's company when it carries a legal form. Names
// are never read from the salutation (which addresses the team), and the team's own company is
// never the customer's. Pure.
import type { CustomerText } from './customer-text.ts';
import type { OwnParty } from './own-party.ts';
import { isInitial, parseName, readNameAt, type PersonName } from './person-name.ts';

export type PartySource = 'body' | 'signature' | 'greeting' | 'introduction' | 'sender';

export interface NameCandidate {
  name: PersonName;
  source: PartySource;
  rule: string;
  /** Lower ranks win: behalf 0, form 1, introduction 2, greeting 3, signature 4, sender 5. */
  rank: number;
}

const RELATION =
  '(?:Mutter|Vater|Mama|Papa|Oma|Opa|Großmutter|Großvater|Schwiegermutter|Schwiegervater|Ehefrau|Ehemann|Tochter|Sohn|Schwester|Bruder|Tante|Onkel|' +
  'Nachbarin|Nachbarn|Nachbar|Mandantin|Mandanten|Mieterin|Mieters?|Kundin|Kunden|Lebensgefährtin|Lebensgefährten|Partnerin|Partners?|' +
  'mother|father|mum|mom|dad|grandmother|grandfather|wife|husband|daughter|son|sister|brother|aunt|uncle|neighbou?r|client|tenant)';
/** Writing for someone else: that person is the customer. */
const BEHALF = new RegExp(
  '(?<!\\p{L})(?:' +
    `(?:im\\s+(?:Auftrag|Namen)|in\\s+Vertretung|stellvertretend\\s+für|on\\s+behalf\\s+of)\\s+(?:(?:von|meiner|meines|meinem|unserer|unseres|my|our)\\s+)?(?:${RELATION}\\s*,?\\s*)?|` +
    `(?:für|for)\\s+(?:meine[nmr]?|unsere[nmr]?|my|our)\\s+${RELATION}\\s*,?\\s*|` +
    '(?:wir|ich)\\s+vertreten\\s+(?:unsere[nr]?\\s+|meine[nr]?\\s+)?(?:Mandant(?:in|en)?\\s*,?\\s*)?|(?:we|I)\\s+represent\\s+(?:our\\s+|my\\s+)?(?:client\\s*,?\\s*)?|' +
    '(?:Vertragsinhaber(?:in)?|Versicherungsnehmer(?:in)?|(?:contract|policy)\\s*holder)(?:\\s+(?:ist|is))?\\s*:?\\s*' +
    ')',
  'giu',
);
const INTRODUCTION = /(?<!\p{L})(?:mein\s+Name\s+(?:ist|lautet)|my\s+name\s+is|my\s+name's|ich\s+heiße|Kontoinhaber(?:in)?(?:\s+ist)?|account\s+holder(?:\s+is)?)\s*:?\s*/giu;
/** Weaker: "ich bin …", "this is …" only count with a full name or "… from …". */
const WEAK_INTRODUCTION = /(?<!\p{L})(?:ich\s+bin|hier\s+(?:ist|schreibt)|es\s+schreibt(?:\s+Ihnen)?|this\s+is|I\s+am|I'm|I’m)\s+/giu;
const FROM_AFTER = /^\s*(?:from|von|at|of|aus|here|hier)\b/iu;

function byIntroduction(ct: CustomerText): NameCandidate[] {
  const out: NameCandidate[] = [];
  const scan = (re: RegExp, rank: number, rule: string, weak: boolean): void => {
    for (const m of ct.text.matchAll(re)) {
      const at = (m.index ?? 0) + m[0].length;
      const read = readNameAt(ct.text, at);
      if (!read) continue;
      if (weak && read.tokens < 2 && !FROM_AFTER.test(ct.text.slice(read.end))) continue;
      const name = parseName(read.raw);
      if (name) out.push({ name, source: 'introduction', rule, rank });
    }
  };
  scan(BEHALF, 0, 'on-behalf-of', false);
  scan(INTRODUCTION, 2, 'self-introduction', false);
  scan(WEAK_INTRODUCTION, 2, 'self-introduction', true);
  return out;
}

/** The name under the closing: skips a company line and "i. A."; stops at anything else. */
function bySignOff(ct: CustomerText): NameCandidate | null {
  const found = (raw: string): NameCandidate | null => {
    const name = parseName(raw);
    return name ? { name, source: 'greeting', rule: 'sign-off', rank: 3 } : null;
  };
  if (ct.closingName) return found(ct.closingName);
  if (ct.closing < 0) return null;
  let seen = 0;
  for (let i = ct.closing + 1; i < ct.lines.length && seen < 4; i++) {
    const line = (ct.lines[i] ?? '').split('|')[0]!.trim();
    if (line === '') continue;
    seen++;
    if (hasLegalForm(line) || /^(?:i\.\s?A\.|i\.\s?V\.|ppa\.)$/u.test(line)) continue;
    return found(line);
  }
  return null;
}

function bySignature(ct: CustomerText): NameCandidate | null {
  if (ct.signatureKind !== 'delimiter' && ct.signatureKind !== 'trailing') return null;
  const line = ct.lines.slice(ct.signature).find((l) => l !== '');
  const name = line ? parseName(line.split('|')[0] ?? '') : null;
  return name ? { name, source: 'signature', rule: 'signature-block', rank: 4 } : null;
}

export function byDisplayName(fromName: string | null | undefined): NameCandidate | null {
  if (!fromName || fromName.includes('@') || hasLegalForm(fromName)) return null;
  const name = parseName(fromName.replace(/^["']|["']$/g, ''), { lenient: true });
  // A one-word display name ("Office", "Kaffeeklappe") says too little to be a person's name.
  if (!name?.lastname) return null;
  return { name, source: 'sender', rule: 'display-name', rank: 5 };
}

export function nameCandidates(ct: CustomerText, fromName: string | null | undefined, formName: NameCandidate | null): NameCandidate[] {
  const all = [...byIntroduction(ct), formName, bySignOff(ct), bySignature(ct), byDisplayName(fromName)];
  return all.filter((c): c is NameCandidate => c !== null).sort((a, b) => a.rank - b.rank);
}

export interface ResolvedName {
  firstname?: { value: string; source: PartySource; rule: string };
  lastname?: { value: string; source: PartySource; rule: string };
}

const same = (a: string | undefined, b: string | undefined): boolean => !!a && !!b && a.toLowerCase() === b.toLowerCase();

/**
 * The best-ranked name, completed from weaker sources that agree with it: a lone first name gets
 * the last name of a display name with the same first name (or of "First Last" elsewhere in the
 * text), an initial gets the full first name of the same last name. A name written for someone
 * else is never completed from the writer's own name.
 */
export function resolveName(candidates: readonly NameCandidate[], text: string): ResolvedName {
  const best = candidates[0];
  if (!best) return {};
  const out: ResolvedName = {};
  const put = (field: 'firstname' | 'lastname', value: string | undefined, from: NameCandidate, rule = from.rule): void => {
    if (value) out[field] = { value, source: from.source, rule };
  };
  put('firstname', best.name.firstname, best);
  put('lastname', best.name.lastname, best);
  const rest = best.rank === 0 ? [] : candidates.slice(1);
  const first = best.name.firstname;
  const last = best.name.lastname;
  if (first && !last && !isInitial(first)) {
    const match = rest.find((c) => c.name.lastname && same(c.name.firstname, first));
    if (match) put('lastname', match.name.lastname, match, `${match.rule}+completion`);
    else {
      const escaped = first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const inText = new RegExp(`(?<![\\p{L}])${escaped}[ \\t]+(\\p{Lu}[\\p{L}'’-]+)(?![\\p{L}])`, 'u').exec(text);
      const name = inText ? parseName(`${first} ${inText[1]}`) : null;
      if (name?.lastname && best.rank !== 0) out.lastname = { value: name.lastname, source: 'body', rule: 'name-in-text+completion' };
    }
  }
  if (last) {
    const initials = first ? first.split(/\s+/).every(isInitial) : true;
    if (initials) {
      const match = rest.find((c) => same(c.name.lastname, last) && c.name.firstname && !isInitial(c.name.firstname) && (!first || c.name.firstname.startsWith(first[0]!)));
      if (match) put('firstname', match.name.firstname, match, `${match.rule}+completion`);
      else if (first) delete out.firstname;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------- companies

const LEGAL_FORM =
  /(?<!\p{L})(GmbH & Co\.? KG(?:aA)?|AG & Co\.? KG|UG \(haftungsbeschränkt\)|gGmbH|GmbH|KGaA|AG|OHG|oHG|KG|GbR|PartG(?: mbB)?|UG|e\. ?K\.|e\. ?Kfm\.|e\. ?Kfr\.|e\. ?V\.|Ltd\.?|Limited|LLC|L\.L\.C\.|Inc\.?|Incorporated|PLC|plc|LLP|SE|S\.A\.|B\.V\.|N\.V\.)(?![\p{L}\d])/gu;
const LEADING_STOP = new Set(
  ('die der das den dem des the a an wir ich firma fa fa. unternehmen company als bei für von mit im am unsere unser our meine mein my ihre ihr your ' +
    'sehr geehrte liebe hallo dear hi inhaber inhaberin geschäftsführer geschäftsführerin betreiber betreiberin kunde kundin mieter mieterin ' +
    'bauherr bauherrin vermieter vermieterin & + und and').split(' '),
);
const CONNECTORS = new Set(['&', '+', 'und', 'and']);
/** Context that makes a company a third party: the previous supplier, the landlord, the builder. */
const THIRD_PARTY = new RegExp(
  '(?:(?:bisherig|vorherig|alt|früher|ehemalig|vorig)\\p{L}*\\s+(?:\\p{L}+\\s+){0,2}?\\p{L}*(?:versorger|anbieter|lieferant)|' +
    'netzbetreiber|messstellenbetreiber|bauherr\\p{L}*|vermieter\\p{L}*|hausverwaltung|verwalter\\p{L}*|inkasso\\p{L}*|arbeitgeber\\p{L}*|' +
    '(?:previous|old|former)\\s+(?:supplier|provider)|landlord|letting\\s+agent|builder|employer|network\\s+operator|' +
    // "ein Brief an die X GmbH", "our contract with X PLC", "ich arbeite bei der X AG": someone else.
    '(?<!\\p{L})(?:an|bei|mit|gegen|von|to|with|against|at)\\s+(?:(?:der|die|den|dem|the)\\s+)?$)',
  'iu',
);

export function hasLegalForm(text: string): boolean {
  LEGAL_FORM.lastIndex = 0;
  return LEGAL_FORM.test(text);
}

export interface CompanyCandidate {
  value: string;
  index: number;
}

/** "Müller Bau GmbH" out of "… schließen aber wir als Müller Bau GmbH ab": capitalised words before the legal form. */
export function findCompanies(text: string, own: OwnParty): CompanyCandidate[] {
  const out: CompanyCandidate[] = [];
  for (const m of text.matchAll(LEGAL_FORM)) {
    const at = m.index ?? 0;
    const lineStart = text.lastIndexOf('\n', at - 1) + 1;
    const before = text.slice(lineStart, at);
    const segment = before.split(/[,;:()"„“”|]|[.!?](?=\s)/).at(-1) ?? '';
    const tokens = segment.trim().split(/\s+/).filter(Boolean);
    const name: string[] = [];
    for (let i = tokens.length - 1; i >= 0 && name.length < 6; i--) {
      const token = tokens[i]!;
      if (/^[\p{Lu}\d]/u.test(token) || CONNECTORS.has(token)) name.unshift(token);
      else break;
    }
    while (name.length > 0 && LEADING_STOP.has(name[0]!.toLowerCase())) name.shift();
    if (!name.some((t) => /^\p{Lu}\p{L}/u.test(t))) continue;
    const value = `${name.join(' ')} ${m[1]}`;
    const start = at - segment.length + segment.indexOf(name[0]!);
    const sentence = text.slice(Math.max(0, start - 100), start).split(/[.!?](?:\s|$)|\n\n/).at(-1) ?? '';
    if (own.isOwnCompany(value) || THIRD_PARTY.test(sentence)) continue;
    out.push({ value, index: start });
  }
  return out;
}
