export const TICKET_STATUSES = ['open', 'pending', 'resolved', 'closed', 'waitingOnCustomer', 'waitingOnThirdParty'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];

export const TICKET_PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export type TicketPriority = (typeof TICKET_PRIORITIES)[number];

/** `email` is the channel deskhook serves; the others are reserved so imported tickets keep their origin. */
export const CHANNELS = ['email', 'portal', 'phone', 'letter', 'system', 'chat', 'walkIn'] as const;
export type Channel = (typeof CHANNELS)[number];

import type { AttachmentRef, MessageFlags } from './conversation.ts';

export const LEGITIMATION_LEVELS = [0, 10, 20, 30] as const;
export type LegitimationLevel = (typeof LEGITIMATION_LEVELS)[number];

export interface Ticket {
  id: number;
  externalTicketId: string | null;
  emailAccountId: number | null;
  channel: Channel;
  subject: string;
  from: string | null;
  fromName: string | null;
  to: string[];
  body: string;
  bodyPlain: string;
  status: TicketStatus;
  priority: TicketPriority;
  dueBy: string | null;
  firstResponseDueBy: string | null;
  agentId: number | null;
  tags: string[];
  contractId: string | null;
  customerId: string | null;
  legitimationLevel: LegitimationLevel;
  createdAt: string;
  modifiedAt: string;
  closedAt: string | null;
  lastMessageAt: string | null;
  lastCustomerMessageAt: string | null;
  messageCount: number;
  /** Message-ID of the email that opened the ticket, for threading replies to it. */
  messageId: string | null;
  attachments: AttachmentRef[];
  flags: MessageFlags;
  /** Optimistic-concurrency counter: bumped by every change. */
  version: number;
}

/** The properties a user, the API or a hook may change; `changes` and `previous` of TicketUpdated use these names. */
export const MUTABLE_FIELDS = [
  'subject', 'status', 'priority', 'dueBy', 'firstResponseDueBy', 'agentId', 'tags',
  'contractId', 'customerId', 'legitimationLevel', 'externalTicketId',
] as const;
export type MutableField = (typeof MUTABLE_FIELDS)[number];

export type TicketPatch = Partial<Pick<Ticket, MutableField>> & {
  addTags?: string[];
  removeTags?: string[];
};

export type TicketChanges = Partial<Pick<Ticket, MutableField>>;

export interface TicketDiff {
  changes: TicketChanges;
  previous: TicketChanges;
}

/** A rule of the ticket model was broken; `field` names the property. */
export class TicketRuleError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'TicketRuleError';
  }
}

export function normaliseTag(tag: string): string {
  return tag.trim().replace(/\s+/g, ' ');
}

export function normaliseTags(tags: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of tags) {
    const tag = normaliseTag(raw);
    const key = tag.toLowerCase();
    if (tag && !seen.has(key)) {
      seen.add(key);
      out.push(tag);
    }
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  return a === b;
}

/**
 * Applies a patch to a ticket and returns the new ticket with the diff, enforcing the rules
 * that hold whoever changes a ticket:
 * - `pending` needs a `dueBy` in the future (at the moment of the change);
 * - `closedAt` is set when the ticket becomes closed or resolved and cleared when it reopens.
 * A patch that changes nothing yields an empty diff.
 */
export function applyTicketPatch(ticket: Ticket, patch: TicketPatch, now: Date): { ticket: Ticket; diff: TicketDiff } {
  const next: Ticket = { ...ticket, tags: [...ticket.tags] };
  for (const field of MUTABLE_FIELDS) {
    if (patch[field] !== undefined) (next as unknown as Record<string, unknown>)[field] = patch[field];
  }
  if (patch.tags !== undefined) next.tags = normaliseTags(patch.tags);
  if (patch.addTags?.length) next.tags = normaliseTags([...next.tags, ...patch.addTags]);
  if (patch.removeTags?.length) {
    const drop = new Set(patch.removeTags.map((t) => normaliseTag(t).toLowerCase()));
    next.tags = next.tags.filter((t) => !drop.has(t.toLowerCase()));
  }
  if (next.status === 'pending') {
    const statusChanges = ticket.status !== 'pending';
    const dueChanges = !sameValue(ticket.dueBy, next.dueBy);
    if ((statusChanges || dueChanges) && (next.dueBy === null || Date.parse(next.dueBy) <= now.getTime())) {
      throw new TicketRuleError('dueBy', 'status pending needs a dueBy in the future');
    }
  }
  const changes: TicketChanges = {};
  const previous: TicketChanges = {};
  for (const field of MUTABLE_FIELDS) {
    if (!sameValue(ticket[field], next[field])) {
      (changes as Record<string, unknown>)[field] = next[field];
      (previous as Record<string, unknown>)[field] = ticket[field];
    }
  }
  if (changes.status !== undefined) {
    const done = next.status === 'closed' || next.status === 'resolved';
    next.closedAt = done ? now.toISOString() : null;
  }
  return { ticket: next, diff: { changes, previous } };
}

export function isEmptyDiff(diff: TicketDiff): boolean {
  return Object.keys(diff.changes).length === 0;
}

/** Statuses from which an inbound customer reply brings the ticket back to `open`. */
export function reopensOnCustomerReply(status: TicketStatus): boolean {
  return status === 'closed' || status === 'resolved' || status === 'pending' || status === 'waitingOnCustomer';
}
