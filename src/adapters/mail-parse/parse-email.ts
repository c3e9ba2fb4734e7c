// Raw RFC 5322 bytes -> InboundEmail. Never throws and never hangs: mailparser does the MIME
// work under a deadline; when it fails, times out or finds no header section, a header-only
// parse of the raw bytes takes over and says why in `parseWarnings`.
import iconv from 'iconv-lite';
import { MailParser, parseAddressHeader } from 'mailparser';
import type { AddressObject, AttachmentStream, EmailAddress, MessageText } from 'mailparser';
import { AUTO_REPLY_HEADER_NAMES, classifyAutoReply } from '../../domain/mail/auto-reply.ts';
import { detectBounce, fromMailSystem } from '../../domain/mail/bounce.ts';
import type { HeaderField, InboundEmail, MailAddress, ParsedAttachment } from '../../domain/mail/inbound-email.ts';
import { headerParam, normaliseMessageId, parseMessageIds, pickHeaders, splitHeaderBlock } from '../../domain/mail/inbound-email.ts';
import { THREADING_HEADER_NAMES } from '../../domain/mail/threading.ts';

export interface ParseLimits {
  /** Per attachment; larger ones keep size and checksum but no content. Default 10 MiB. */
  maxAttachmentBytes?: number;
  /** Per body (plain and HTML each). Default 1_000_000. */
  maxBodyChars?: number;
  /** Deadline for mailparser, per run. Default 5000 ms. */
  timeoutMs?: number;
}

const DEFAULTS: Required<ParseLimits> = { maxAttachmentBytes: 10 * 1024 * 1024, maxBodyChars: 1_000_000, timeoutMs: 5_000 };
const OUTPUT_HEADERS = [...THREADING_HEADER_NAMES, ...AUTO_REPLY_HEADER_NAMES];
// html-to-text time grows with input; beyond this the crude tag stripper is used instead.
const MAX_HTML_TO_TEXT = 2_000_000;
// Bounce detection reads only the start of these parts; the headers and status are at the top.
const STATUS_TYPES = ['message/delivery-status', 'message/global-delivery-status'];
// message/rfc822-headers (MailSite) and message/partial (Bigfoot) are not standard, but seen.
const ORIGINAL_TYPES = ['message/rfc822', 'text/rfc822-headers', 'message/global', 'message/global-headers', 'message/rfc822-headers', 'message/partial'];
const REPORT_PART_TYPES = new Set([...STATUS_TYPES, ...ORIGINAL_TYPES]);
const REPORT_PREVIEW_BYTES = 256 * 1024;
// Single header values past these are junk or attacks, never something an agent reads.
const MAX_SUBJECT_CHARS = 4_096;
const MAX_HEADER_CHARS = 65_536;
const EARLIEST_DATE = Date.UTC(1970, 0, 1);
const LATEST_DATE = Date.UTC(2200, 0, 1);

interface Collected {
  parser: MailParser;
  text: string | null;
  html: string | null;
  textConversionError: Error | null;
  attachments: Array<{ attachment: ParsedAttachment; preview: string | null }>;
}

export async function parseEmail(raw: Buffer, limits: ParseLimits = {}): Promise<InboundEmail> {
  const options = { ...DEFAULTS, ...limits };
  let input = raw;
  try {
    input = prepareRaw(raw);
    if (input.length === 0) return fallbackParse(input, options, ['empty message']);
    if (!looksLikeHeaders(input)) return fallbackParse(input, options, ['no header section: input taken as plain text']);
    // In a report (or a text bounce) the returned message must stay one attachment, whose
    // headers name the bounced id.
    const top = splitHeaderBlock(input.subarray(0, 65_536).toString('latin1')).fields;
    const topValue = (name: string): string => top.find((f) => f.name === name)?.value ?? '';
    const isReport = /^\s*multipart\/report\b/i.test(topValue('content-type')) || fromMailSystem({
      headers: Object.fromEntries(top.filter((f) => f.name === 'x-failed-recipients' || f.name === 'return-path').map((f) => [f.name, f.value])),
      subject: topValue('subject'),
      from: flattenAddresses(parseAddressHeader([topValue('from')]))[0] ?? null,
    });
    const collected = await runMailparser(input, options.maxAttachmentBytes, options.timeoutMs, isReport);
    return await fromMailparser(collected, input, options);
  } catch (err) {
    return fallbackParse(input, options, [`parser failed: ${err instanceof Error ? err.message : String(err)}`]);
  }
}

/** Strips a UTF-8 BOM and an mbox "From " envelope line; turns CR-only line endings into CRLF. */
function prepareRaw(raw: Buffer): Buffer {
  let start = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
  // "From sender date", not a header: "From  : John" (RFC 2822 obsolete syntax) must stay.
  if (/^From [^\s:]/.test(raw.subarray(start, start + 7).toString('latin1'))) {
    const eol = raw.subarray(start, start + 4096).findIndex((b) => b === 0x0a || b === 0x0d);
    if (eol >= 0) start += eol + (raw[start + eol] === 0x0d && raw[start + eol + 1] === 0x0a ? 2 : 1);
  }
  let out = start > 0 ? raw.subarray(start) : raw;
  const head = out.subarray(0, 65_536);
  const cr = head.indexOf(0x0d);
  const lf = head.indexOf(0x0a);
  // mailsplit only knows LF and CRLF; an old Mac mailer's CR-only message would lose its body.
  if (cr >= 0 && head[cr + 1] !== 0x0a && (lf < 0 || cr < lf)) {
    out = Buffer.from(out.toString('latin1').replace(/\r(?!\n)/g, '\r\n'), 'latin1');
  }
  return out;
}

/** A message starts with a header field, possibly after blank lines; anything else is plain text. */
function looksLikeHeaders(raw: Buffer): boolean {
  const start = raw.subarray(0, 4096).toString('latin1').replace(/^[ \t]*(\r\n|\n|\r)/, '');
  return /^[ \t]*[\x21-\x39\x3b-\x7e]+[ \t]*:/.test(start);
}

function runMailparser(raw: Buffer, maxAttachmentBytes: number, timeoutMs: number, ignoreEmbedded = false): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const parser = new MailParser({
      skipImageLinks: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      keepDeliveryStatus: true,
      checksumAlgo: 'sha256',
      maxHtmlLengthToParse: MAX_HTML_TO_TEXT,
      ignoreEmbedded,
    });
    const out: Collected = { parser, text: null, html: null, textConversionError: null, attachments: [] };
    let settled = false;
    const finish = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err === null) return resolve(out);
      parser.destroy();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    // A throw inside an event handler would be uncaught and end the process, hence the guards.
    parser.on('data', (data: AttachmentStream | MessageText) => {
      try {
        if (data.type === 'text') {
          out.text = typeof data.text === 'string' ? data.text : null;
          out.html = typeof data.html === 'string' ? data.html : null;
          out.textConversionError = data.textConversionError ?? null;
        } else {
          collectAttachment(data, maxAttachmentBytes, out, finish);
        }
      } catch (err) {
        finish(err);
      }
    });
    parser.on('error', finish);
    parser.on('end', () => finish(null));
    parser.end(raw);
  });
}

function collectAttachment(data: AttachmentStream, cap: number, out: Collected, fail: (err: unknown) => void): void {
  // mailparser passes header values through; a broken Content-Type can leave this non-string.
  const contentType =
    typeof data.contentType === 'string' && data.contentType ? data.contentType.toLowerCase() : 'application/octet-stream';
  const chunks: Buffer[] = [];
  let size = 0;
  const preview: Buffer[] | null = REPORT_PART_TYPES.has(contentType) ? [] : null;
  let previewSize = 0;
  data.content.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= cap) chunks.push(chunk);
    else chunks.length = 0;
    if (preview && previewSize < REPORT_PREVIEW_BYTES) {
      preview.push(chunk);
      previewSize += chunk.length;
    }
  });
  data.content.on('error', fail);
  data.content.on('end', () => {
    try {
      const truncated = size > cap;
      out.attachments.push({
        attachment: {
          filename: safeFilename(data.filename, contentType, out.attachments.length + 1),
          contentType,
          size,
          contentId: typeof data.cid === 'string' && data.cid.trim() ? data.cid.trim() : null,
          inline: data.contentDisposition === 'inline' || data.related === true,
          content: truncated ? null : new Uint8Array(Buffer.concat(chunks, size)),
          truncated,
          checksum: data.checksum ?? '',
        },
        preview: preview ? Buffer.concat(preview).toString('utf8') : null,
      });
      data.release?.();
    } catch (err) {
      fail(err);
    }
  });
}

function fieldsFromLines(lines: ReadonlyArray<{ key: string; line: string }>): HeaderField[] {
  return lines.map(({ key, line }) => ({
    name: key.toLowerCase(),
    value: line.slice(line.indexOf(':') + 1).replace(/\r?\n|\r/g, '').trim(),
  }));
}

async function fromMailparser(c: Collected, raw: Buffer, o: Required<ParseLimits>): Promise<InboundEmail> {
  const warnings: string[] = [];
  const fields = withRawBytes(fieldsFromLines(c.parser.headerLines || []), raw);
  if (utf7Message(raw)) {
    c.text = fromUtf7(c.text);
    c.html = fromUtf7(c.html);
  }
  const charset = headerParam(fields.find((f) => f.name === 'content-type')?.value ?? '', 'charset');
  const raw1 = (name: string): string | undefined => fields.find((f) => f.name === name)?.value;

  // mailparser reads raw 8-bit header bytes as UTF-8, which garbles Latin-1 from old clients
  // ("Fr\uFFFDsche"); such headers are decoded here with the message charset instead.
  // Encoded words in UTF-7 are left alone by mailparser too (see utf7Message).
  const legacy = (name: string): boolean => fields.some((f) => f.name === name && (isLegacy8bit(f.value) || UTF7_WORD.test(f.value)));
  const parsedSubject = typeof c.parser.subject === 'string' ? c.parser.subject : '';
  // Outlook 2000 with a UTF-7 body also writes its headers in raw UTF-7 ("Fr+APY-sche"): the
  // subject and display names are read as UTF-7 then, never the addresses ("a+b@x" is an address).
  const utf7Headers = charset !== null && UTF7.test(beforeStar(charset.trim()));
  const utf7Text = (text: string): string => (utf7Headers && text.includes('+') ? iconv.decode(Buffer.from(text, 'latin1'), 'utf-7') : text);
  const subject = utf7Text(legacy('subject') ? decodeHeaderText(raw1('subject') ?? '', charset) : parsedSubject);
  const addresses = (name: string, parsed: AddressObject | AddressObject[] | undefined): MailAddress[] => {
    const found = legacy(name)
      ? flattenAddresses(parseAddressHeader(fields.filter((f) => f.name === name).map((f) => decodeHeaderText(f.value, charset))))
      : flattenAddresses(parsed);
    return utf7Headers ? found.map((a) => ({ ...a, name: utf7Text(a.name) })) : found;
  };

  let bodyPlain = c.text?.trim() ? c.text : '';
  if (!bodyPlain && c.html?.trim()) bodyPlain = await htmlToPlain(c.html, o.timeoutMs);
  if (c.textConversionError) warnings.push(`HTML not converted to text: ${c.textConversionError.message}`);
  const reportText = (types: readonly string[]): string | null => {
    const previews = c.attachments.filter((a) => types.includes(a.attachment.contentType) && a.preview !== null);
    return previews.length > 0 ? previews.map((a) => a.preview).join('\n\n') : null;
  };
  const deliveryStatus = reportText(STATUS_TYPES);
  if (!bodyPlain.trim()) bodyPlain = deliveryStatus ?? '';
  if (!bodyPlain.trim() && !c.html && c.attachments.length === 0) {
    const rest = splitHeaderBlock(raw.toString('latin1')).body;
    if (rest.trim()) {
      bodyPlain = decodeBody(Buffer.from(rest, 'latin1'), charset, null);
      warnings.push('body not understood as MIME: raw body text kept');
    }
  }

  const headerRecord = decodedHeaders(fields, charset);
  const original = c.attachments.find((a) => ORIGINAL_TYPES.includes(a.attachment.contentType))?.preview ?? null;
  return assemble(
    {
      fields,
      headers: headerRecord,
      subject,
      from: addresses('from', c.parser.from),
      replyTo: addresses('reply-to', c.parser.replyTo),
      to: addresses('to', c.parser.to),
      cc: addresses('cc', c.parser.cc),
      bodyPlain,
      bodyHtml: c.html,
      attachments: c.attachments.map((a) => a.attachment),
      deliveryStatus,
      originalHeaders: original,
    },
    o,
    warnings,
  );
}

async function htmlToPlain(html: string, timeoutMs: number): Promise<string> {
  if (html.length <= MAX_HTML_TO_TEXT) {
    try {
      // mailparser converts a root text/html part with its guarded html-to-text; reuse that.
      const head = 'Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n';
      const wrapped = Buffer.from(head + html, 'utf8');
      const converted = await runMailparser(wrapped, 0, timeoutMs);
      if (converted.text?.trim()) return converted.text;
    } catch {
      // fall through to the crude conversion
    }
  }
  return htmlToPlainCrude(html);
}

/**
 * mailparser drops 8-bit header bytes it cannot read as UTF-8 (a Windows-1252 "…", 0x85, simply
 * vanishes). Such fields take their value from the raw header block instead, as bytes (a latin1
 * string), for decodeHeaderText to decode with the message's charset.
 */
function withRawBytes(fields: HeaderField[], raw: Buffer): HeaderField[] {
  const ends = [raw.indexOf('\r\n\r\n'), raw.indexOf('\n\n')].filter((i) => i >= 0);
  const head = raw.subarray(0, Math.min(ends.length ? Math.min(...ends) : raw.length, 262_144));
  if (!head.some((b) => b >= 0x80)) return fields;
  const byName = new Map<string, string[]>();
  for (const r of splitHeaderBlock(head.toString('latin1')).fields) {
    const list = byName.get(r.name);
    if (list) list.push(r.value);
    else byName.set(r.name, [r.value]);
  }
  const seen = new Map<string, number>();
  return fields.map((f) => {
    const n = seen.get(f.name) ?? 0;
    seen.set(f.name, n + 1);
    const value = byName.get(f.name)?.[n];
    return value !== undefined && isLegacy8bit(value) ? { name: f.name, value } : f;
  });
}

function isLegacy8bit(binary: string): boolean {
  return /[\x80-\xff]/.test(binary) && strictUtf8(Buffer.from(binary, 'latin1')) === null;
}

function flattenAddresses(parsed: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const out: MailAddress[] = [];
  const visit = (entries: readonly EmailAddress[]): void => {
    for (const entry of entries) {
      if (entry.group) visit(entry.group);
      const address = sanitise(entry.address ?? '').trim();
      if (address) out.push({ address, name: sanitise(entry.name ?? '').trim() });
    }
  };
  for (const object of parsed === undefined ? [] : Array.isArray(parsed) ? parsed : [parsed]) visit(object?.value ?? []);
  return out;
}

function decodedHeaders(fields: readonly HeaderField[], charset: string | null): Record<string, string> {
  const picked = pickHeaders(fields, OUTPUT_HEADERS);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(picked)) {
    out[name] = sanitise(decodeHeaderText(value.slice(0, MAX_HEADER_CHARS), charset));
  }
  return out;
}

type Parts = Pick<InboundEmail, 'headers' | 'subject' | 'replyTo' | 'to' | 'cc' | 'bodyPlain' | 'bodyHtml' | 'attachments'> & {
  fields: readonly HeaderField[];
  from: MailAddress[];
  deliveryStatus: string | null;
  originalHeaders: string | null;
};

/** What both paths share: ids, date, limits, warnings, classification. */
function assemble(p: Parts, o: Required<ParseLimits>, warnings: string[]): InboundEmail {
  const has = (name: string): boolean => p.fields.some((f) => f.name === name && f.value !== '');
  const from = p.from[0] ?? null;
  if (!from) warnings.push(has('from') ? 'unparseable From header' : 'missing From header');
  const messageId = normaliseMessageId(p.headers['message-id']);
  if (!messageId) warnings.push(has('message-id') ? 'unparseable Message-ID header' : 'missing Message-ID header');
  const inReplyTo = parseMessageIds(p.headers['in-reply-to']);
  const references = parseMessageIds(p.headers['references']);
  for (const id of inReplyTo.slice(1)) if (!references.includes(id)) references.push(id);

  const rawDate = p.fields.find((f) => f.name === 'date')?.value;
  const parsed = rawDate ? Date.parse(withoutTrailingComment(rawDate)) : NaN;
  // Date.parse accepts nearly anything ("12223" is a year); outside this window it is garbage.
  const time = parsed >= EARLIEST_DATE && parsed < LATEST_DATE ? parsed : NaN;
  if (rawDate && Number.isNaN(time)) warnings.push('unparseable Date header');

  const cut = (text: string, what: string): string => {
    if (text.length <= o.maxBodyChars) return text;
    warnings.push(`${what} truncated at ${o.maxBodyChars} chars`);
    return text.slice(0, o.maxBodyChars);
  };
  const subject = sanitise(p.subject).slice(0, MAX_SUBJECT_CHARS).replace(/\s+/g, ' ').trim();
  const email: InboundEmail = {
    messageId,
    inReplyTo: inReplyTo[0] ?? null,
    references,
    from,
    replyTo: p.replyTo,
    to: p.to,
    cc: p.cc,
    subject,
    date: Number.isNaN(time) ? null : new Date(time).toISOString(),
    bodyPlain: cut(sanitise(p.bodyPlain), 'body'),
    bodyHtml: p.bodyHtml === null ? null : cut(sanitise(p.bodyHtml), 'HTML body'),
    attachments: p.attachments,
    headers: p.headers,
    autoReply: { auto: false, reason: null },
    bounce: null,
    parseWarnings: warnings,
  };
  email.autoReply = classifyAutoReply(p.headers, subject, from);
  email.bounce = detectBounce({
    contentType: p.headers['content-type'] ?? null,
    deliveryStatus: p.deliveryStatus,
    originalHeaders: p.originalHeaders,
    bodyPlain: email.bodyPlain,
    headers: p.headers,
    subject,
    from,
    to: p.to,
  });
  return email;
}

/** Header-only parse of the raw bytes, for input mailparser could not handle. Never throws. */
function fallbackParse(raw: Buffer, o: Required<ParseLimits>, warnings: string[]): InboundEmail {
  try {
    const text = raw.toString('latin1');
    const split = looksLikeHeaders(raw) ? splitHeaderBlock(text) : { fields: [], body: text, malformedLines: 0 };
    if (split.malformedLines > 0) warnings.push(`${split.malformedLines} malformed header lines skipped`);
    const value = (name: string): string => split.fields.find((f) => f.name === name)?.value ?? '';
    const contentType = value('content-type');
    const charset = headerParam(contentType, 'charset');
    const addresses = (name: string): MailAddress[] => {
      const values = split.fields.filter((f) => f.name === name).map((f) => decodeHeaderText(f.value, charset));
      try {
        return flattenAddresses(parseAddressHeader(values));
      } catch {
        return [];
      }
    };
    // Only a single-part body can be transfer-decoded without MIME parsing.
    const multipart = /^\s*multipart\//i.test(contentType);
    const body = Buffer.from(split.body.slice(0, o.maxBodyChars * 4 + 4), 'latin1');
    const bodyText = decodeBody(body, charset, multipart ? null : value('content-transfer-encoding'));
    const isHtml = /^\s*text\/html/i.test(contentType);
    return assemble(
      {
        fields: split.fields,
        headers: decodedHeaders(split.fields, charset),
        subject: decodeHeaderText(value('subject'), charset),
        from: addresses('from'),
        replyTo: addresses('reply-to'),
        to: addresses('to'),
        cc: addresses('cc'),
        bodyPlain: isHtml ? htmlToPlainCrude(bodyText) : bodyText,
        bodyHtml: isHtml ? bodyText : null,
        attachments: [],
        // A report too broken for MIME parsing: its status fields are somewhere in the body.
        deliveryStatus: /^\s*(?:multipart\/report|message\/(?:global-)?delivery-status)/i.test(contentType) ? bodyText.slice(0, REPORT_PREVIEW_BYTES) : null,
        originalHeaders: null,
      },
      o,
      warnings,
    );
  } catch (err) {
    return {
      messageId: null, inReplyTo: null, references: [], from: null, replyTo: [], to: [], cc: [],
      subject: '', date: null, bodyPlain: '', bodyHtml: null, attachments: [], headers: {},
      autoReply: { auto: false, reason: null }, bounce: null,
      parseWarnings: [...warnings, `fallback parse failed: ${err instanceof Error ? err.message : String(err)}`],
    };
  }
}

// ---- text decoding for what mailparser does not cover (8-bit headers, the fallback path) ----

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function strictUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return null;
  }
}
const ENCODED_WORD = /=\?([^?\s]+)\?([bq])\?([^?\s]*)\?=/gi;
const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const EXTENSIONS: Record<string, string> = {
  'message/rfc822': 'eml', 'message/delivery-status': 'txt', 'text/rfc822-headers': 'txt', 'text/plain': 'txt',
  'text/html': 'html', 'text/calendar': 'ics', 'application/pdf': 'pdf', 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif',
};

/** Postgres text cannot hold NUL; nothing a reader needs is lost by dropping it. */
function sanitise(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}

/**
 * Bytes in a named charset: the WHATWG decoders first (where `latin1` and `iso-8859-1` mean
 * Windows-1252, as mail clients meant them), then iconv-lite for what they lack (UTF-7 from
 * Outlook, old code pages). Null for a label neither knows (x-unknown, NONE).
 */
function decodeCharset(bytes: Uint8Array, charset: string | null): string | null {
  if (!charset) return null;
  const label = beforeStar(charset.trim());
  let decoder: InstanceType<typeof TextDecoder> | null = null;
  try {
    decoder = new TextDecoder(label);
  } catch {
    // a label the WHATWG set lacks: iconv-lite below
  }
  // Node's TextDecoder reads every Windows-1252 label as ISO-8859-1, so 0x80–0x9F ("…", "€",
  // the curly quotes) would become C1 control characters; iconv-lite maps them as Windows does.
  if (decoder && decoder.encoding !== 'windows-1252') return decoder.decode(bytes);
  const name = decoder ? 'windows-1252' : label;
  return iconv.encodingExists(name) ? iconv.decode(Buffer.from(bytes), name) : null;
}

const UTF7 = /^(?:x-)?(?:unicode-1-1-)?utf-?7$/i;
const UTF7_WORD = /=\?(?:x-)?(?:unicode-1-1-)?utf-?7(?:\*[^?]*)?\?[bq]\?/i;
const DECLARED_CHARSET = /charset\s*=\s*"?([^"\s;]+)/gi;

/**
 * mailparser leaves UTF-7 parts undecoded on purpose (a filter looking for "<" would miss
 * "+ADw-"); deskhook never renders mail HTML, and the text is what the agent must read, so a
 * message whose text parts are all declared UTF-7 (Outlook 2000 and older) is decoded here.
 * Mixed messages (a UTF-7 part beside an 8-bit one) keep mailparser's text.
 */
function utf7Message(raw: Buffer): boolean {
  if (![...'uU'].some((u) => raw.includes(`${u}tf-7`) || raw.includes(`${u}TF-7`) || raw.includes(`${u}tf7`) || raw.includes(`${u}TF7`))) return false;
  const declared = [...raw.toString('latin1').matchAll(DECLARED_CHARSET)].map((m) => (m[1] ?? '').toLowerCase());
  return declared.some((c) => UTF7.test(c)) && declared.every((c) => UTF7.test(c) || /^(?:us-)?ascii$/.test(c));
}

function fromUtf7(text: string | null): string | null {
  return text === null ? null : iconv.decode(Buffer.from(text, 'latin1'), 'utf-7');
}

function qpBytes(text: string): Buffer {
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const hex = text.charCodeAt(i) === 0x3d ? text.slice(i + 1, i + 3) : '';
    if (/^[0-9a-f]{2}$/i.test(hex)) {
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = text.charCodeAt(i) & 0xff;
  }
  return out.subarray(0, n);
}

/** RFC 2047 encoded words; adjacent words of one charset are joined first so split characters survive. */
function decodeWords(text: string): string {
  if (!text.includes('=?')) return text;
  let out = '';
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | null = null;
  const decodePending = (p: { charset: string; bytes: Buffer[] } | null): string => {
    const bytes = Buffer.concat(p?.bytes ?? []);
    return p ? (decodeCharset(bytes, p.charset) ?? bytes.toString('utf8')) : '';
  };
  for (const m of text.matchAll(ENCODED_WORD)) {
    const between = text.slice(last, m.index);
    const charset = beforeStar((m[1] ?? '').toLowerCase());
    const payload = m[3] ?? '';
    const bytes = m[2]?.toLowerCase() === 'b' ? Buffer.from(payload, 'base64') : qpBytes(payload.replace(/_/g, ' '));
    // Whitespace between two encoded words is folding, not text (RFC 2047 §6.2).
    const adjacent = pending !== null && between.trim() === '';
    if (adjacent && pending !== null && pending.charset === charset) pending.bytes.push(bytes);
    else {
      out += decodePending(pending) + (adjacent ? '' : between);
      pending = { charset, bytes: [bytes] };
    }
    last = (m.index ?? 0) + m[0].length;
  }
  out += decodePending(pending);
  return out + text.slice(last);
}

/** Header bytes (as a latin1 string): UTF-8 when valid (RFC 6532), else the message charset, else Windows-1252. */
function decodeHeaderText(binary: string, charset: string | null): string {
  if (!/[\x80-\xff]/.test(binary)) return decodeWords(binary);
  const bytes = Buffer.from(binary, 'latin1');
  return decodeWords(strictUtf8(bytes) ?? decodeCharset(bytes, charset) ?? decodeCharset(bytes, 'windows-1252') ?? binary);
}

/** A single-part body: transfer-decoded, then the declared charset, else UTF-8, else Windows-1252. */
function decodeBody(bytes: Buffer, charset: string | null, transferEncoding: string | null): string {
  const encoding = (transferEncoding ?? '').trim().toLowerCase();
  let data = bytes;
  if (encoding === 'base64') data = Buffer.from(bytes.toString('latin1'), 'base64');
  else if (encoding === 'quoted-printable') data = qpBytes(bytes.toString('latin1').replace(/=\r?\n/g, ''));
  const declared = charset && !/^(?:us-)?ascii$|^utf-?8$/.test(charset) ? decodeCharset(data, charset) : null;
  const text = declared ?? strictUtf8(data) ?? decodeCharset(data, 'windows-1252') ?? data.toString('latin1');
  return text.replace(/\r\n?/g, '\n');
}

/** Last resort when html-to-text cannot be used; every pattern is linear in the input. */
/** "Tue, 10 Mar 2026 09:14:00 +0100 (CET)" without its trailing comment; by index, so that no input backtracks. */
function withoutTrailingComment(value: string): string {
  const text = value.trimEnd();
  if (!text.endsWith(')')) return text;
  const open = text.lastIndexOf('(');
  return open >= 0 && !text.slice(open, -1).includes(')') ? text.slice(0, open).trimEnd() : text;
}

/** A charset label without its RFC 2231 language suffix ("utf-8*de" -> "utf-8"). */
function beforeStar(value: string): string {
  const star = value.indexOf('*');
  return star >= 0 ? value.slice(0, star) : value;
}

function htmlToPlainCrude(html: string): string {
  return html
    .replace(/<(script|style)\b[^<>]*>[^<]*<\/\1\s*>/gi, '')
    .replace(/<(br|\/p|\/div|\/tr|\/li|\/h[1-6]|\/table)\b[^<>]*>/gi, '\n')
    .replace(/<[^<>]*>/g, '')
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (whole, entity: string) => {
      const hex = entity[1] === 'x' || entity[1] === 'X';
      const code = entity[0] !== '#' ? -1 : hex ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      if (code >= 0) return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
      return ENTITIES[entity.toLowerCase()] ?? whole;
    })
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The last path segment only (no directories), without control characters; a made-up name when empty. */
function safeFilename(name: unknown, contentType: string, n: number): string {
  const printable = Array.from(typeof name === 'string' ? name : '')
    .filter((ch) => ch.charCodeAt(0) > 0x1f && ch !== '\u007f')
    .join('');
  const base = printable.split(/[\\/]/).pop()?.trim().replace(/^\.+/, '') ?? '';
  if (base) return base.slice(0, 255);
  return `attachment-${n}.${EXTENSIONS[contentType.toLowerCase()] ?? 'bin'}`;
}
