import { Type, type Static, type TSchema } from 'typebox';
import { CHANNELS, LEGITIMATION_LEVELS, TICKET_PRIORITIES, TICKET_STATUSES } from '../../domain/ticket.ts';
import { DELIVERY_STATUSES } from '../../domain/conversation.ts';
import { AUTH_RESULTS } from '../../domain/mail/authentication.ts';
import { FAILURE_POLICIES, MEMO_SECONDS_MAX, WEBHOOK_TIMEOUT_MAX_MS } from '../../domain/email-account.ts';
import { HTTP_METHODS } from '../../domain/executor.ts';
import { EVENT_TYPES } from '../../domain/event.ts';
import { API_KEY_SCOPES, ROLES } from '../../domain/user.ts';

/** Shared API shapes. Route files add their own In/Patch schemas next to their routes. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
export const Enum = <const T extends readonly (string | number)[]>(values: T, options: Record<string, unknown> = {}) =>
  Type.Enum<[...T]>(values, options);
const Closed = { additionalProperties: false } as const;

export const DateTime = Type.String({ format: 'date-time' });
export const Id = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });
export const ErpId = Type.String({ minLength: 1, maxLength: 50 });
export const Email = Type.String({ format: 'email', maxLength: 320 });
export const Tag = Type.String({ minLength: 1, maxLength: 100 });

/**
 * An error answer (application/problem+json, RFC 9457), registered once as `Problem`
 * (#/components/schemas/Problem); every operation declares its error statuses with it
 * (problem-responses.ts). Further members are allowed: an error may add what it concerns.
 */
export const ProblemSchema = Type.Object({
  type: Type.String({ description: '`urn:deskhook:problem:<code>`' }),
  title: Type.String(),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  code: Type.String({ description: 'Stable; program against it (docs/errors.md lists them).' }),
  detail: Type.String(),
  errors: Type.Optional(Type.Array(Type.Object({
    field: Type.String(), message: Type.String(),
    code: Type.Optional(Type.String({ description: 'For an executor: `syntax_error`, `secret_missing` or `egress_refused`.' })),
    line: Type.Optional(Type.Integer({ description: 'syntax_error: 1-based line of the code.' })),
    column: Type.Optional(Type.Integer({ description: 'syntax_error: 1-based column.' })),
    secret: Type.Optional(Type.String({ description: 'secret_missing: the key of the secret to create.' })),
  }), { description: 'Each problem of the request with the field it concerns (dotted paths).' })),
  hook: Type.Optional(Type.String({ description: 'webhook_aborted, webhook_failed: the hook that refused or failed.' })),
  invocationId: Type.Optional(Nullable(Type.String({ description: 'webhook_aborted, webhook_failed: its entry in the invocation log.' }))),
  operation: Type.Optional(Type.String({ description: 'erp_failed: the ERP operation.' })),
}, { $id: 'Problem', title: 'Problem', additionalProperties: true });
/** A reference to the registered Problem schema, for a route's `response`. */
export const Problem = Type.Unsafe<Static<typeof ProblemSchema>>({ $ref: 'Problem#' });

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
};

export const pageOf = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) });

export const Status = Enum(TICKET_STATUSES);
export const Priority = Enum(TICKET_PRIORITIES);

export const Attachment = Type.Object({
  id: Type.String(), name: Type.String(), contentType: Type.String(), size: Type.Integer(),
  inline: Type.Optional(Type.Boolean({ description: 'Shown in the body rather than attached (an image the HTML refers to by `cid:`)' })),
  contentId: Type.Optional(Nullable(Type.String({ description: 'Content-ID without angle brackets, as `cid:` URLs in the HTML body name it' }))),
});

const AuthResultSchema = Enum(AUTH_RESULTS);
export const MailAuthentication = Type.Object({
  spf: Type.Object({ result: AuthResultSchema, domain: Nullable(Type.String()) }),
  dkim: Type.Array(Type.Object({ result: AuthResultSchema, domain: Nullable(Type.String()), aligned: Type.Boolean() })),
  dmarc: Type.Object({ result: AuthResultSchema, policy: Nullable(Type.String()), domain: Nullable(Type.String()) }),
  authenticated: Type.Boolean(),
  note: Nullable(Type.String()),
}, { description: 'SPF, DKIM and DMARC of an inbound email, checked at intake. `authenticated`: the From domain vouches for the message (DMARC pass, or an aligned DKIM signature where the domain has no DMARC record).' });

export const MessageFlags = Type.Object({
  autoReply: Type.Optional(Type.String({ description: 'Why the message counts as automatic; it never reopens a ticket and is never answered automatically.' })),
  bounce: Type.Optional(Type.Object({
    originalMessageId: Nullable(Type.String()), status: Nullable(Type.String()), permanent: Type.Boolean(), recipients: Type.Array(Type.String()),
    format: Type.Optional(Type.String({ description: '`rfc3464` for a delivery status notification, else the vendor of a text report (`qmail`, `exim`, `gmail`, ..., `text`)' })),
    diagnostic: Type.Optional(Nullable(Type.String({ description: "The text report's line that gives the reason" }))),
  })),
  parseWarnings: Type.Optional(Type.Array(Type.String())),
  spam: Type.Optional(Type.Boolean()),
  authentication: Type.Optional(MailAuthentication),
  replyTo: Type.Optional(Type.Array(Type.Object({ address: Type.String(), name: Type.String() }), { description: 'Reply-To of an inbound email: agent replies go there instead of From.' })),
  duplicateMessageId: Type.Optional(Type.Boolean({ description: 'Another stored message already had this Message-ID; this one was kept as its own message.' })),
});

export const Ticket = Type.Object({
  id: Type.Integer(),
  externalTicketId: Nullable(Type.String()),
  emailAccountId: Nullable(Type.Integer()),
  channel: Enum(CHANNELS),
  subject: Type.String(),
  from: Nullable(Type.String()),
  fromName: Nullable(Type.String()),
  to: Type.Array(Type.String()),
  body: Type.String(),
  bodyPlain: Type.String(),
  status: Status,
  priority: Priority,
  dueBy: Nullable(DateTime),
  firstResponseDueBy: Nullable(DateTime),
  agentId: Nullable(Type.Integer()),
  tags: Type.Array(Type.String()),
  contractId: Nullable(Type.String()),
  customerId: Nullable(Type.String()),
  legitimationLevel: Enum(LEGITIMATION_LEVELS),
  createdAt: DateTime,
  modifiedAt: DateTime,
  closedAt: Nullable(DateTime),
  lastMessageAt: Nullable(DateTime),
  lastCustomerMessageAt: Nullable(DateTime),
  messageCount: Type.Integer(),
  messageId: Nullable(Type.String({ description: 'Message-ID of the email that opened the ticket.' })),
  attachments: Type.Array(Attachment, { description: 'Attachments of the email that opened the ticket.' }),
  flags: MessageFlags,
});

/** Webhook failures the step went on despite (failure policy `notify`). */
export const Warnings = Type.Optional(Type.Array(Type.Object({
  code: Type.Literal('webhook_failed'), hook: Type.String(), invocationId: Type.String(), message: Type.String(),
})));

export const TicketWithWarnings = Type.Object({ ...Ticket.properties, warnings: Warnings });

/** Every ticket property a client may change (docs/product.md, the domain). */
export const TicketPatchFields = {
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
  status: Type.Optional(Status),
  priority: Type.Optional(Priority),
  dueBy: Type.Optional(Nullable(DateTime)),
  firstResponseDueBy: Type.Optional(Nullable(DateTime)),
  agentId: Type.Optional(Nullable(Id)),
  tags: Type.Optional(Type.Array(Tag, { maxItems: 100 })),
  addTags: Type.Optional(Type.Array(Tag, { maxItems: 100 })),
  removeTags: Type.Optional(Type.Array(Tag, { maxItems: 100 })),
  contractId: Type.Optional(Nullable(ErpId)),
  customerId: Type.Optional(Nullable(ErpId)),
  legitimationLevel: Type.Optional(Enum(LEGITIMATION_LEVELS)),
  externalTicketId: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
};
export const TicketPatch = Type.Object(TicketPatchFields, { ...Closed, minProperties: 1 });

export const Conversation = Type.Object({
  id: Type.Integer(),
  ticketId: Type.Integer(),
  direction: Enum(['in', 'out', 'internal'] as const),
  private: Type.Boolean(),
  fromEmail: Nullable(Type.String()),
  toEmail: Type.Array(Type.String()),
  ccEmails: Type.Array(Type.String()),
  subject: Type.String(),
  body: Type.String(),
  bodyPlain: Type.String(),
  attachments: Type.Array(Attachment),
  messageId: Nullable(Type.String()),
  inReplyTo: Nullable(Type.String()),
  references: Type.Array(Type.String()),
  agentId: Nullable(Type.Integer()),
  deliveryStatus: Nullable(Enum(DELIVERY_STATUSES)),
  deliveryError: Nullable(Type.String()),
  flags: MessageFlags,
  createdAt: DateTime,
});

export const Actor = Type.Union([
  Type.Object({ type: Type.Literal('user'), userId: Type.Integer() }),
  Type.Object({ type: Type.Literal('system'), reason: Type.String() }),
  Type.Object({ type: Type.Literal('webhook'), hook: Type.String(), invocationId: Type.String() }),
]);

export const ActivityEntry = Type.Object({
  id: Type.Integer(),
  ticketId: Type.Integer(),
  field: Type.String(),
  from: Type.Unknown(),
  to: Type.Unknown(),
  actor: Actor,
  at: DateTime,
  meta: Nullable(Type.Record(Type.String(), Type.Unknown())),
});

export const User = Type.Object({
  id: Type.Integer(),
  email: Type.String(),
  name: Type.String(),
  role: Enum(ROLES),
  service: Type.Boolean(),
  disabled: Type.Boolean(),
  createdAt: DateTime,
});

export const ApiKey = Type.Object({
  id: Type.Integer(),
  userId: Type.Integer(),
  name: Type.String(),
  prefix: Type.String(),
  scope: Enum(API_KEY_SCOPES, { description: 'read: GET requests only; agent: what an agent may; admin: all its owner may. Never more than the owner\'s role.' }),
  createdAt: DateTime,
  expiresAt: Type.Union([DateTime, Type.Null()], { description: 'After this the key no longer works; null: it never expires.' }),
  lastUsedAt: Nullable(DateTime),
});

const HeaderName = Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,100}$' });
export const Executor = Type.Union([
  Type.Object({
    type: Type.Literal('apiCall'),
    url: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2000 }),
    method: Type.Optional(Enum(HTTP_METHODS)),
    headers: Type.Optional(Type.Record(HeaderName, Type.String({ maxLength: 4000 }))),
  }, Closed),
  Type.Object({
    type: Type.Literal('sourceCode'),
    language: Enum(['typescript', 'javascript'] as const),
    code: Type.String({ minLength: 1, maxLength: 200_000 }),
  }, Closed),
]);

/** An apiCall executor as stored: `method` POST and no extra headers unless given. */
/** What a Test ran: the saved executor, or the one the request gave (a settings form's, saved or not). */
export const TestedWhich = Type.Union([Type.Literal('saved'), Type.Literal('given')], { description: '`saved`: the saved executor ran; `given`: the one in the request (what the form shows)' });

export function withExecutorDefaults<T>(executor: T): T {
  const ex = executor as { type?: string; method?: string; headers?: Record<string, string> } | null | undefined;
  return (ex && ex.type === 'apiCall' ? { ...ex, method: ex.method ?? 'POST', headers: ex.headers ?? {} } : ex) as T;
}

export const HookMemo = Type.Object({
  idempotent: Type.Boolean({ description: 'The hook answers the same payload the same way: deskhook may answer it from memory.' }),
  memoSeconds: Type.Integer({ minimum: 1, maximum: MEMO_SECONDS_MAX, description: 'How long an answer is remembered.' }),
}, Closed);

export const Quarantine = Type.Object({
  enabled: Type.Boolean({ description: 'Take a sick hook out of the user\'s path (default true).' }),
  windowCalls: Type.Integer({ minimum: 5, maximum: 1000, description: 'How many recent calls are judged (default 20).' }),
  failureRate: Type.Number({ minimum: 0.01, maximum: 1, description: 'Quarantined when at least this share of them failed (default 0.5).' }),
  p95Ms: Nullable(Type.Integer({ minimum: 1, maximum: WEBHOOK_TIMEOUT_MAX_MS, description: 'Quarantined when their p95 duration is above this; null: 80 % of timeoutMs (default).' })),
  coolDownSeconds: Type.Integer({ minimum: 1, maximum: 86_400, description: 'How long before a probe call may end the quarantine (default 60).' }),
}, Closed);

export const WebhookSettings = Type.Object({
  enabled: Type.Boolean(),
  ticketUpdates: Nullable(Executor),
  newEmails: Nullable(Executor),
  timeoutMs: Type.Integer({ minimum: 100, maximum: WEBHOOK_TIMEOUT_MAX_MS }),
  failurePolicy: Enum(FAILURE_POLICIES),
  deliverLate: Type.Boolean({ description: 'A call that fails under policy `notify` is delivered again later with the same payload and webhook-id (header `deskhook-late: true`); its answer is recorded, never applied. Default true.' }),
  memo: Type.Object({ ticketUpdates: Nullable(HookMemo), newEmails: Nullable(HookMemo) }, { description: 'Per hook: an idempotent hook is not called again within memoSeconds for the same payload; its remembered answer is applied.' }),
  quarantine: Quarantine,
  shadow: Type.Object({ ticketUpdates: Nullable(Executor), newEmails: Nullable(Executor) }, { description: 'Per hook: a second executor that gets every payload the live hook gets, after it answered; its answer is recorded and compared, never applied.' }),
  versions: Type.Optional(Type.Object({ ticketUpdates: Type.Optional(Type.Integer()), newEmails: Type.Optional(Type.Integer()) }, { description: 'Read only: the current version of each hook\'s executor.' })),
});

const Host = Type.String({ minLength: 1, maxLength: 253 });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
export const Inbound = Type.Union([
  Type.Object({ type: Type.Literal('smtp') }, Closed),
  Type.Object({
    type: Type.Literal('imap'), host: Host, port: Port, secure: Type.Boolean(), user: Type.String({ minLength: 1 }),
    password: Type.Optional(Nullable(Type.String({ maxLength: 1000 }))), folder: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'Default INBOX.' })),
  }, Closed),
]);
export const Outbound = Type.Object({
  host: Host, port: Port, secure: Type.Boolean(), user: Nullable(Type.String()),
  password: Type.Optional(Nullable(Type.String({ maxLength: 1000 }))), senderName: Nullable(Type.String({ maxLength: 200 })),
}, Closed);

export const EmailAccount = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  address: Type.String(),
  inbound: Type.Union([
    Type.Object({ type: Type.Literal('smtp') }),
    Type.Object({ type: Type.Literal('imap'), host: Type.String(), port: Type.Integer(), secure: Type.Boolean(), user: Type.String(), folder: Type.String(), hasPassword: Type.Boolean() }),
  ]),
  outbound: Nullable(Type.Object({ host: Type.String(), port: Type.Integer(), secure: Type.Boolean(), user: Nullable(Type.String()), senderName: Nullable(Type.String()), hasPassword: Type.Boolean() })),
  webhooks: WebhookSettings,
  createdAt: DateTime,
  modifiedAt: DateTime,
});

export const Notification = Type.Object({
  id: Type.Integer(),
  userId: Type.Integer(),
  kind: Type.String(),
  message: Type.String(),
  ticketId: Nullable(Type.Integer()),
  link: Nullable(Type.String()),
  readAt: Nullable(DateTime),
  createdAt: DateTime,
});

export const Event = Type.Object({
  id: Type.String(),
  type: Enum(EVENT_TYPES),
  ticketId: Nullable(Type.Integer()),
  userId: Nullable(Type.Integer()),
  data: Type.Record(Type.String(), Type.Unknown()),
  createdAt: DateTime,
});

export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) });
export { Closed };
