// Which ticket an inbound email belongs to, and the headers that keep our replies in the
// customer's thread. Pure: the caller collects candidate keys with `threadLookupKeys`, looks them
// up in the store, and passes the answers to `decideThread`.
import type { InboundEmail } from './inbound-email.ts';
import { addressKey } from './inbound-email.ts';

/** Lower-cased header names threading reads from `InboundEmail.headers`. */
export const THREADING_HEADER_NAMES: readonly string[] = ['message-id', 'in-reply-to', 'references'];

/** Outbound References keep the thread root and the newest ids, at most this many in all. */
export const MAX_REFERENCES = 20;

// `[#123-k7f2x6ab]`: the ticket id and a keyed digest of it (base32, 8 characters); `[#123]`, the
// bare form of earlier versions, is still recognised. Linear: fixed character classes, bounded.
const TOKEN = /\[#(\d{1,15})(?:-([a-z2-7]{8}))?\]/gi;

/**
 * The subject token of a ticket. With `mac` (the keyed digest of the ticket id, see
 * `SecretBox.keyedDigest`) it is unguessable: only someone who saw our mail can write it.
 */
export function subjectToken(ticketId: number, mac?: string): string {
  if (!Number.isSafeInteger(ticketId) || ticketId <= 0) throw new RangeError(`invalid ticket id ${ticketId}`);
  if (mac !== undefined && !/^[a-z2-7]{8}$/.test(mac)) throw new RangeError('a token digest is 8 base32 characters');
  return mac === undefined ? `[#${ticketId}]` : `[#${ticketId}-${mac}]`;
}

/** The tokens of a subject in order of appearance: ticket id and digest (null for a bare `[#123]`). */
export function parseSubjectTokens(subject: string): Array<{ ticketId: number; mac: string | null }> {
  const out: Array<{ ticketId: number; mac: string | null }> = [];
  for (const match of subject.matchAll(TOKEN)) {
    const ticketId = Number(match[1]);
    if (Number.isSafeInteger(ticketId) && ticketId > 0) out.push({ ticketId, mac: match[2]?.toLowerCase() ?? null });
  }
  return out;
}

/** Ticket ids of `[#123]` and `[#123-digest]` tokens in order of appearance, de-duplicated. */
export function findSubjectTokens(subject: string): number[] {
  const ids: number[] = [];
  for (const { ticketId } of parseSubjectTokens(subject)) if (!ids.includes(ticketId)) ids.push(ticketId);
  return ids;
}

export type ThreadingInput = Pick<InboundEmail, 'inReplyTo' | 'references' | 'subject' | 'from'>;

export interface ThreadLookupKeys {
  /** In-Reply-To first, then References newest first: the order `decideThread` tries them. */
  messageIds: string[];
  /** Tickets named by subject tokens, whose participants the caller must load. */
  subjectTicketIds: number[];
}

export interface ThreadLookup {
  /** Message id -> ticket id, for those of `messageIds` the store knows (inbound or outbound). */
  knownMessages: ReadonlyMap<string, number>;
  /**
   * Ticket id -> every address that takes part in it: the ticket's customer address, senders of
   * its inbound mail, To/Cc of its outbound mail. A ticket that does not exist is absent.
   */
  participants: ReadonlyMap<number, readonly string[]>;
  /** Tickets whose token in the subject carries the right keyed digest (checked by the caller). */
  keyedTokens?: ReadonlySet<number>;
  /** Whether SPF/DKIM/DMARC vouch for the From address (MailAuthentication.authenticated). */
  senderAuthenticated?: boolean;
}

export type NewTicketReason =
  | 'no-thread-reference' | 'subject-token-from-stranger' | 'subject-token-unknown-ticket'
  /** A participant's address with only a guessable token and no SPF/DKIM/DMARC to back it. */
  | 'subject-token-unauthenticated';

export type ThreadDecision =
  | { kind: 'reply'; ticketId: number; via: 'in-reply-to' | 'references' | 'subject-token' }
  | { kind: 'new'; reason: NewTicketReason };

export function threadLookupKeys(email: ThreadingInput): ThreadLookupKeys {
  const messageIds: string[] = [];
  for (const id of [email.inReplyTo, ...[...email.references].reverse()]) {
    if (id && !messageIds.includes(id)) messageIds.push(id);
  }
  return { messageIds, subjectTicketIds: findSubjectTokens(email.subject) };
}

/**
 * (a) In-Reply-To, then References newest first, naming a message we know → its ticket.
 * (b) A subject token threads only when the sender already takes part in that ticket, and only
 *     when something vouches for that: the token carries the ticket's keyed digest (the sender
 *     saw our mail), or SPF/DKIM/DMARC authenticate the From address. Anyone can type "[#42]"
 *     and write a participant's address into From; such a message becomes a new ticket
 *     (`subject-token-unauthenticated`), never part of ticket 42.
 * (c) Otherwise a new ticket.
 */
export function decideThread(email: ThreadingInput, lookup: ThreadLookup): ThreadDecision {
  if (email.inReplyTo) {
    const ticketId = lookup.knownMessages.get(email.inReplyTo);
    if (ticketId !== undefined) return { kind: 'reply', ticketId, via: 'in-reply-to' };
  }
  for (let i = email.references.length - 1; i >= 0; i--) {
    const ticketId = lookup.knownMessages.get(email.references[i] ?? '');
    if (ticketId !== undefined) return { kind: 'reply', ticketId, via: 'references' };
  }

  const tokens = findSubjectTokens(email.subject);
  if (tokens.length === 0) return { kind: 'new', reason: 'no-thread-reference' };
  const sender = email.from ? addressKey(email.from.address) : '';
  let anyKnownTicket = false;
  let unvouchedParticipant = false;
  for (const ticketId of tokens) {
    const participants = lookup.participants.get(ticketId);
    if (!participants) continue;
    anyKnownTicket = true;
    if (sender !== '' && participants.some((p) => addressKey(p) === sender)) {
      if (lookup.keyedTokens?.has(ticketId) || lookup.senderAuthenticated === true) return { kind: 'reply', ticketId, via: 'subject-token' };
      unvouchedParticipant = true;
    }
  }
  if (unvouchedParticipant) return { kind: 'new', reason: 'subject-token-unauthenticated' };
  return { kind: 'new', reason: anyKnownTicket ? 'subject-token-from-stranger' : 'subject-token-unknown-ticket' };
}

/** The message an outbound email answers: its id and its own In-Reply-To and References. */
export interface ThreadParent {
  messageId: string;
  inReplyTo: string | null;
  /** Oldest first, as the parent carried them, ids we do not know included. */
  references: readonly string[];
}

/**
 * The References of a reply per RFC 5322 §3.6.4: the parent's References (or, without them, its
 * single In-Reply-To id) followed by the parent's Message-ID. Ids the parent named that we never
 * saw are kept: they link the customer's client to the rest of its thread. Pass the result as
 * `previousMessageIds`; it ends with the parent, which becomes In-Reply-To.
 */
export function parentReferences(parent: ThreadParent | null): string[] {
  if (!parent) return [];
  const chain = parent.references.length > 0 ? [...parent.references] : parent.inReplyTo ? [parent.inReplyTo] : [];
  return [...chain.filter((id) => id !== parent.messageId), parent.messageId];
}

export interface OutboundThreadingInput {
  ticketId: number;
  /** Domain of the sending account's address (the part after "@"). */
  domain: string;
  /** The References chain of the message answered (see `parentReferences`), oldest first; the last one is answered. */
  previousMessageIds: readonly string[];
  /** The subject being answered, usually the ticket's. */
  subject: string;
  /** Unique per message, from the Ids port; only [A-Za-z0-9] survive. */
  nonce: string;
  /** The ticket's keyed token digest; without it the bare `[#id]` token is written. */
  tokenMac?: string;
}

export interface OutboundThreading {
  /** Bare ids, as stored on the Conversation. */
  messageId: string;
  inReplyTo: string | null;
  references: string[];
  subject: string;
  /** Header values, ids in angle brackets, ready for the mail transport. */
  headers: { 'Message-ID': string; 'In-Reply-To'?: string; References?: string };
}

const REPLY_PREFIX = /^\s*(?:re|aw|antw|sv|vs|r)\s*(?:\[\d+\]\s*)?:/i;

export function outboundThreadingHeaders(input: OutboundThreadingInput): OutboundThreading {
  const domain = input.domain.trim().toLowerCase().replace(/^.*@/, '').replace(/[^a-z0-9.-]/g, '') || 'deskhook.invalid';
  const nonce = input.nonce.replace(/[^A-Z0-9]/gi, '');
  if (nonce === '') throw new RangeError('nonce must contain letters or digits');
  const messageId = `dh.${input.ticketId}.${nonce}@${domain}`;

  const ids: string[] = [];
  for (const raw of input.previousMessageIds) {
    const id = raw.trim().replace(/^<|>$/g, '');
    if (id !== '' && !ids.includes(id)) ids.push(id);
  }
  // The root identifies the thread for clients that thread by the first reference; the newest
  // ids carry the actual parentage. Middle ids are the ones that can go.
  const references = ids.length <= MAX_REFERENCES ? ids : [ids[0] ?? '', ...ids.slice(ids.length - (MAX_REFERENCES - 1))];
  const inReplyTo = ids.at(-1) ?? null;

  let subject = input.subject.replace(/\s+/g, ' ').trim();
  if (inReplyTo !== null && !REPLY_PREFIX.test(subject)) subject = `Re: ${subject}`;
  const token = subjectToken(input.ticketId, input.tokenMac);
  if (!subject.includes(token)) {
    // A bare or stale token of this ticket gives way to the current one; other tickets' stay.
    const own = parseSubjectTokens(subject).some((t) => t.ticketId === input.ticketId);
    subject = own
      ? subject.replace(TOKEN, (whole, id: string) => (Number(id) === input.ticketId ? token : whole))
      : `${subject} ${token}`;
  }
  subject = subject.replace(/\s+/g, ' ').trim();

  const headers: OutboundThreading['headers'] = { 'Message-ID': `<${messageId}>` };
  if (inReplyTo !== null) headers['In-Reply-To'] = `<${inReplyTo}>`;
  if (references.length > 0) headers.References = references.map((id) => `<${id}>`).join(' ');
  return { messageId, inReplyTo, references, subject, headers };
}
