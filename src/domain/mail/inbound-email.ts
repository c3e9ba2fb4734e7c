// The shape every inbound email has once an adapter has parsed it, whatever the input was.
// Pure: no I/O, no packages. Message ids are stored bare (no angle brackets) and case-preserved,
// so lookups by id must compare exactly.

export interface MailAddress {
  address: string;
  name: string;
}

export interface ParsedAttachment {
  filename: string;
  contentType: string;
  /** Decoded size in bytes, also when the content was dropped. */
  size: number;
  /** Content-ID without angle brackets. */
  contentId: string | null;
  inline: boolean;
  /** null when the attachment exceeded the size cap; then `truncated` is true. */
  content: Uint8Array | null;
  truncated: boolean;
  /** sha256 hex of the full decoded content, computed even when the content was dropped. */
  checksum: string;
}

export interface AutoReplyVerdict {
  auto: boolean;
  reason: string | null;
}

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded' | 'unknown';

export interface BounceInfo {
  /** Message-ID of the message that bounced, from the returned message or its headers. */
  originalMessageId: string | null;
  recipients: string[];
  /** RFC 3463 status code such as 5.1.1 of the most severe recipient. */
  status: string | null;
  /** Most severe action over all recipients: failed > delayed > the rest. */
  action: DsnAction;
  /** True when any recipient failed for good (action failed or a 5.x.x status). */
  permanent: boolean;
  /** `rfc3464` for a delivery status notification, else the vendor of a text report (`qmail`, `exim`, ..., `text`). */
  format: string;
  /** The report's line that gives the reason, for text reports (a DSN has it per recipient). */
  diagnostic: string | null;
}

export interface InboundEmail {
  messageId: string | null;
  /** The first In-Reply-To id; further In-Reply-To ids are appended to `references`. */
  inReplyTo: string | null;
  /** Oldest first, de-duplicated. */
  references: string[];
  from: MailAddress | null;
  replyTo: MailAddress[];
  to: MailAddress[];
  cc: MailAddress[];
  subject: string;
  /** ISO 8601; null when the Date header is missing or unparseable (never "now"). */
  date: string | null;
  bodyPlain: string;
  bodyHtml: string | null;
  attachments: ParsedAttachment[];
  /** Lower-cased names of the headers threading and auto-reply detection need; unfolded values. */
  headers: Record<string, string>;
  autoReply: AutoReplyVerdict;
  bounce: BounceInfo | null;
  parseWarnings: string[];
}

export interface HeaderField {
  /** Lower-cased. */
  name: string;
  /** Unfolded (line breaks of continuation lines removed), trimmed, not decoded. */
  value: string;
}

const ANGLE_ID = /<([^<>]*)>/g;
const HEADER_LINE = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$/s;
const HEADER_END = /\r\n\r\n|\n\n|\r\r|\n\r\n|\r\n\n/;

/** One bare id: angle brackets and surrounding whitespace removed; null when nothing usable is left. */
export function normaliseMessageId(value: string | null | undefined): string | null {
  const ids = parseMessageIds(value);
  if (ids[0] !== undefined) return ids[0];
  // A lone bare token ("Message-ID: 12223") is non-conforming but still names the message.
  const bare = (value ?? '').trim();
  return bare !== '' && bare.length <= 998 && !/[\s<>]/.test(bare) ? bare : null;
}

/**
 * Ids of a Message-ID, In-Reply-To or References value, in header order, de-duplicated.
 * Bracketed ids win; text outside brackets (comments, "Joe's message of …") is ignored. Without
 * any brackets, whitespace- or comma-separated tokens containing "@" are taken. An id with
 * whitespace inside (a broken fold) is dropped rather than guessed.
 */
export function parseMessageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  const push = (candidate: string): void => {
    const id = candidate.trim();
    if (id.length > 0 && id.length <= 998 && !/[\s<>]/.test(id) && !out.includes(id)) out.push(id);
  };
  let bracketed = false;
  for (const match of value.matchAll(ANGLE_ID)) {
    bracketed = true;
    push(match[1] ?? '');
  }
  if (!bracketed) {
    for (const token of value.split(/[\s,]+/)) if (token.includes('@')) push(token);
  }
  return out;
}

/** A parameter of a structured header value (`charset` of a Content-Type), unquoted, lower-cased. */
/** The media type of a Content-Type value, lower-cased, without parameters ('' when there is none). */
export function mediaType(contentType: string | null | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function headerParam(value: string, name: string): string | null {
  const escaped = name.replace(/[^a-z0-9-]/gi, '');
  const match = new RegExp(`;\\s*${escaped}\\s*=\\s*("([^"]*)"|[^;\\s]*)`, 'i').exec(value);
  if (!match) return null;
  return (match[2] ?? match[1] ?? '').trim().toLowerCase() || null;
}

/** The form addresses are compared in: trimmed, lower-cased. */
export function addressKey(address: string): string {
  return address.trim().toLowerCase();
}

/**
 * Splits raw message text at the first empty line into unfolded header fields and the body.
 * Accepts CRLF, LF, CR-only and mixed line endings. Lines that are not `name: value` are counted
 * in `malformedLines` and skipped; a continuation line with nothing before it starts a field.
 */
export function splitHeaderBlock(text: string): { fields: HeaderField[]; body: string; malformedLines: number } {
  const end = HEADER_END.exec(text);
  const head = end ? text.slice(0, end.index) : text;
  const body = end ? text.slice(end.index + end[0].length) : '';
  const fields: HeaderField[] = [];
  let malformedLines = 0;
  let current: { name: string; value: string } | null = null;
  for (const line of head.split(/\r\n|\n|\r/)) {
    if (/^[ \t]/.test(line) && current) {
      current.value += line;
      continue;
    }
    const match = HEADER_LINE.exec(line.trimStart());
    if (!match) {
      if (line.trim() !== '') malformedLines++;
      continue;
    }
    current = { name: (match[1] ?? '').toLowerCase(), value: match[2] ?? '' };
    fields.push(current);
  }
  return { fields: fields.map((f) => ({ name: f.name, value: f.value.trim() })), body, malformedLines };
}

/**
 * The named headers as a record: first occurrence wins, except References, whose repeated
 * fields are joined (clients and lists sometimes split it over several fields).
 */
export function pickHeaders(fields: readonly HeaderField[], names: Iterable<string>): Record<string, string> {
  const wanted = new Set(Array.from(names, (n) => n.toLowerCase()));
  const out: Record<string, string> = {};
  for (const field of fields) {
    if (!wanted.has(field.name)) continue;
    const previous = out[field.name];
    if (previous === undefined) out[field.name] = field.value;
    else if (field.name === 'references') out[field.name] = `${previous} ${field.value}`;
  }
  return out;
}
