// Reading a person's name from a short piece of text ("Dr. Erika Mustermann", "Müller, Anja",
// "Charlotte von der Heydt") and splitting it into first and last name. Pure.

export interface PersonName {
  firstname?: string;
  lastname?: string;
}

const TITLES = new Set([
  'dr', 'dr.', 'prof', 'prof.', 'dipl.-ing.', 'dipl.-kfm.', 'dipl.-kffr.', 'dipl.', 'ing.', 'med.', 'rer.', 'nat.', 'phil.', 'jur.', 'mag.',
  'herr', 'herrn', 'frau', 'hr.', 'fr.', 'mr', 'mr.', 'mrs', 'mrs.', 'ms', 'ms.', 'miss', 'mx', 'mx.', 'sir', 'dame', 'madam',
]);
/** Words that put a name in the last name: "von der Heydt", "van Dijk", "de la Cruz". */
const PARTICLES = new Set(['von', 'van', 'vom', 'de', 'der', 'den', 'del', 'della', 'di', 'da', 'du', 'la', 'le', 'zu', 'zur', 'ten', 'ter', 'op', 'dos', 'af']);
/** Signature prefixes: "i. A. Monika Brandl", "Ihre Erika Mustermann". */
const SIGN_PREFIX = /^(?:i\.\s?A\.|i\.\s?V\.|ppa\.|p\.\s?p\.|Ihre?|Eure?|Deine?|Your|Yours)\s+/u;
const FAMILY = /^(?:Familie|Fam\.|Family|The)\s+(\S.*)$/u;

/**
 * Words that are capitalised like names but never are one in these places: nouns a German
 * sentence capitalises, roles, departments, greetings, and the words of mobile footers.
 */
const NOT_NAMES = new Set(
  (
    'team service kundenservice kundendienst kundenbetreuung support info information kontakt kontaktformular formular website webseite ' +
    'chat office büro buero verwaltung hausverwaltung buchhaltung einkauf vertrieb kasse kanzlei praxis abteilung geschäftsführung ' +
    'accounts accounting procurement billing sales admin administration reception mail post noreply newsletter portal online ' +
    'desk helpdesk facilities facility operations finance purchasing management department payable receivable director manager assistant officer ' +
    'stadtwerke energie energy gmbh ag kg ohg gbr ug ltd llc inc plc se bäckerei firma unternehmen company ' +
    'grüße grüßen gruß gruss grüsse danke dank vielen regards thanks thank cheers best kind sincerely faithfully wishes hallo hello hi ' +
    'dear sehr geehrte geehrter damen herren liebe lieber guten tag morgen abend wochenende moin servus ' +
    'sent gesendet von meinem iphone ipad android outlook samsung mobil mobile handy tel telefon fax e-mail email phone ' +
    'kunde kundin kunden neukunde neukundin customer client mieter mieterin vermieter vermieterin eigentümer eigentümerin tenant owner landlord ' +
    'rentner rentnerin rechtsanwalt rechtsanwältin anwalt anwältin hausmeister inhaber inhaberin geschäftsführer geschäftsführerin ' +
    'student studentin mitglied betreuer betreuerin bevollmächtigter bevollmächtigte erbe erbin ' +
    'mutter vater sohn tochter ehemann ehefrau nachbar nachbarin mother father son daughter husband wife ' +
    'ihr ihre ihres ihrem ihren sie wir ich und and the der die das den dem des ein eine einer your my mein meine unser unsere ' +
    'bitte please leider nicht kein keine frage anfrage problem rechnung vertrag zähler zählerstand abschlag strom gas wasser ' +
    'straße strasse weg platz allee montag dienstag mittwoch donnerstag freitag samstag sonntag ' +
    'januar februar märz april mai juni juli august september oktober november dezember ' +
    'monday tuesday wednesday thursday friday saturday sunday january february march may june july october december ' +
    'urgent dringend wichtig important betreff subject nachricht message'
  ).split(' '),
);

const NAME_TOKEN = /^(?:\p{Lu}\p{Ll}*['’]\p{Lu}\p{Ll}+|(?:Mc|Mac)\p{Lu}\p{Ll}+|\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)*)$/u;
const INITIAL = /^\p{Lu}\.$/u;

export function isInitial(token: string): boolean {
  return INITIAL.test(token);
}

function capitalise(token: string): string {
  return token.replace(/(^|[-'’])(\p{Ll})/gu, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
}

/** A word shaped like a name that is not a known non-name. `lenient` also accepts lower case (display names). */
export function isNameToken(token: string, lenient = false): boolean {
  if (NOT_NAMES.has(token.toLowerCase())) return false;
  return NAME_TOKEN.test(lenient ? capitalise(token) : token);
}

export function isTitle(token: string): boolean {
  return TITLES.has(token.toLowerCase());
}

export function isParticle(token: string): boolean {
  return PARTICLES.has(token);
}

/** Splits name tokens: the last token (with any particle before it) is the last name. */
function split(tokens: string[]): PersonName | null {
  if (tokens.length === 0) return null;
  if (tokens.length === 1) return { firstname: tokens[0]! };
  const particle = tokens.findIndex((t, i) => i >= 1 && i < tokens.length - 1 && isParticle(t));
  const cut = particle >= 1 ? particle : tokens.length - 1;
  return { firstname: tokens.slice(0, cut).join(' '), lastname: tokens.slice(cut).join(' ') };
}

/** Name tokens of a string after titles are dropped, or null when any word is not part of a name. */
function nameTokens(text: string, lenient: boolean, titled?: { value: boolean }): string[] | null {
  const tokens = text.split(/\s+/).filter(Boolean);
  while (tokens.length > 0 && isTitle(tokens[0]!)) {
    tokens.shift();
    if (titled) titled.value = true;
  }
  if (tokens.length === 0 || tokens.length > 5) return null;
  for (const [i, token] of tokens.entries()) {
    if (isTitle(token) && i > 0) return null;
    const last = i === tokens.length - 1;
    if (isNameToken(token, lenient)) continue;
    if (isInitial(token) && !last) continue;
    if (i > 0 && !last && isParticle(token)) continue;
    return null;
  }
  return tokens;
}

/**
 * A person's name from a line or phrase, or null when it does not look like one. Titles and
 * signature prefixes are dropped; "Müller, Anja" is turned round; "Familie Neumann" and
 * "Frau Baumann" give only a last name; any other single word is a first name.
 */
export function parseName(raw: string, options: { lenient?: boolean } = {}): PersonName | null {
  const lenient = options.lenient ?? false;
  let text = raw.replace(/\s+/g, ' ').trim().replace(/^[,;:.\s-]+|(?<![,;:!.\s])[,;:!.\s]+$/g, '');
  // A trailing initial's dot was just removed; "J" alone is no name anyway.
  text = text.replace(SIGN_PREFIX, '');
  if (!text || /[\d@/\\|()"]/.test(text)) return null;
  const family = FAMILY.exec(text);
  if (family) {
    const tokens = nameTokens(family[1] ?? '', lenient);
    return tokens ? { lastname: tokens.join(' ') } : null;
  }
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 2 && parts[0] && parts[1]) {
    const last = nameTokens(parts[0], lenient);
    const first = nameTokens(parts[1], lenient);
    if (!last || !first) return null;
    return { firstname: first.join(' '), lastname: last.join(' ') };
  }
  if (parts.length > 1) return null;
  const titled = { value: false };
  const tokens = nameTokens(text, lenient, titled);
  if (!tokens || tokens.every((t) => isInitial(t))) return null;
  // "Frau Baumann", "Dr. Müller": after a title a single word is the last name.
  if (tokens.length === 1 && titled.value) return { lastname: tokens[0]! };
  return split(tokens);
}

/**
 * Reads a name that starts at `from` in running text ("… meiner Mutter, Frau Hildegard Baumann,
 * die …"): titles, name words, initials and particles, up to the first other word or punctuation
 * other than an initial's dot. Case-sensitive: names start with a capital letter.
 */
export function readNameAt(text: string, from: number): { raw: string; tokens: number; end: number } | null {
  const rest = text.slice(from);
  const lead = /^[ \t]*/.exec(rest)?.[0].length ?? 0;
  const words: string[] = [];
  let count = 0;
  let pos = lead;
  let end = lead;
  const WORD = /^([\p{L}'’.-]+)(?:[ \t]+|$|(?=[^\p{L}'’.-]))/u;
  while (words.length < 7) {
    const m = WORD.exec(rest.slice(pos));
    if (!m) break;
    let word = m[1] ?? '';
    if (word.endsWith('.') && !isTitle(word) && !isInitial(word)) word = word.slice(0, -1);
    const isName = isNameToken(word) || isInitial(word);
    const isLead = count === 0 && isTitle(word);
    const isMid = count > 0 && isParticle(word) && isNameToken(/^[ \t]*([\p{L}'’-]+)/u.exec(rest.slice(pos + (m[0]?.length ?? 0)))?.[1] ?? '');
    if (!isName && !isLead && !isMid) break;
    words.push(word);
    if (!isLead) count++;
    pos += word.length;
    end = pos;
    const after = rest.slice(pos);
    const gap = /^[ \t]+/.exec(after)?.[0].length ?? 0;
    if (gap === 0) break;
    pos += gap;
  }
  if (count === 0) return null;
  const raw = words.join(' ');
  return { raw, tokens: count, end: from + end };
}
