// Cuts quoted and forwarded history off an inbound plain-text body, so that recognition reads only
// what the customer wrote now. Pure. A header marker (attribution line, Outlook header block,
// forward separator) cuts everything after it; `>` lines are dropped one by one, so that text a
// customer writes below or between quoted lines survives.

// Every test below reads one trimmed line of bounded length (MAX_MARKER_LINE): no pattern starts
// or ends with a whitespace run, so none can backtrack over a long run of blanks (a body of 40,000
// spaces once cost seconds here).
import { MAX_MARKER_LINE } from './bounds.ts';

const SEPARATOR = new RegExp(
  '^[-_*=]{2,}\\s*(?:original(?:\\s+|-)message|ursprüngliche\\s+nachricht|original-?nachricht|' +
    'forwarded\\s+message|weitergeleitete\\s+nachricht|message\\s+d\'origine)\\s*[-_*=]{2,}$',
  'iu',
);
const FORWARD_INTRO = /^(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+(?:nachricht|e-?mail)|ursprüngliche\s+nachricht)(?:\s*:)?$/iu;
const UNDERSCORE_RULE = /^_{10,}$/;
/**
 * "Am 12.03.2026 um 09:14 schrieb X <x@y>:", "On Tue, 10 Mar 2026, X wrote:", "Le … a écrit :": the
 * verb opens the line or follows "am/on/le" by 3 to 250 characters, and at most 250 characters
 * after it the line ends in a colon. Checked by positions, not by one backtracking pattern.
 */
const ATTRIBUTION_VERB = /\b(?:schrieb|wrote|a\s+écrit)\b/giu;
const ATTRIBUTION_LEAD = /^(?:am|on|le)\s/iu;
const ATTRIBUTION_START = /^(?:am|on)\s/iu;
const ATTRIBUTION_START_VERB = /\b(?:schrieb|wrote)\b/iu;
const HEADER_FROM = /^\**(?:von|from|de)\**\s*:\s*\S/iu;
const HEADER_DATE = /^\**(?:gesendet|sent|datum|date|envoyé)\**\s*:\s*\S/iu;
const HEADER_OTHER = /^\**(?:an|to|betreff|subject|cc|objet)\**\s*:/iu;

/** The line as the markers read it: trimmed, and empty when it is too long to be a marker at all. */
function markerText(line: string | undefined): string {
  const t = (line ?? '').trim();
  return t.length > MAX_MARKER_LINE ? '' : t;
}

/** An attribution needs a date, a time or an address in it; "Sie schrieb mir:" alone is no quote marker. */
function isAttribution(text: string): boolean {
  const t = text.trim();
  if (!t.endsWith(':') || t.length > MAX_MARKER_LINE || !/[\d@]/.test(t)) return false;
  const lead = ATTRIBUTION_LEAD.exec(t)?.[0].length;
  for (const m of t.matchAll(ATTRIBUTION_VERB)) {
    const after = t.length - 1 - (m.index + m[0].length);
    if (after < 0 || after > 250) continue;
    if (m.index === 0 || (lead !== undefined && m.index - lead >= 3 && m.index - lead <= 250)) return true;
  }
  return false;
}

/** "Von: …" followed within four lines by a date line and another header: an Outlook block. */
function isHeaderBlock(lines: readonly string[], i: number): boolean {
  if (!HEADER_FROM.test(markerText(lines[i]))) return false;
  const next = lines.slice(i + 1, i + 5).map(markerText);
  return next.some((l) => HEADER_DATE.test(l)) && next.some((l) => HEADER_OTHER.test(l) || HEADER_DATE.test(l));
}

function startsHistory(lines: readonly string[], i: number): boolean {
  const line = markerText(lines[i]);
  if (line === '') return false;
  if (SEPARATOR.test(line) || FORWARD_INTRO.test(line) || isHeaderBlock(lines, i)) return true;
  if (UNDERSCORE_RULE.test(line) && (HEADER_FROM.test(markerText(lines[i + 1])) || isHeaderBlock(lines, i + 1))) return true;
  if (isAttribution(line)) return true;
  // Mail clients wrap long attribution lines ("… schrieb Stadtwerke <" / "service@…>:").
  if ((ATTRIBUTION_START.test(line) || ATTRIBUTION_START_VERB.test(line)) && !line.endsWith(':')) {
    for (const span of [2, 3]) {
      const joined = lines.slice(i, i + span).map(markerText).join(' ');
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
    .filter((line) => !line.trimStart().startsWith('>'))
    .join('\n')
    .trimEnd();
}
