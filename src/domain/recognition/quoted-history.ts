// Cuts quoted and forwarded history off an inbound plain-text body, so that recognition reads only
// what the customer wrote now. Pure. A header marker (attribution line, Outlook header block,
// forward separator) cuts everything after it; `>` lines are dropped one by one, so that text a
// customer writes below or between quoted lines survives.

const SEPARATOR = new RegExp(
  '^\\s*[-_*=]{2,}\\s*(?:original(?:\\s+|-)message|ursprüngliche\\s+nachricht|original-?nachricht|' +
    'forwarded\\s+message|weitergeleitete\\s+nachricht|message\\s+d\'origine)\\s*[-_*=]{2,}\\s*$',
  'iu',
);
const FORWARD_INTRO = /^\s*(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+(?:nachricht|e-?mail)|ursprüngliche\s+nachricht)\s*:?\s*$/iu;
const UNDERSCORE_RULE = /^\s*_{10,}\s*$/;
/** "Am 12.03.2026 um 09:14 schrieb X <x@y>:", "On Tue, 10 Mar 2026, X wrote:", "X schrieb am …:", "Le … a écrit :". */
const ATTRIBUTION = /^\s*(?:(?:am|on|le)\s.{3,250}?)?\b(?:schrieb|wrote|a\s+écrit)\b.{0,250}:\s*$/iu;
const ATTRIBUTION_START = /^\s*(?:(?:am|on)\s|.*\b(?:schrieb|wrote)\b)/iu;
const HEADER_FROM = /^\s*\**(?:von|from|de)\**\s*:\s*\S/iu;
const HEADER_DATE = /^\s*\**(?:gesendet|sent|datum|date|envoyé)\**\s*:\s*\S/iu;
const HEADER_OTHER = /^\s*\**(?:an|to|betreff|subject|cc|objet)\**\s*:/iu;
const QUOTED = /^\s*>/;

/** An attribution needs a date, a time or an address in it; "Sie schrieb mir:" alone is no quote marker. */
function isAttribution(line: string): boolean {
  return ATTRIBUTION.test(line) && /\d|@/.test(line);
}

/** "Von: …" followed within four lines by a date line and another header: an Outlook block. */
function isHeaderBlock(lines: readonly string[], i: number): boolean {
  if (!HEADER_FROM.test(lines[i] ?? '')) return false;
  const next = lines.slice(i + 1, i + 5);
  return next.some((l) => HEADER_DATE.test(l)) && next.some((l) => HEADER_OTHER.test(l) || HEADER_DATE.test(l));
}

function startsHistory(lines: readonly string[], i: number): boolean {
  const line = lines[i] ?? '';
  if (SEPARATOR.test(line) || FORWARD_INTRO.test(line) || isHeaderBlock(lines, i)) return true;
  if (UNDERSCORE_RULE.test(line) && (HEADER_FROM.test(lines[i + 1] ?? '') || isHeaderBlock(lines, i + 1))) return true;
  if (isAttribution(line)) return true;
  // Mail clients wrap long attribution lines ("… schrieb Stadtwerke <" / "service@…>:").
  if (ATTRIBUTION_START.test(line) && !/:\s*$/.test(line)) {
    for (const span of [2, 3]) {
      const joined = lines.slice(i, i + span).join(' ');
      if (isAttribution(joined)) return true;
    }
  }
  return false;
}

export function stripQuotedHistory(body: string): string {
  const lines = body.replace(/\r\n?/g, '\n').split('\n');
  let end = lines.length;
  for (let i = 0; i < lines.length; i++) {
    if (startsHistory(lines, i)) {
      end = i;
      break;
    }
  }
  return lines
    .slice(0, end)
    .filter((line) => !QUOTED.test(line))
    .join('\n')
    .replace(/\s+$/, '');
}
