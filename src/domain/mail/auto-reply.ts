// Recognises mail that no human wrote (auto-replies, bounces, list traffic, our own loops). Pure;
// bounce.ts reads the bounces themselves. `auto: true` means: never answer it automatically
// (RFC 3834 §2); what else happens to it is the caller's policy.
import type { AutoReplyVerdict, MailAddress } from './inbound-email.ts';
import { headerParam, mediaType } from './inbound-email.ts';

/** Set on every message deskhook sends; seeing it inbound means a mail loop. */
export const LOOP_HEADER = 'X-Deskhook-Loop';

/** Lower-cased header names `classifyAutoReply` and `detectBounce` (bounce.ts) read from `InboundEmail.headers`. */
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
