import type { ActivityEntry, NewActivity } from '../../domain/activity.ts';
import type { Conversation, DeliveryStatus } from '../../domain/conversation.ts';
import type { EmailAccount } from '../../domain/email-account.ts';
import type { MailAuthentication } from '../../domain/mail/authentication.ts';
import type { ThreadParent } from '../../domain/mail/threading.ts';
import type { DomainEvent, EventType } from '../../domain/event.ts';
import type { Characteristics, Contract, Customer } from '../../domain/erp.ts';
import type { Executor } from '../../domain/executor.ts';
import type { AttemptOutcome, DeliveryStatus as EventDeliveryStatus, DisabledReason, EventHook } from '../../domain/event-hook.ts';
import type { NewNotification, Notification } from '../../domain/notification.ts';
import type { Ticket, TicketPriority, TicketStatus } from '../../domain/ticket.ts';
import type { ApiKeyScope, User } from '../../domain/user.ts';

export interface PageRequest {
  limit: number;
  cursor: string | null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TicketFilter {
  status?: TicketStatus[];
  priority?: TicketPriority[];
  /** `null` finds unassigned tickets. */
  agentId?: number | null;
  /** Tickets carrying every one of these tags. */
  tags?: string[];
  emailAccountId?: number;
  contractId?: string;
  customerId?: string;
  /** Case-insensitive substring of subject, body or sender. */
  text?: string;
}

export type NewTicket = Omit<Ticket, 'id' | 'version'>;

export interface TicketStore {
  insert(ticket: NewTicket): Promise<Ticket>;
  get(id: number): Promise<Ticket | null>;
  getByExternalId(externalTicketId: string): Promise<Ticket | null>;
  search(filter: TicketFilter, page: PageRequest): Promise<Page<Ticket>>;
  /**
   * Writes the ticket's mutable state if its version is still `expectedVersion` and bumps the
   * version. Returns false when someone else changed it first.
   */
  save(ticket: Ticket, expectedVersion: number): Promise<boolean>;
  /** Ids of pending tickets whose dueBy is at or before `now`, oldest first. */
  listDuePending(now: string, limit: number): Promise<number[]>;
}

export type NewConversation = Omit<Conversation, 'id'>;

/** One stored message with a given Message-ID (see `messagesWithId`). */
export interface StoredMessageId {
  ticketId: number;
  /** null for the email that opened the ticket. */
  conversationId: number | null;
  direction: 'in' | 'out';
  from: string | null;
  at: string;
  contentHash: string | null;
}

export interface ConversationStore {
  insert(conversation: NewConversation): Promise<Conversation>;
  get(id: number): Promise<Conversation | null>;
  listByTicket(ticketId: number, page: PageRequest): Promise<Page<Conversation>>;
  setDelivery(id: number, status: DeliveryStatus, error: string | null): Promise<void>;
  /** The ticket each known Message-ID belongs to (the opening email or any conversation). */
  ticketsByMessageId(messageIds: string[]): Promise<Map<string, number>>;
  /** Every address that takes part in each ticket: the customer, inbound senders, outbound recipients. */
  participants(ticketIds: number[]): Promise<Map<number, string[]>>;
  /** Message-IDs of a ticket's thread, oldest first (for References). */
  threadMessageIds(ticketId: number): Promise<string[]>;
  /** The newest message of a ticket's thread with a Message-ID (in or out, else the opening email): what a reply answers. */
  threadParent(ticketId: number): Promise<ThreadParent | null>;
  /** Every stored message carrying this Message-ID, oldest first: tickets' opening emails and conversations. */
  messagesWithId(messageId: string): Promise<StoredMessageId[]>;
  getByMessageId(messageId: string): Promise<Conversation | null>;
  setAttachments(id: number, attachments: Conversation['attachments']): Promise<void>;
  deliveryAttempts(id: number): Promise<number | null>;
  /**
   * Outbound emails held for a newEmails webhook since before `before` whose process never
   * released them (it died while the hook ran) are blocked with `reason`; returns them.
   */
  blockStaleHeld(before: string, reason: string): Promise<Conversation[]>;
  /** Queued outbound mail due for a (re)try, leased until `lockUntil` so only one sender takes it. */
  claimOutbound(now: string, lockUntil: string, limit: number): Promise<Conversation[]>;
  recordDelivery(id: number, outcome: { status: DeliveryStatus; error: string | null; attempts: number; nextAttemptAt: string | null }): Promise<void>;
}

export type InboundStatus = 'received' | 'processed' | 'failed';

export interface InboundRecord {
  id: number;
  emailAccountId: number;
  source: 'smtp' | 'imap';
  /** Deduplicates re-deliveries of one source message (IMAP: folder, UIDVALIDITY and UID). */
  sourceKey: string | null;
  envelopeFrom: string | null;
  envelopeTo: string[];
  raw: Buffer;
  size: number;
  sha256: string;
  receivedAt: string;
  status: InboundStatus;
  attempts: number;
  ticketId: number | null;
  conversationId: number | null;
  outcome: string | null;
  error: string | null;
  /** The SMTP client's address and HELO name (SPF needs them); null for IMAP. */
  clientAddress?: string | null;
  helo?: string | null;
}

export interface InboundStore {
  /** Stores a raw message (and its SHA-256); `duplicate` when its sourceKey was stored before (nothing written then). */
  insert(message: Omit<InboundRecord, 'id' | 'sha256' | 'status' | 'attempts' | 'ticketId' | 'conversationId' | 'outcome' | 'error'>): Promise<{ id: number; duplicate: boolean }>;
  get(id: number): Promise<InboundRecord | null>;
  /** Received messages not leased by another worker, oldest first, leased until `lockUntil`. */
  claim(now: string, lockUntil: string, limit: number): Promise<InboundRecord[]>;
  complete(id: number, result: { ticketId: number | null; conversationId: number | null; outcome: string; at: string; authentication?: MailAuthentication | null }): Promise<void>;
  /** Records a failed attempt; unless final, the message is due again at `retryAt` (its lease shortened to then). */
  fail(id: number, error: string, final: boolean, retryAt?: string): Promise<void>;
  countFromSender(emailAccountId: number, sender: string, since: string): Promise<number>;
  /**
   * Counts one message against each bucket's fixed window starting at `windowStart`, in order,
   * with an atomic increment that every process shares; stops at the first bucket already at its
   * limit and returns it (that bucket is not raised), or null when all were under their limits.
   */
  hitLimits(buckets: ReadonlyArray<{ bucket: string; limit: number }>, windowStart: string): Promise<string | null>;
  /** Drops counters of windows that started before `before`. */
  pruneLimits(before: string): Promise<void>;
  /** Bytes of every raw message stored. */
  storedBytes(): Promise<number>;
}

export interface StoredAttachment {
  id: string;
  ticketId: number;
  conversationId: number | null;
  name: string;
  contentType: string;
  size: number;
  contentId: string | null;
  inline: boolean;
  sha256: string;
  /** null when the attachment was over the size cap: listed, not kept. */
  content: Buffer | null;
  createdAt: string;
}

export interface AttachmentStore {
  insert(attachments: StoredAttachment[]): Promise<void>;
  get(id: string): Promise<StoredAttachment | null>;
}

export interface LeaseStore {
  /** Takes or renews the named lease if it is free, expired or already ours. */
  acquire(name: string, holder: string, expiresAt: string, now: string): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
}

export interface ImapCursor {
  folder: string;
  uidValidity: string;
  lastUid: number;
}

export interface ImapCursorStore {
  get(emailAccountId: number): Promise<ImapCursor | null>;
  set(emailAccountId: number, cursor: ImapCursor, at: string): Promise<void>;
}

export interface ActivityStore {
  add(entries: NewActivity[]): Promise<void>;
  listByTicket(ticketId: number, page: PageRequest): Promise<Page<ActivityEntry>>;
}

export interface EventFilter {
  /**
   * Pull-feed reading: only events no concurrent transaction can still precede (so a reader
   * moving its cursor never skips one), and a cursor on every page (after the last event, or the
   * one given when there is nothing new).
   */
  feed?: boolean;
  /** Newest first (an event log to browse); not with `feed`. */
  newestFirst?: boolean;
  types?: EventType[];
  ticketId?: number;
  since?: string;
  until?: string;
}

/** The W3C trace context of the step that wrote an event; its deliveries continue it. */
export interface StoredTrace {
  traceparent: string;
  tracestate: string | null;
}

export type NewEvent = Omit<DomainEvent, 'createdAt'> & { createdAt: string; trace?: StoredTrace | null };

export interface EventStore {
  /**
   * Appends events and, in the same statement set (so in the caller's transaction), one pending
   * delivery per enabled event hook subscribed to each event's type.
   */
  append(events: NewEvent[]): Promise<void>;
  /** Appends one event (and its deliveries) unless an event with `dedupeKey` exists; true when this call wrote it. */
  appendOnce(event: NewEvent, dedupeKey: string): Promise<boolean>;
  get(id: string): Promise<DomainEvent | null>;
  /** Deletes events created before `before` that no pending delivery still needs; returns how many. */
  prune(before: string): Promise<number>;
  /** Oldest first; the cursor follows the append order, so it also serves as a pull feed. */
  list(filter: EventFilter, page: PageRequest): Promise<Page<DomainEvent>>;
}

export interface UserRecord extends User {
  passwordHash: string | null;
  /** Sessions and API keys are valid only while their epoch equals these; revoking bumps them. */
  sessionEpoch: number;
  keyEpoch: number;
}

export interface UserStore {
  insert(user: Omit<UserRecord, 'id' | 'createdAt' | 'sessionEpoch' | 'keyEpoch'> & { createdAt: string }): Promise<User>;
  get(id: number): Promise<User | null>;
  getByEmail(email: string): Promise<UserRecord | null>;
  getRecord(id: number): Promise<UserRecord | null>;
  list(page: PageRequest): Promise<Page<User>>;
  update(id: number, fields: Partial<Pick<UserRecord, 'name' | 'role' | 'disabled' | 'passwordHash'>>): Promise<User | null>;
  count(): Promise<number>;
  countAdmins(): Promise<number>;
}

export type TokenKind = 'session' | 'apiKey';

export interface AccessToken {
  id: number;
  userId: number;
  kind: TokenKind;
  name: string;
  /** The first characters of the token, to recognise a key in a list. */
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  /** What an API key may do; null for sessions. */
  scope: ApiKeyScope | null;
}

export interface TokenStore {
  /**
   * `epoch`: the owner's session or key epoch as read before the credentials were checked
   * (0, a new user's, when left out); a token whose epoch is behind its owner's never works.
   */
  insert(token: Omit<AccessToken, 'id' | 'lastUsedAt' | 'scope'> & { digest: string; epoch?: number; scope?: ApiKeyScope | null }): Promise<AccessToken>;
  /** The token with this digest and its user, if neither expired, revoked nor disabled. */
  findActive(digest: string, now: string): Promise<{ token: AccessToken; user: User } | null>;
  /** Ends the user's sessions (but `keep`, if given): bumps the session epoch and deletes them. */
  revokeSessions(userId: number, keep: number | null): Promise<void>;
  /** Ends the user's API keys: bumps the key epoch and deletes them. */
  revokeApiKeys(userId: number): Promise<void>;
  listApiKeys(userId: number | null, page: PageRequest): Promise<Page<AccessToken>>;
  get(id: number): Promise<AccessToken | null>;
  delete(id: number): Promise<boolean>;
  touch(id: number, at: string): Promise<void>;
  deleteExpired(now: string): Promise<number>;
}

/**
 * Login attempts per subject (`email:…`, `ip:…`) in fixed windows. Counting is one atomic
 * statement, so parallel attempts each see their own number, in every process.
 */
export interface LoginThrottleStore {
  /**
   * Counts one attempt and returns the count including it and when its window started; a window
   * that started at or before `expiredAt` is over and this attempt starts a new one at `now`.
   */
  hit(subject: string, now: string, expiredAt: string): Promise<{ count: number; windowStart: string }>;
  /** Takes back one attempt counted in the window that started at `windowStart` (a successful login). */
  refund(subject: string, windowStart: string): Promise<void>;
  /** Deletes counters whose window started at or before `expiredAt`; returns how many. */
  prune(expiredAt: string): Promise<number>;
}

/** Email accounts with their secret fields already sealed by the use case. */
export interface EmailAccountStore {
  insert(account: Omit<EmailAccount, 'id'>, sealed: SealedAccountSecrets): Promise<EmailAccount>;
  get(id: number): Promise<{ account: EmailAccount; sealed: SealedAccountSecrets } | null>;
  getByAddress(address: string): Promise<EmailAccount | null>;
  list(page: PageRequest): Promise<Page<EmailAccount>>;
  update(account: EmailAccount, sealed: SealedAccountSecrets): Promise<void>;
  delete(id: number): Promise<boolean>;
}

export interface SealedAccountSecrets {
  imapPassword: string | null;
  smtpPassword: string | null;
  signingSecret: string | null;
  previousSigningSecret: string | null;
  previousSigningSecretExpiresAt: string | null;
}

export interface NotificationStore {
  insert(notification: NewNotification & { createdAt: string }): Promise<Notification>;
  list(userId: number, unreadOnly: boolean, page: PageRequest): Promise<Page<Notification>>;
  countUnread(userId: number): Promise<number>;
  markRead(userId: number, ids: number[] | 'all', at: string): Promise<number>;
}

export interface SecretStore {
  put(key: string, sealed: string, at: string): Promise<void>;
  getSealed(key: string): Promise<string | null>;
  list(): Promise<Array<{ key: string; createdAt: string; modifiedAt: string }>>;
  delete(key: string): Promise<boolean>;
}

export interface WebhookInvocation {
  id: string;
  emailAccountId: number;
  ticketId: number | null;
  conversationId: number | null;
  hook: 'newEmails' | 'ticketUpdates';
  /** What fired it: `ticketUpdate`, `inboundEmail`, `outboundEmail`, `internalNote`, `test`, `retry`. */
  trigger: string;
  userId: number | null;
  /** `ok`: answered; `aborted`: answered with abort; `failed`: no usable answer. */
  outcome: 'ok' | 'aborted' | 'failed';
  /** For failures: what the step did (`notify`: went on; `block`: nothing changed). */
  policyApplied: 'notify' | 'block' | null;
  status: number | null;
  durationMs: number;
  input: unknown;
  output: unknown;
  error: { code: string; message: string } | null;
  logs: unknown;
  createdAt: string;
  /**
   * The `webhook-id` the request carried: the invocation's own id for a first attempt, the
   * original message's for a manual retry (Standard Webhooks: one id per message, across attempts).
   */
  messageId: string;
  /** For a manual retry or a late attempt: the invocation it resent. */
  retryOf: string | null;
  /** True for a late attempt: the payload of a failed call delivered again, its answer recorded and never applied. */
  late?: boolean;
  /** For a failed call whose payload is delivered late: how that stands. */
  lateDelivery?: LateDelivery | null;
  /** Digest of what an idempotent hook saw, for answering the same payload from memory. */
  memoKey?: string | null;
  /** Answered from an earlier invocation with the same `memoKey` (in `retryOf`), without a call. */
  memoized?: boolean;
  /** The version of the hook's executor that ran (see HookVersionStore); null before versions were kept. */
  hookVersion?: number | null;
  /** The run of the hook's shadow executor for the live call in `retryOf`: recorded, never applied. */
  shadow?: boolean;
  /** For a shadow run: its answer against the live one's. */
  comparison?: ShadowComparison | null;
}

export interface ShadowComparison {
  /** `agree`: the same answer; `differ`: see `wouldChange`; `failed`: the shadow failed; `liveFailed`: only the shadow answered. */
  verdict: 'agree' | 'differ' | 'failed' | 'liveFailed';
  wouldChange: Array<{ field: string; live: unknown; shadow: unknown }>;
}

/** One executor a hook has had. */
export interface HookVersion {
  /** `webhook:<account id>:<hook>` or `eventHook:<id>`. */
  scope: string;
  version: number;
  executor: Executor | null;
  changedBy: number | null;
  changedAt: string;
  /** e.g. `rollback to version 2`. */
  note: string | null;
}

/** A synchronous hook taken out of the user's path until `until`; then a probe call may close it. */
export interface HookQuarantine {
  scope: string;
  since: string;
  until: string;
  reason: string;
}

export interface HookQuarantineStore {
  get(scope: string): Promise<HookQuarantine | null>;
  /** Starts a quarantine unless one is on; true when this call started it. */
  start(q: HookQuarantine): Promise<boolean>;
  /** Moves the end of a quarantine (a probe failed). */
  extend(scope: string, until: string): Promise<void>;
  /** Ends it; true when there was one. */
  end(scope: string): Promise<boolean>;
}

export interface HookVersionStore {
  /** Newest first. */
  list(scope: string): Promise<HookVersion[]>;
  get(scope: string, version: number): Promise<HookVersion | null>;
  latest(scope: string): Promise<HookVersion | null>;
  insert(version: HookVersion): Promise<void>;
}

export interface LateDelivery {
  status: 'pending' | 'succeeded' | 'failed';
  /** Late attempts made so far. */
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
}

export interface InvocationFilter {
  emailAccountId?: number;
  ticketId?: number;
  hook?: WebhookInvocation['hook'];
  outcome?: WebhookInvocation['outcome'];
  /** Only shadow runs (true) or only live calls (false). */
  shadow?: boolean;
}

export interface WebhookInvocationStore {
  insert(invocation: WebhookInvocation): Promise<void>;
  get(id: string): Promise<WebhookInvocation | null>;
  /** Leases up to `limit` failed calls whose late delivery is due (a crashed holder's after its lease). */
  claimLate(now: string, lockUntil: string, holder: string, limit: number): Promise<WebhookInvocation[]>;
  /** Records where a late delivery stands after an attempt, and ends the lease. */
  updateLate(id: string, state: LateDelivery): Promise<void>;
  /** The last `limit` real calls of the hook (no tests, late attempts, memoised or quarantined ones), newest first. */
  recentCalls(emailAccountId: number, hook: WebhookInvocation['hook'], limit: number): Promise<Array<{ ok: boolean; durationMs: number }>>;
  /** The newest call of this hook since `since` with this memo key that was answered (ok or aborted), not itself memoised. */
  findMemo(emailAccountId: number, hook: WebhookInvocation['hook'], memoKey: string, since: string): Promise<WebhookInvocation | null>;
  /** Newest first. */
  list(filter: InvocationFilter, page: PageRequest): Promise<Page<WebhookInvocation>>;
}

export interface SealedHookSecrets {
  signingSecret: string;
  previousSigningSecret: string | null;
  previousSigningSecretExpiresAt: string | null;
}

export interface EventHookStore {
  insert(hook: Omit<EventHook, 'id'>, sealed: SealedHookSecrets): Promise<EventHook>;
  get(id: number): Promise<{ hook: EventHook; sealed: SealedHookSecrets } | null>;
  /** Several at once (for a batch of deliveries). */
  getMany(ids: number[]): Promise<Array<{ hook: EventHook; sealed: SealedHookSecrets }>>;
  list(page: PageRequest): Promise<Page<EventHook>>;
  update(hook: EventHook, sealed?: SealedHookSecrets): Promise<void>;
  delete(id: number): Promise<boolean>;
  /** Clears `failingSince` and refreshes `lastSuccessAt` (at most once a minute, to spare the row). */
  markSucceeded(id: number, at: string): Promise<void>;
  /** Sets `failingSince` unless already set; returns the hook's `failingSince`. */
  markFailing(id: number, at: string): Promise<string | null>;
  /** Disables the hook if it is enabled (and, with `failingBefore`, has failed since before then); true when this call did. */
  disable(id: number, reason: DisabledReason, at: string, failingBefore?: string): Promise<boolean>;
  /**
   * Takes up to `count` start slots `intervalMs` apart from the hook's next free one (now at the
   * earliest), as far as `horizonMs` ahead; run inside a transaction. `granted` may be 0.
   */
  reserveSlots(id: number, count: number, intervalMs: number, now: string, horizonMs: number): Promise<{ start: string; granted: number }>;
  /** Pauses every delivery to the hook until `until` (a receiver's Retry-After); never shortens a pause. */
  throttle(id: number, until: string): Promise<void>;
  /** Adds to the hook's total time spent throttled. */
  addThrottledMs(id: number, ms: number): Promise<void>;
}

export interface EventDelivery {
  id: number;
  eventId: string;
  eventType: EventType;
  hookId: number;
  ticketId: number | null;
  status: EventDeliveryStatus;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  /** Created by a replay rather than by the event itself. */
  replay: boolean;
  createdAt: string;
  completedAt: string | null;
}

export interface DeliveryAttempt {
  attempt: number;
  outcome: AttemptOutcome;
  /** HTTP status of an apiCall. */
  status: number | null;
  durationMs: number;
  error: { code: string; message: string } | null;
  /** The start of the answer (or of the error), for the operator. */
  response: string | null;
  worker: string | null;
  startedAt: string;
}

export interface ClaimedDelivery {
  delivery: EventDelivery;
  event: DomainEvent;
  /** The hook's version as the claim read it in the database (see `eventHookVersion`). */
  hookVersion: string;
  /** The trace of the step that wrote the event, if any. */
  trace: StoredTrace | null;
  /** Epoch ms before which the attempt must not start (the hook's `ratePerSecond`). */
  notBefore?: number;
}

/**
 * What changes whenever a hook's executor or signing secret does: its modification time and its
 * sealed secret (a rotation seals a new one). A worker's cached copy of a hook is used only while
 * the claim finds the same version, so a change made by any process counts from the next claim.
 */
export function eventHookVersion(modifiedAt: string, sealedSigningSecret: string): string {
  return `${modifiedAt} ${sealedSigningSecret}`;
}

export interface DeliveryFilter {
  hookId?: number;
  eventId?: string;
  status?: EventDeliveryStatus;
  ticketId?: number;
}

/** Which events a replay or a count of missed events takes, for one hook. */
export interface EventSelection {
  types: EventType[];
  since?: string;
  until?: string;
  eventId?: string;
  /** Only events the hook has neither received nor still has queued. */
  onlyMissed?: boolean;
}

export interface DeliveryResult {
  deliveryId: number;
  attempt: DeliveryAttempt;
  status: EventDeliveryStatus;
  nextAttemptAt: string | null;
  lastError: string | null;
  completedAt: string | null;
}

export interface EventDeliveryStore {
  /**
   * Leases up to `limit` due deliveries of enabled hooks for `holder` until `lockUntil`. A delivery
   * of a hook ordered by ticket is due only when no earlier delivery of its ticket is pending.
   */
  claim(now: string, lockUntil: string, holder: string, limit: number): Promise<ClaimedDelivery[]>;
  /** Deliveries of the hook under a lease right now other than `except`, and whether a Retry-After pauses the hook. */
  limitState(hookId: number, now: string, except: readonly number[]): Promise<{ leased: number; paused: boolean }>;
  /** Gives leases of `holder` back at once, without an attempt (the hook was at its limit). */
  release(ids: readonly number[], holder: string): Promise<void>;
  /**
   * Keeps the attempts and, for deliveries `holder` still holds the lease of, their new state
   * (one statement for all successes, so a batch costs a handful of statements).
   */
  recordMany(results: DeliveryResult[], holder: string): Promise<void>;
  /**
   * The common case on its own: attempts that all succeeded, written atomically without an
   * enclosing transaction (one statement on PostgreSQL). Not for use inside a transaction.
   */
  recordSucceeded(results: DeliveryResult[], holder: string): Promise<void>;
  get(id: number): Promise<EventDelivery | null>;
  /** Newest first, each with its attempts (oldest first). */
  list(filter: DeliveryFilter, page: PageRequest): Promise<Page<EventDelivery & { attempts: DeliveryAttempt[] }>>;
  /** Queues a delivery to `hook` of each selected event, oldest first; returns how many. */
  enqueue(hook: Pick<EventHook, 'id' | 'orderingKey'>, selection: EventSelection, at: string): Promise<number>;
  count(hookId: number, selection: EventSelection): Promise<number>;
  /** Cancels the hook's pending deliveries (it was disabled); returns how many. */
  cancelPending(hookId: number, at: string): Promise<number>;
  stats(): Promise<{ pending: number; oldestPendingAt: string | null }>;
  /** Deletes finished deliveries (and their attempts) completed before `before`. */
  prune(before: string): Promise<number>;
}

/** Settings pages, one JSON document per key (`erp`, `recognition`). */
export interface SettingsStore {
  get<T>(key: string): Promise<T | null>;
  put(key: string, value: unknown, at: string): Promise<void>;
}

export interface ErpStore {
  getContract(id: string): Promise<Contract | null>;
  getCustomer(id: string): Promise<Customer | null>;
  putContract(contract: Contract, at: string): Promise<void>;
  putCustomer(customer: Customer, at: string): Promise<void>;
  /** Many records in one call (imports); the same id twice: the last one wins. */
  putMany(contracts: readonly Contract[], customers: readonly Customer[], at: string): Promise<void>;
  deleteContract(id: string): Promise<boolean>;
  deleteCustomer(id: string): Promise<boolean>;
  /** Local records matching the characteristics, most specific criterion first; at most two (two means: ambiguous). */
  findContracts(characteristics: Characteristics): Promise<Contract[]>;
  /** Customer ids whose record contains every word of `q` (words match as prefixes), best first. */
  searchCustomers(q: string, limit: number, offset: number): Promise<string[]>;
  counts(): Promise<{ contracts: number; customers: number }>;
}

export interface Store {
  readonly webhookInvocations: WebhookInvocationStore;
  readonly hookVersions: HookVersionStore;
  readonly hookQuarantine: HookQuarantineStore;
  readonly tickets: TicketStore;
  readonly conversations: ConversationStore;
  readonly activity: ActivityStore;
  readonly events: EventStore;
  readonly eventHooks: EventHookStore;
  readonly deliveries: EventDeliveryStore;
  readonly erp: ErpStore;
  readonly settings: SettingsStore;
  readonly users: UserStore;
  readonly tokens: TokenStore;
  readonly loginThrottle: LoginThrottleStore;
  readonly emailAccounts: EmailAccountStore;
  readonly notifications: NotificationStore;
  readonly secrets: SecretStore;
  readonly inbound: InboundStore;
  readonly attachments: AttachmentStore;
  readonly leases: LeaseStore;
  readonly imapCursors: ImapCursorStore;
  /**
   * Whether other processes may share this database. When false (embedded SQLite), what one
   * process serialises in memory is serialised for the whole database.
   */
  readonly multiProcess: boolean;
  /** Runs `fn` in one transaction; inside a transaction, runs it in the same one. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** True when the database answers and every migration is applied. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/** Thrown by a store when a write would duplicate a unique value (e-mail, address, externalTicketId). */
export class DuplicateKeyError extends Error {
  constructor(readonly target: string) {
    super(`duplicate ${target}`);
    this.name = 'DuplicateKeyError';
  }
}
