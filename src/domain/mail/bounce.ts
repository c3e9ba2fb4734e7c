// Reads bounces: RFC 3464 delivery status notifications and the plain-text reports that many
// MTAs still send instead (qmail, Exim, Gmail, Exchange 2003, Domino, Yahoo, ...). Pure.
//
// No maintained JavaScript library reads the text formats: `email-bounce-parser` knows four
// vendors and needs the native `re2` module, `bounce-handler` is a 2013 port of a PHP script.
// So the formats are data here (the tables below), read by one small linear engine; a new
// vendor is a row, not code. What the engine extracts is checked against a labelled set of
// real bounces (test/corpus-labels/).
import type { BounceInfo, DsnAction, MailAddress } from './inbound-email.ts';
import { headerParam, mediaType, normaliseMessageId, splitHeaderBlock } from './inbound-email.ts';

export interface DsnRecipient {
  original: string | null;
  final: string | null;
  action: DsnAction;
  status: string | null;
}

const ACTIONS: readonly DsnAction[] = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'];
const SEVERITY: Record<DsnAction, number> = { failed: 3, delayed: 2, delivered: 1, relayed: 1, expanded: 1, unknown: 0 };
const ENHANCED_STATUS = /\b[245]\.\d{1,3}\.\d{1,3}\b/;

function recipientAddress(value: string): string {
  const afterType = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  return afterType.trim().replace(/^<|>$/g, '').trim();
}

/**
 * Per-recipient fields of a message/delivery-status body. Groups are found by their fields, not
 * by blank lines, because real DSNs omit or double those (see mimekit delivery-status-*.txt).
 */
export function parseDeliveryStatus(text: string): DsnRecipient[] {
  const recipients: DsnRecipient[] = [];
  const fresh = (): DsnRecipient => {
    const r: DsnRecipient = { original: null, final: null, action: 'unknown', status: null };
    recipients.push(r);
    return r;
  };
  for (const line of text.split(/\r\n|\n|\r/)) {
    const match = /^([A-Z-]+)[ \t]*:(.*)$/i.exec(line);
    if (!match) continue;
    const name = (match[1] ?? '').toLowerCase();
    const value = (match[2] ?? '').trim();
    const current = recipients.at(-1);
    if (name === 'original-recipient') {
      // Its group's Final-Recipient may come first (Amazon SES); a group already complete with a
      // status is another recipient's.
      const fits = current && current.original === null && (current.final === null || current.status === null);
      (fits ? current : fresh()).original = recipientAddress(value);
    } else if (name === 'final-recipient') {
      (current && current.final === null ? current : fresh()).final = recipientAddress(value);
    } else if (name === 'action') {
      const action = value.split(/[\s(]/)[0]?.toLowerCase() ?? '';
      (current ?? fresh()).action = (ACTIONS as readonly string[]).includes(action) ? (action as DsnAction) : 'unknown';
    } else if (name === 'status') {
      (current ?? fresh()).status = ENHANCED_STATUS.exec(value)?.[0] ?? null;
    } else if (name === 'diagnostic-code' && current && current.status === null) {
      current.status = ENHANCED_STATUS.exec(value)?.[0] ?? null;
    }
  }
  return recipients;
}

// ---------------------------------------------------------------------------------------------
// The text formats, as data. Every pattern is matched against one line (at most MAX_LINE
// characters) or a short header value, and none can backtrack super-linearly.

/** Where the returned copy of the message starts: the line that introduces it. */
const RETURNED_MESSAGE_MARKERS: readonly RegExp[] = [
  /^-{2,} ?below this line is a copy of the message/i, // qmail, Yahoo
  /^-{2,} ?this is a copy of the message/i, // Exim, GMX, 1&1
  /^-{2,} ?(?:the )?(?:original|returned|undelivered|rejected) (?:message|mail)\b/i, // Gmail, Notes, many
  /^-{2,} ?(?:the )?header of the original message/i,
  /^-{2,} ?(?:message|original) headers? follows?/i,
  /^-{2,} ?returned (?:mail|message|content)/i,
  /^-{2,} ?unsent message follows/i, // sendmail
  /^(?:original message|returned message|the original message was)\b.{0,40}(?:follows|below|:)\s*$/i,
  /^[ \t]*(?:-{2,}|={2,}) ?(?:start of )?(?:original|returned) message\b/i,
  /^[ \t]*-{2,} ?Urspr(?:ü|ue)ngliche Nachricht/i,
  /^[ \t]*-{2,} ?Kopie der Nachricht/i,
  /^bounced e-?mail:?$/i,
];

/** Names a vendor by a phrase of its report; only for diagnostics and the benchmark table. */
const VENDOR_SIGNATURES: ReadonlyArray<readonly [string, RegExp]> = [
  ['qmail', /this is the qmail-send program/i],
  ['exim', /this message was created automatically by mail delivery software/i],
  ['gmail', /google tried to deliver your message|delivery to the following recipients? failed permanently/i],
  ['postfix', /this is the mail system at host/i],
  ['sendmail', /the original message was received at/i],
  ['exchange', /did not reach (?:the following|some or all of the intended) recipient/i],
  ['domino', /^was not delivered to:\s*$/i],
  ['notes', /^-{2,} ?failure reasons/i],
  ['yahoo', /unable to deliver your message to the following address/i],
  ['opensmtpd', /this is the mailer-daemon at/i],
  ['courier', /this is a delivery status notification from/i],
  ['amazon', /an error occurred while trying to deliver the mail to the following recipients/i],
];

/** A report that delivery failed for good. */
const HARD_PHRASES: readonly RegExp[] = [
  /\bpermanent (?:error|failure|fatal errors?)\b/i,
  /\bfailed permanently\b/i,
  /\bi've given up\b|\bgave up\b|\bgiving up\b|\bcannot send message for \d{1,3} days?\b/i,
  /\b(?:could ?n[o']t|can ?n[o']t|was not|were not|has not been|unable to) (?:be )?deliver(?:ed)?\b/i,
  /\b(?:could not|unable to) (?:reach|send|deliver)\b/i,
  /\bundeliverable\b|\bundelivered\b|\bnot delivered\b/i,
  /\bdelivery (?:has )?failed\b|\bdelivery failure\b|\bdelivery to the following/i,
  /\bthe following (?:address(?:\(es\))?|recipients?(?:\(s\))?) (?:failed|could not|was rejected)/i,
  /\bdid not reach\b/i,
  /\breturning message to sender\b/i,
  /\b(?:user|recipient|mailbox|address) (?:unknown|not found|unavailable|does not exist|rejected|disabled)\b/i,
  /\b(?:unknown|invalid) (?:user|recipient|mailbox|address)\b|\bno such (?:user|mailbox|address|recipient)\b/i,
  /\bnot listed in\b|\bnot recognized\b|\bdoes(?: not|n't) exist\b|\bwas rejected\b|\bmailbox (?:is )?full\b/i,
  /\bnicht zugestellt\b|\bnicht zustellbar\b|\bunzustellbar\b|\bkonnte nicht (?:zugestellt|ausgeliefert) werden\b/i,
  /\bzustellung (?:ist )?fehlgeschlagen\b|\bempf(?:ä|ae)nger (?:unbekannt|existiert nicht)\b/i,
];

/** A warning that delivery is only late: the MTA still tries. */
const SOFT_PHRASES: readonly RegExp[] = [
  /\bwill (?:be )?retr(?:y|ied)\b|\bwill (?:continue|keep) (?:to try|trying)\b|\bstill (?:be(?:ing)? )?(?:trying|retried)\b/i,
  /\bhas not (?:yet )?been delivered\b|\bnot yet been delivered\b|\bnot been delivered yet\b/i,
  /\bdelivery (?:is )?delayed\b|\bdelayed mail\b|\bmail delivery delayed\b|\bdelivery status notification \(delay\)/i,
  /\btemporar(?:y|ily) (?:failure|error|problem|unavailable|deferred)\b/i,
  /\bweitere zustellversuche\b|\bverz(?:ö|oe)gert\b/i,
];

/** Subjects MTAs give their reports; with a mailer-daemon sender they mark a text bounce. */
const BOUNCE_SUBJECT = new RegExp(
  [
    'undeliver', 'returned mail', 'returned to sender', 'failure notice', 'delivery fail',
    'delivery notification', 'delivery report', 'mail delivery', 'non[- ]?delivery',
    'not delivered', 'delivery problem', 'mail system error', 'delivery has failed', 'error sending your mail',
    'unzustellbar', 'nicht zustellbar', 'nicht zugestellt', 'zustellung fehlgeschlagen', 'unable to deliver',
    'could not be delivered', 'message you sent blocked', 'email delivery failure', 'delivery status', 'bounce',
  ].join('|'),
  'i',
);

const DAEMON_LOCAL_PART = /^(?:mailer-daemon|post_?master|mail-daemon|maildaemon|mdaemon|mailerdaemon|bounces?|mail\.delivery\.system)$/i;
const DAEMON_NAME = /\b(?:mailer[- ]daemon|mail delivery (?:sub)?system|postmaster|system administrator|mail administrator|mail delivery service)\b/i;
const ADDRESS = /[\w.+%'=-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,8}/gi;
// Lines that name a message or queue id, which look like addresses ("<0AE8...@mx.example>").
const ID_LINE = /message[- ]?id|\bid[:=]|\bqueue\b|\bin-reply-to\b|\breferences\b/i;
// Reports of other kinds (read receipts, abuse and TLS reports) are never bounces.
const OTHER_REPORTS = /^(?:disposition-notification|feedback-report|tlsrpt|arf)$/;
const HEADER_LINE = /^[\x21-\x39\x3b-\x7e]{1,76}[ \t]*:/;

// Reports are short; a returned message can be long. Only this much text is read.
const MAX_REPORT_CHARS = 64 * 1024;
const MAX_LINE = 1000;
const MAX_RETURNED_LINES = 400;

export interface BounceInput {
  contentType: string | null;
  /** The message/delivery-status part (or the whole body when the structure is too broken). */
  deliveryStatus: string | null;
  /** The returned message or its text/rfc822-headers part. */
  originalHeaders: string | null;
  /** The text body, read for the formats of MTAs that send no DSN. */
  bodyPlain?: string;
  /** Lower-cased header names to unfolded values (return-path, x-failed-recipients, from). */
  headers?: Readonly<Record<string, string>>;
  subject?: string;
  from?: MailAddress | null;
  /** Addresses the bounce was sent to: the original sender, never a failed recipient. */
  to?: readonly MailAddress[];
}

interface ReportText {
  /** Lines of the report before the returned message, each cut to MAX_LINE. */
  report: string[];
  /** Lines of the returned message, when the report carries one inline. */
  returned: string[];
}

function splitReport(body: string): ReportText {
  const lines = body.slice(0, MAX_REPORT_CHARS * 4).split(/\r\n|\n|\r/);
  const report: string[] = [];
  let reportChars = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').slice(0, MAX_LINE);
    if (RETURNED_MESSAGE_MARKERS.some((marker) => marker.test(line.trim()))) {
      return { report, returned: lines.slice(i + 1, i + 1 + MAX_RETURNED_LINES) };
    }
    // A returned header block without an introducing line ("Received:", "Return-Path:" ...).
    if (i > 0 && /^(?:return-path|received)[ \t]*:/i.test(line) && /^[ \t]|^[\x21-\x39\x3b-\x7e]{1,76}[ \t]*:/.test(lines[i + 1] ?? '')) {
      return { report, returned: lines.slice(i, i + MAX_RETURNED_LINES) };
    }
    reportChars += line.length;
    if (reportChars > MAX_REPORT_CHARS) break;
    report.push(line);
  }
  return { report, returned: [] };
}

/** The header block the returned text starts with (after blank lines), unfolded; empty if none. */
function returnedHeaders(returned: readonly string[]): Array<{ name: string; value: string }> {
  const fields: Array<{ name: string; value: string }> = [];
  for (const line of returned) {
    // Blank lines and an mbox "From sender date" line may come before the headers.
    if (fields.length === 0 && (line.trim() === '' || /^From [^\s:]/.test(line))) continue;
    if (line.trim() === '') break;
    const last = fields.at(-1);
    if (/^[ \t]/.test(line) && last) {
      if (last.value.length < MAX_LINE) last.value += ` ${line.trim()}`;
      continue;
    }
    // Returned headers are often folded wrongly ("(via\nHTTP); Sat, ..."): such lines are skipped.
    if (!HEADER_LINE.test(line)) {
      if (fields.length === 0) break;
      continue;
    }
    const colon = line.indexOf(':');
    fields.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return fields;
}

const EDGE_PUNCTUATION = new Set(['.', "'", '=', '-']);

/** Addresses in a line, without the punctuation of the sentence around them ("...to 'anna@x.de'."). */
function addressesIn(text: string): string[] {
  return [...text.matchAll(ADDRESS)].map((m) => {
    let [start, end] = [0, m[0].length];
    while (start < end && EDGE_PUNCTUATION.has(m[0][start] ?? '')) start++;
    while (end > start && EDGE_PUNCTUATION.has(m[0][end - 1] ?? '')) end--;
    return m[0].slice(start, end);
  });
}

function pushUnique(list: string[], address: string): void {
  if (address && !list.some((a) => a.toLowerCase() === address.toLowerCase())) list.push(address);
}

function isDaemon(input: Pick<BounceInput, 'headers' | 'from'>): boolean {
  const headers = input.headers ?? {};
  const local = input.from?.address.split('@')[0] ?? '';
  return (
    DAEMON_LOCAL_PART.test(local) ||
    DAEMON_NAME.test(input.from?.name ?? '') ||
    (input.from === null && DAEMON_NAME.test(headers['from'] ?? '')) ||
    /^<\s*>$/.test(headers['return-path']?.trim() ?? '')
  );
}

/**
 * True when a message from this sender with this subject is a report a mail system wrote: then
 * its returned copy is kept as one attachment when the message is parsed.
 */
export function fromMailSystem(input: Pick<BounceInput, 'headers' | 'subject' | 'from'>): boolean {
  if (input.headers?.['x-failed-recipients'] !== undefined) return true;
  return isDaemon(input) && BOUNCE_SUBJECT.test(input.subject ?? '');
}

interface TextReading {
  recipients: string[];
  status: string | null;
  diagnostic: string | null;
  hard: boolean;
  soft: boolean;
  format: string;
  originalMessageId: string | null;
}

/** What the text of a report says: recipients, status code, the words of its outcome. */
function readReport(input: BounceInput): TextReading {
  const { report, returned } = splitReport(input.bodyPlain ?? '');
  const own = new Set((input.to ?? []).map((a) => a.address.toLowerCase()));
  if (input.from) own.add(input.from.address.toLowerCase());
  const reading: TextReading = {
    recipients: [], status: null, diagnostic: null, format: 'text', originalMessageId: null,
    // The subject often says it best: "Returned mail: Cannot send message for 4 days".
    hard: HARD_PHRASES.some((p) => p.test(input.subject ?? '')),
    soft: SOFT_PHRASES.some((p) => p.test(input.subject ?? '')),
  };
  const { recipients } = reading;
  for (const value of (input.headers?.['x-failed-recipients'] ?? '').split(',')) pushUnique(recipients, value.trim());
  for (const line of report) {
    for (const [name, signature] of VENDOR_SIGNATURES) if (reading.format === 'text' && signature.test(line)) reading.format = name;
    if (HARD_PHRASES.some((p) => p.test(line))) reading.hard = true;
    if (SOFT_PHRASES.some((p) => p.test(line))) reading.soft = true;
    const code = ENHANCED_STATUS.exec(line);
    // A 2.x.x code is a success; a later 4 or 5 overrides it.
    if (code && (reading.status === null || reading.status.startsWith('2'))) {
      reading.status = code[0];
      reading.diagnostic = line.trim();
    }
    if (reading.diagnostic === null && /\b[45]\d\d[ -]/.test(line)) reading.diagnostic = line.trim();
    if (ID_LINE.test(line)) continue;
    for (const address of addressesIn(line)) if (!own.has(address.toLowerCase())) pushUnique(recipients, address);
  }
  // The returned message as an attachment is the better source; inline text is the fallback.
  const headers = returnedHeaders(input.originalHeaders ? input.originalHeaders.split(/\r\n|\n|\r/, MAX_RETURNED_LINES) : returned);
  // A report that names nobody failed for everyone the returned message was addressed to.
  if (recipients.length === 0) {
    for (const field of headers) if (field.name === 'to' || field.name === 'cc') for (const a of addressesIn(field.value)) pushUnique(recipients, a);
  }
  reading.originalMessageId = normaliseMessageId(headers.find((f) => f.name === 'message-id')?.value);
  if (reading.status?.startsWith('2')) reading.status = null;
  return reading;
}

/** The outcome: an explicit code decides; without one the words do. */
function actionOf(r: TextReading): DsnAction {
  const basic = r.diagnostic ? /\b([45])\d\d[ -]/.exec(r.diagnostic)?.[1] : undefined;
  const klass = r.status?.[0] ?? basic;
  if (klass === '5') return 'failed';
  if (klass === '4') return r.hard && !r.soft ? 'failed' : 'delayed';
  // A report from a mail system that names no outcome at all is a failure: what most vendors send.
  return r.soft && !r.hard ? 'delayed' : 'failed';
}

function textBounce(input: BounceInput): BounceInfo | null {
  const daemon = isDaemon(input);
  if (!fromMailSystem(input) && !daemon) return null;
  const reading = readReport(input);
  // A mail system's message with neither a bounce subject nor the words or code of one is
  // something else (a notice from a postmaster, a quarantine digest).
  if (!fromMailSystem(input) && (reading.recipients.length === 0 || (!reading.hard && reading.status === null))) return null;
  const action = actionOf(reading);
  return {
    originalMessageId: reading.originalMessageId,
    recipients: reading.recipients,
    status: reading.status,
    action,
    permanent: action === 'failed',
    format: reading.format,
    diagnostic: reading.diagnostic?.slice(0, 500) ?? null,
  };
}

function isDeliveryStatusReport(contentType: string): boolean {
  return (
    (mediaType(contentType) === 'multipart/report' &&
      /^(?:global-)?delivery-status$/.test(headerParam(contentType, 'report-type') ?? '')) ||
    /^message\/(?:global-)?delivery-status$/.test(mediaType(contentType))
  );
}

function dsnBounce(input: BounceInput): BounceInfo {
  const recipients = parseDeliveryStatus(input.deliveryStatus ?? '').map((r) => {
    const inferred: DsnAction = r.status?.startsWith('5') ? 'failed' : r.status?.startsWith('4') ? 'delayed' : 'unknown';
    const action: DsnAction = r.action !== 'unknown' ? r.action : inferred;
    return { ...r, action };
  });
  let primary = recipients[0];
  for (const r of recipients) if (primary && SEVERITY[r.action] > SEVERITY[primary.action]) primary = r;

  const addresses: string[] = [];
  for (const r of recipients) {
    const address = r.final || r.original;
    if (address) pushUnique(addresses, address);
  }
  const original = input.originalHeaders ? splitHeaderBlock(input.originalHeaders).fields : [];
  let originalMessageId = normaliseMessageId(original.find((f) => f.name === 'message-id')?.value);
  let status = primary?.status ?? null;
  let action: DsnAction = primary?.action ?? 'unknown';
  // Some MTAs (Exchange, Office 365, Gmail) leave parts of the DSN out and say it in the text part.
  if (originalMessageId === null || status === null || addresses.length === 0 || action === 'unknown') {
    const text = readReport(input);
    originalMessageId ??= text.originalMessageId;
    status ??= text.status;
    if (addresses.length === 0) addresses.push(...text.recipients);
    if (action === 'unknown' && (text.status !== null || text.hard || text.soft)) action = actionOf(text);
  }
  return {
    originalMessageId,
    recipients: addresses,
    status,
    action,
    permanent: action === 'failed' || recipients.some((r) => r.action === 'failed' || r.status?.startsWith('5') === true),
    format: 'rfc3464',
    diagnostic: null,
  };
}

/**
 * Bounce details of a delivery status notification (RFC 3464) or of a plain-text report from a
 * mail system; null for any other message, including other reports (read receipts, abuse
 * reports) and auto-replies.
 */
export function detectBounce(input: BounceInput): BounceInfo | null {
  const contentType = input.contentType ?? '';
  if (OTHER_REPORTS.test(headerParam(contentType, 'report-type')?.toLowerCase() ?? '')) return null;
  // A message/delivery-status part counts wherever it is (some MTAs send multipart/mixed).
  if (isDeliveryStatusReport(contentType) || input.deliveryStatus?.trim()) return dsnBounce(input);
  return textBounce(input);
}

/**
 * Which recipients of an outbound message a bounce reports as failed for good: the bounce's
 * recipients that the message was addressed to (To or Cc), compared without case. A bounce that
 * names nobody is taken to mean all of them, since its Message-ID already names our message; a
 * bounce naming only other addresses is someone else's (a forward, an alias) and fails nothing.
 */
export function failedRecipients(
  message: { direction: string; toEmail: readonly string[]; ccEmails: readonly string[] },
  bounce: Pick<BounceInfo, 'permanent' | 'recipients'>,
): string[] {
  if (message.direction !== 'out' || !bounce.permanent) return [];
  const sentTo = [...message.toEmail, ...message.ccEmails];
  if (bounce.recipients.length === 0) return sentTo;
  const named = new Set(bounce.recipients.map((a) => a.toLowerCase()));
  return sentTo.filter((a) => named.has(a.toLowerCase()));
}
