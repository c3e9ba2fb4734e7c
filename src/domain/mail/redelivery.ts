// Whether an inbound message with a Message-ID we already hold is the same message delivered
// again (dropped) or another message that reuses the id (kept as its own). Mailers do reuse ids:
// form mailers and scripts with a constant id, clients that derive it from a template, exports
// and re-imports. Pure: the caller hashes `redeliveryContent` and loads the earlier messages.
import { addressKey, splitHeaderBlock } from './inbound-email.ts';

/** The same id from the same sender counts as a redelivery for this long after the first copy. */
export const REDELIVERY_WINDOW_MS = 24 * 3_600_000;

// Header fields that relays, mailbox servers and filters add or rewrite on the way; two copies of
// one message differ in these and nothing else. Everything the author's client wrote is kept.
const TRACE_HEADERS = new Set([
  'received', 'return-path', 'delivered-to', 'x-original-to', 'envelope-to', 'received-spf', 'authentication-results',
  'arc-seal', 'arc-message-signature', 'arc-authentication-results', 'x-received', 'status', 'x-status', 'x-uid', 'x-keywords', 'lines', 'content-length',
]);

function isTrace(name: string): boolean {
  return TRACE_HEADERS.has(name) || name.startsWith('x-');
}

/**
 * The text whose sha256 identifies a message across deliveries: its header fields minus trace
 * fields (Received, Return-Path, Delivered-To, Authentication-Results, ARC-*, every X-*), each
 * unfolded with runs of whitespace made one space, and the body with line endings made LF and
 * trailing blank lines dropped. `raw` is the message as latin1 text (one character per byte).
 */
export function redeliveryContent(raw: string): string {
  const { fields, body } = splitHeaderBlock(raw);
  const head = fields.filter((f) => !isTrace(f.name)).map((f) => `${f.name}:${f.value.replace(/\s+/g, ' ')}`);
  const text = body.replace(/\r\n?/g, '\n').trimEnd();
  return `${head.join('\n')}\n\n${text}`;
}

/** A stored inbound message that carries the same Message-ID. */
export interface EarlierMessage {
  /** Its From address (the ticket's customer address for the opening email). */
  from: string | null;
  /** When it was stored, ISO 8601. */
  at: string;
  /** Its `flags.contentHash`; null for messages stored before hashes were kept. */
  contentHash: string | null;
}

export type RedeliveryVerdict<T extends EarlierMessage = EarlierMessage> =
  /** `match`: the earlier copy this one repeats. */
  | { kind: 'redelivery'; rule: 'same-content' | 'same-sender-within-window'; match: T }
  /** No earlier message with this id, or only other messages: store it, noting a reused id when there were any. */
  | { kind: 'new'; reusedId: boolean };

/**
 * (a) Same id and same content hash: a redelivery (a retried SMTP session, a Cc to two of our
 *     addresses, the same message fetched by IMAP and received by SMTP), whenever it comes.
 * (b) Same id from the same From address within REDELIVERY_WINDOW_MS of the first copy: the same
 *     message that took another path on which something rewrote it (a list footer, a relay).
 * (c) Otherwise another message that reuses the id: it is stored as its own message.
 */
export function judgeRedelivery<T extends EarlierMessage>(
  incoming: { from: string | null; contentHash: string; at: string },
  earlier: readonly T[],
  windowMs: number = REDELIVERY_WINDOW_MS,
): RedeliveryVerdict<T> {
  if (earlier.length === 0) return { kind: 'new', reusedId: false };
  const sameContent = earlier.find((e) => e.contentHash === incoming.contentHash);
  if (sameContent) return { kind: 'redelivery', rule: 'same-content', match: sameContent };
  const sender = incoming.from ? addressKey(incoming.from) : '';
  const now = Date.parse(incoming.at);
  const sameSender = earlier.find((e) => sender !== '' && e.from !== null && addressKey(e.from) === sender && Math.abs(now - Date.parse(e.at)) <= windowMs);
  if (sameSender) return { kind: 'redelivery', rule: 'same-sender-within-window', match: sameSender };
  return { kind: 'new', reusedId: true };
}
