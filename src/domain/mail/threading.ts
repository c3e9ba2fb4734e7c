// Which ticket an inbound email belongs to, and the headers that keep our replies in the
// customer's thread. Pure: the caller collects candidate keys with `threadLookupKeys`, looks them
// up in the store, and passes the answers to `decideThread`.
import type { InboundEmail } from './inbound-email.ts';
import { addressKey } from './inbound-email.ts';

/** Lower-cased header names threading reads from `InboundEmail.headers`. */
export const THREADING_HEADER_NAMES: readonly string[] = ['message-id', 'in-reply-to', 'references'];

/** Outbound References keep the thread root and the newest ids, at most this many in all. */
export const MAX_REFERENCES = 20;

const TOKEN = /\[#(\d{1,15})\]/g;

export function subjectToken(ticketId: number): string {
  if (!Number.isSafeInteger(ticketId) || ticketId <= 0) throw new RangeError(`invalid ticket id ${ticketId}`);
  return `[#${ticketId}]`;
}

/** Ticket ids of `[#123]` tokens in order of appearance, de-duplicated. */
export function findSubjectTokens(subject: string): number[] {
  const ids: number[] = [];
  for (const match of subject.matchAll(TOKEN)) {
    const id = Number(match[1]);
    if (Number.isSafeInteger(id) && id > 0 && !ids.includes(id)) ids.push(id);
  }
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
}

export type NewTicketReason = 'no-thread-reference' | 'subject-token-from-stranger' | 'subject-token-unknown-ticket';

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
 * (b) A subject token threads only when the sender already takes part in that ticket: anyone
 *     can type "[#42]", and a stranger must not be able to write into someone else's ticket.
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
  for (const ticketId of tokens) {
    const participants = lookup.participants.get(ticketId);
    if (!participants) continue;
    anyKnownTicket = true;
    if (sender !== '' && participants.some((p) => addressKey(p) === sender)) {
      return { kind: 'reply', ticketId, via: 'subject-token' };
    }
  }
  return { kind: 'new', reason: anyKnownTicket ? 'subject-token-from-stranger' : 'subject-token-unknown-ticket' };
}

export interface OutboundThreadingInput {
  ticketId: number;
  /** Domain of the sending account's address (the part after "@"). */
  domain: string;
  /** Ids of the ticket's earlier messages, oldest first; the last one is answered. */
  previousMessageIds: readonly string[];
  /** The subject being answered, usually the ticket's. */
  subject: string;
  /** Unique per message, from the Ids port; only [A-Za-z0-9] survive. */
  nonce: string;
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

const REPLY_PREFIX = /^\s*(re|aw|antw|sv|vs|r)\s*(\[\d+\])?\s*:/i;

export function outboundThreadingHeaders(input: OutboundThreadingInput): OutboundThreading {
  const domain = input.domain.trim().toLowerCase().replace(/^.*@/, '').replace(/[^a-z0-9.-]/g, '') || 'deskhook.invalid';
  const nonce = input.nonce.replace(/[^A-Za-z0-9]/g, '');
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
  if (!findSubjectTokens(subject).includes(input.ticketId)) subject = `${subject} ${subjectToken(input.ticketId)}`;
  subject = subject.replace(/\s+/g, ' ').trim();

  const headers: OutboundThreading['headers'] = { 'Message-ID': `<${messageId}>` };
  if (inReplyTo !== null) headers['In-Reply-To'] = `<${inReplyTo}>`;
  if (references.length > 0) headers.References = references.map((id) => `<${id}>`).join(' ');
  return { messageId, inReplyTo, references, subject, headers };
}
