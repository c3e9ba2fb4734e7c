// The part of an inbound body the customer wrote now, cleaned for reading: quoted and forwarded
// history cut off, mobile footers and leftover team signatures dropped, and the closing
// ("Mit freundlichen Grüßen") and signature block located. Pure.
import type { OwnParty } from './own-party.ts';
import { isNameToken, parseName } from './person-name.ts';
import { stripQuotedHistory } from './quoted-history.ts';

export type Region = 'body' | 'signature';

export interface CustomerText {
  text: string;
  lines: string[];
  /** Offset of each line in `text`. */
  lineStarts: number[];
  /** The closing line ("Viele Grüße"), -1 when there is none. */
  closing: number;
  /** A name on the closing line itself ("LG Sandra", "Cheers, Dave"). */
  closingName: string | null;
  /** First line of the signature block; `lines.length` when there is none. */
  signature: number;
  signatureKind: 'closing' | 'delimiter' | 'trailing' | null;
  regionAt(offset: number): Region;
  lineAt(offset: number): number;
}

const THANKS = '(?:(?:vielen|besten|herzlichen)\\s+)?dank(?:e)?(?:\\s+im\\s+voraus)?|thanks?(?:\\s+again)?|thank\\s+you';
const CLOSING_CORE = [
  '(?:mit\\s+)?(?:den\\s+)?(?:(?:freundlich|best|herzlich|lieb|viel|schön|sonnig|sportlich|nett|kollegial|frdl\\.|freundl\\.)[a-z]*\\s+)?(?:grüße?n?|grüsse?n?|gruß|gruss)',
  'mfg', 'lg', 'vg', 'bg', 'hg',
  '(?:vielen|herzlichen|besten)\\s+dank(?:\\s+im\\s+voraus)?', 'danke(?:\\s+(?:schön|sehr|im\\s+voraus))?',
  '(?:best|kind|warm|warmest|kindest|many)\\s+(?:regards|wishes)', 'regards', 'best', 'cheers',
  'thanks(?:\\s+(?:again|in\\s+advance|a\\s+lot|so\\s+much))?', 'thank\\s+you(?:\\s+(?:very\\s+much|in\\s+advance|so\\s+much))?',
  'many\\s+thanks', '(?:yours\\s+)?(?:sincerely|faithfully|truly)', 'all\\s+the\\s+best', 'take\\s+care',
].join('|');
const CLOSING = new RegExp(`^(?:(?:${THANKS})\\s*(?:und|and|&|,)\\s*)?(?:${CLOSING_CORE})(?!\\p{L})(?:\\s+(?:aus|vom|von|from)\\s+[^,\\n]*)?`, 'iu');
const DELIMITER = /^(?:--|_{2,}|—)\s*$/;
const MOBILE_FOOTER = /^(?:sent from my|sent from outlook|get outlook for|von meinem|gesendet von meinem|gesendet mit|gesendet von outlook|diese nachricht wurde von meinem)\b/i;
const TEAM_SIGNATURE_MARKERS = /\b(?:tel|telefon|fax|iban|bic|amtsgericht|registergericht|hrb|hra|ust|geschäftsführ\w*|vorstand|sitz|kundenservice|customer\s+service|registered|service-?team)\b/iu;
const CONTACT_LINE = /@|www\.|\d[\d ()/.-]{5,}\d|\b\d{5}\s+\p{Lu}|(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm)\s+\d/iu;

/** The closing at the start of a line and a name written after it on the same line. */
export function readClosing(line: string): { name: string | null } | null {
  const m = CLOSING.exec(line.trim());
  if (!m) return null;
  const rest = line.trim().slice(m[0].length).replace(/^[\s,.!;:–-]+/, '').replace(/(?<![\s,.!])[\s,.!]+$/, '');
  if (rest === '') return { name: null };
  return parseName(rest) ? { name: rest } : null;
}

function normalise(body: string): string[] {
  return body
    .replace(/\r\n?/g, '\n')
    .replace(/[\u00a0\u2007\u202f\t]/g, ' ')
    .replace(/[\u200b-\u200d\ufeff]/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => !MOBILE_FOOTER.test(l));
}

/**
 * A paragraph that names the team's domain together with signature data (phone, IBAN, register
 * court) is the team's own signature that survived quote stripping: cut it and what follows, and
 * the closing just above it.
 */
function cutTeamSignature(lines: string[], own: OwnParty): string[] {
  let start = 0;
  for (let i = 0; i <= lines.length; i++) {
    if (i < lines.length && lines[i] !== '') continue;
    const paragraph = lines.slice(start, i).join('\n');
    if (paragraph && own.mentionsOwnDomain(paragraph) && TEAM_SIGNATURE_MARKERS.test(paragraph)) {
      let cut = start;
      for (let j = start - 1; j >= Math.max(0, start - 4); j--) if (lines[j] && readClosing(lines[j]!)) cut = j;
      return lines.slice(0, cut);
    }
    start = i + 1;
  }
  return lines;
}

function trailingSignature(lines: string[]): number {
  let i = lines.length - 1;
  while (i >= 0 && lines[i] === '') i--;
  const last = i;
  while (i >= 0 && lines[i] !== '' && CONTACT_LINE.test(lines[i]!)) i--;
  const fullName = (line: string | undefined): boolean => {
    const name = line ? parseName(line.split('|')[0] ?? '') : null;
    return !!name?.firstname && !!name.lastname;
  };
  if (i < last) {
    // Name, an optional role line ("Hausmeister"), then contact lines.
    if (fullName(lines[i])) return i;
    if (i - 1 >= 0 && lines[i] && /^[\p{L} -]{2,40}$/u.test(lines[i]!) && fullName(lines[i - 1])) return i - 1;
    return lines.length;
  }
  // A last line that is a full name and nothing else ("… war dauerbesetzt.\nAnna Schmitt").
  const line = lines[last];
  if (line && fullName(line) && line.split(/\s+/).every((t) => isNameToken(t) || /^[a-z]{2,3}$/.test(t))) return last;
  return lines.length;
}

export function customerText(body: string, own: OwnParty): CustomerText {
  let lines = cutTeamSignature(normalise(stripQuotedHistory(body)), own);
  const compact: string[] = [];
  for (const line of lines) if (line !== '' || (compact.length > 0 && compact.at(-1) !== '')) compact.push(line);
  while (compact.at(-1) === '') compact.pop();
  lines = compact;

  let closing = -1;
  let closingName: string | null = null;
  for (let i = lines.length - 1; i >= 0; i--) {
    const found = readClosing(lines[i]!);
    if (found) {
      closing = i;
      closingName = found.name;
      break;
    }
  }
  const delimiter = lines.findIndex((l) => DELIMITER.test(l));
  let signature = lines.length;
  let signatureKind: CustomerText['signatureKind'] = null;
  if (closing >= 0) {
    signature = closing + 1;
    signatureKind = 'closing';
  } else if (delimiter >= 0) {
    signature = delimiter + 1;
    signatureKind = 'delimiter';
  } else {
    signature = trailingSignature(lines);
    if (signature < lines.length) signatureKind = 'trailing';
  }

  const lineStarts: number[] = [];
  let offset = 0;
  for (const line of lines) {
    lineStarts.push(offset);
    offset += line.length + 1;
  }
  const text = lines.join('\n');
  const lineAt = (at: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  return {
    text, lines, lineStarts, closing, closingName, signature, signatureKind, lineAt,
    regionAt: (at) => (lineAt(at) >= signature ? 'signature' : 'body'),
  };
}
