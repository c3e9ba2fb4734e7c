// Recognises mail that no human wrote (auto-replies, bounces, list traffic, our own loops) and
// reads delivery status notifications (RFC 3464). Pure. `auto: true` means: never answer it
// automatically (RFC 3834 §2); what else happens to it is the caller's policy.
import type { AutoReplyVerdict, BounceInfo, DsnAction, MailAddress } from './inbound-email.ts';
import { headerParam, normaliseMessageId, splitHeaderBlock } from './inbound-email.ts';

/** Set on every message deskhook sends; seeing it inbound means a mail loop. */
export const LOOP_HEADER = 'X-Deskhook-Loop';

/** Lower-cased header names `classifyAutoReply` and `detectBounce` read from `InboundEmail.headers`. */
export const AUTO_REPLY_HEADER_NAMES: readonly string[] = [
  LOOP_HEADER.toLowerCase(),
  'auto-submitted',
  'precedence',
  'x-auto-response-suppress',
  'x-autoreply',
  'x-autorespond',
  'list-id',
  'list-unsubscribe',
  'return-path',
  'from',
  'content-type',
  'x-failed-recipients',
];

const SUPPRESS_TOKENS = new Set(['all', 'dr', 'ndr', 'rn', 'nrn', 'oof', 'autoreply']);
const BULK_PRECEDENCE = new Set(['bulk', 'junk', 'list', 'auto_reply']);
const NEGATIVE = new Set(['no', 'false', '0', 'off']);
const DAEMON_LOCAL_PART = /^(?:mailer-daemon|postmaster|mail-daemon|maildaemon)$/i;
const DAEMON_NAME = /\b(?:mailer-daemon|mail delivery (?:sub)?system)\b/i;
// Anchored at the start so that a customer mentioning "out of office" mid-subject is not muted.
const AUTO_SUBJECT = new RegExp(
  '^\\s*(?:' +
    [
      'auto(?:matic|matische)?[ -]?(?:reply|response|antwort)', 'autorespons\\w*', 'out of (?:the )?office',
      'abwesenheitsnotiz', 'r[ée]ponse automatique', 'risposta automatica', 'respuesta autom[áa]tica',
      'undeliverable:', 'undelivered mail', 'delivery status notification', 'unzustellbar:',
    ].join('|') +
    ')',
  'i',
);

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function classifyAutoReply(
  headers: Readonly<Record<string, string>>,
  subject: string,
  from: MailAddress | null,
): AutoReplyVerdict {
  const h = (name: string): string | undefined => headers[name]?.trim();
  const yes = (reason: string): AutoReplyVerdict => ({ auto: true, reason });

  if (h(LOOP_HEADER.toLowerCase()) !== undefined) return yes(`loop: ${LOOP_HEADER}`);
  const type = mediaType(h('content-type'));
  if (type === 'multipart/report' || /^message\/(?:global-)?delivery-status$/.test(type)) {
    return yes(`report: ${headerParam(h('content-type') ?? '', 'report-type') ?? type}`);
  }
  const submitted = h('auto-submitted')?.split(';')[0]?.trim().toLowerCase();
  if (submitted && submitted !== 'no') return yes(`auto-submitted: ${submitted}`);
  for (const name of ['x-autoreply', 'x-autorespond']) {
    const value = h(name);
    if (value !== undefined && !NEGATIVE.has(value.toLowerCase())) return yes(name);
  }
  const suppress = h('x-auto-response-suppress');
  if (suppress && suppress.split(/[\s,;]+/).some((t) => SUPPRESS_TOKENS.has(t.toLowerCase()))) {
    return yes(`x-auto-response-suppress: ${suppress}`);
  }
  const precedence = h('precedence')?.toLowerCase();
  if (precedence && BULK_PRECEDENCE.has(precedence)) return yes(`precedence: ${precedence}`);
  if (h('return-path') !== undefined && /^<\s*>$/.test(h('return-path') ?? '')) return yes('null return-path');
  if (h('x-failed-recipients') !== undefined) return yes('x-failed-recipients');
  const local = from?.address.split('@')[0] ?? '';
  if (DAEMON_LOCAL_PART.test(local) || DAEMON_NAME.test(from?.name ?? '') || DAEMON_NAME.test(h('from') ?? '')) {
    return yes('mailer-daemon sender');
  }
  if (h('list-id') !== undefined) return yes('list-id');
  if (h('list-unsubscribe') !== undefined) return yes('list-unsubscribe');
  if (AUTO_SUBJECT.test(subject)) return yes('auto-reply subject');
  return { auto: false, reason: null };
}

export interface DsnRecipient {
  original: string | null;
  final: string | null;
  action: DsnAction;
  status: string | null;
}

const ACTIONS: readonly DsnAction[] = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'];
const SEVERITY: Record<DsnAction, number> = { failed: 3, delayed: 2, delivered: 1, relayed: 1, expanded: 1, unknown: 0 };

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
      const fits = current && current.original === null && current.final === null;
      (fits ? current : fresh()).original = recipientAddress(value);
    } else if (name === 'final-recipient') {
      (current && current.final === null ? current : fresh()).final = recipientAddress(value);
    } else if (name === 'action') {
      const action = value.split(/[\s(]/)[0]?.toLowerCase() ?? '';
      (current ?? fresh()).action = (ACTIONS as readonly string[]).includes(action) ? (action as DsnAction) : 'unknown';
    } else if (name === 'status') {
      (current ?? fresh()).status = /[245]\.\d{1,3}\.\d{1,3}/.exec(value)?.[0] ?? null;
    }
  }
  return recipients;
}

/**
 * Bounce details of a `multipart/report; report-type=delivery-status` message; null for any
 * other message, including other reports (read receipts, abuse reports).
 * `deliveryStatus` is the text of the message/delivery-status part (or the whole body when the
 * structure is too broken to find it); `originalHeaders` is the returned message or its
 * text/rfc822-headers part.
 */
export function detectBounce(input: {
  contentType: string | null;
  deliveryStatus: string | null;
  originalHeaders: string | null;
}): BounceInfo | null {
  const contentType = input.contentType ?? '';
  const isDsn =
    (mediaType(contentType) === 'multipart/report' &&
      /^(?:global-)?delivery-status$/.test(headerParam(contentType, 'report-type') ?? '')) ||
    /^message\/(?:global-)?delivery-status$/.test(mediaType(contentType));
  if (!isDsn) return null;

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
    if (address && !addresses.some((a) => a.toLowerCase() === address.toLowerCase())) addresses.push(address);
  }
  const original = input.originalHeaders ? splitHeaderBlock(input.originalHeaders).fields : [];
  return {
    originalMessageId: normaliseMessageId(original.find((f) => f.name === 'message-id')?.value),
    recipients: addresses,
    status: primary?.status ?? null,
    action: primary?.action ?? 'unknown',
    permanent: recipients.some((r) => r.action === 'failed' || r.status?.startsWith('5') === true),
  };
}
