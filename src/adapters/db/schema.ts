import type { ColumnType, Generated } from 'kysely';

/**
 * Table shapes as Kysely sees them. Timestamps are ISO-8601 strings going in; PostgreSQL
 * (timestamptz) hands back Date objects and SQLite (text) strings, so rows are read through
 * `iso()`. JSON columns are jsonb on PostgreSQL and text on SQLite, read through `json()`.
 * Booleans are 0/1 integers on both, since better-sqlite3 cannot bind booleans.
 */
type Ts = string | Date;
type Json = string | unknown;

export interface UsersTable {
  id: Generated<number>;
  email: string;
  name: string;
  role: string;
  service: number;
  disabled: number;
  password_hash: string | null;
  created_at: Ts;
  session_epoch: Generated<number>;
  key_epoch: Generated<number>;
}

export interface AccessTokensTable {
  id: Generated<number>;
  user_id: number;
  kind: string;
  name: string;
  prefix: string;
  digest: string;
  created_at: Ts;
  expires_at: Ts | null;
  last_used_at: Ts | null;
  scope: string | null;
  epoch: Generated<number>;
}

export interface LoginAttemptsTable {
  subject: string;
  window_start: Ts;
  count: number;
}

export interface EmailAccountsTable {
  id: Generated<number>;
  name: string;
  address: string;
  inbound: Json;
  outbound: Json | null;
  webhooks: Json;
  imap_password: string | null;
  smtp_password: string | null;
  signing_secret: string | null;
  previous_signing_secret: string | null;
  previous_signing_secret_expires_at: Ts | null;
  created_at: Ts;
  modified_at: Ts;
}

export interface TicketsTable {
  id: Generated<number>;
  external_ticket_id: string | null;
  email_account_id: number | null;
  channel: string;
  subject: string;
  from_email: string | null;
  from_name: string | null;
  to_emails: Json;
  body: string;
  body_plain: string;
  status: string;
  priority: string;
  due_by: Ts | null;
  first_response_due_by: Ts | null;
  agent_id: number | null;
  tags: Json;
  contract_id: string | null;
  customer_id: string | null;
  legitimation_level: number;
  created_at: Ts;
  modified_at: Ts;
  closed_at: Ts | null;
  last_message_at: Ts | null;
  last_customer_message_at: Ts | null;
  message_count: number;
  version: number;
  message_id: string | null;
  attachments: Json | null;
  flags: Json | null;
}

export interface TicketTagsTable {
  ticket_id: number;
  tag: string;
}

export interface ConversationsTable {
  id: Generated<number>;
  ticket_id: number;
  direction: string;
  private: number;
  from_email: string | null;
  to_emails: Json;
  cc_emails: Json;
  subject: string;
  body: string;
  body_plain: string;
  attachments: Json;
  message_id: string | null;
  in_reply_to: string | null;
  references: Json;
  agent_id: number | null;
  delivery_status: string | null;
  delivery_error: string | null;
  created_at: Ts;
  flags: Json | null;
  delivery_attempts: Generated<number>;
  next_attempt_at: Ts | null;
  locked_until: Ts | null;
}

export interface InboundMessagesTable {
  id: Generated<number>;
  email_account_id: number;
  source: string;
  source_key: string | null;
  envelope_from: string | null;
  envelope_to: Json;
  raw: Buffer;
  size: number;
  sha256: string;
  received_at: Ts;
  status: string;
  attempts: Generated<number>;
  locked_until: Ts | null;
  ticket_id: number | null;
  conversation_id: number | null;
  outcome: string | null;
  error: string | null;
  processed_at: Ts | null;
  client_address: string | null;
  helo: string | null;
  authentication: Json | null;
}

export interface MailRateCountersTable {
  bucket: string;
  window_start: Ts;
  count: number;
}

export interface AttachmentsTable {
  id: string;
  ticket_id: number;
  conversation_id: number | null;
  name: string;
  content_type: string;
  size: number;
  content_id: string | null;
  inline: number;
  sha256: string;
  content: Buffer | null;
  created_at: Ts;
}

export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: Ts;
}

export interface ImapCursorsTable {
  email_account_id: number;
  folder: string;
  uid_validity: string;
  last_uid: number;
  modified_at: Ts;
}

export interface ActivityTable {
  id: Generated<number>;
  ticket_id: number;
  field: string;
  from_value: Json | null;
  to_value: Json | null;
  actor: Json;
  at: Ts;
  meta: Json | null;
}

export interface EventsTable {
  seq: Generated<number>;
  id: string;
  type: string;
  ticket_id: number | null;
  user_id: number | null;
  data: Json;
  created_at: Ts;
  dedupe_key: ColumnType<string | null, string | null | undefined, string | null>;
  traceparent: ColumnType<string | null, string | null | undefined, string | null>;
  tracestate: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface EventHooksTable {
  id: Generated<number>;
  name: string;
  events: Json;
  executor: Json;
  enabled: number;
  ordering_key: string;
  retry_schedule: Json;
  owner_user_id: number | null;
  disabled_reason: string | null;
  disabled_at: Ts | null;
  failing_since: Ts | null;
  last_success_at: Ts | null;
  signing_secret: string;
  previous_signing_secret: string | null;
  previous_signing_secret_expires_at: Ts | null;
  created_at: Ts;
  modified_at: Ts;
  max_in_flight: number | null;
  rate_per_second: number | null;
  next_slot_at: Ts | null;
  throttled_until: Ts | null;
  throttled_ms: ColumnType<string | number, number | undefined, number>;
}

export interface EventHookTypesTable {
  hook_id: number;
  type: string;
}

export interface EventDeliveriesTable {
  id: Generated<number>;
  event_id: string;
  event_type: string;
  hook_id: number;
  ticket_id: number | null;
  ordered: number;
  replay: number;
  status: string;
  attempts: number;
  next_attempt_at: Ts | null;
  locked_by: string | null;
  locked_until: Ts | null;
  last_error: string | null;
  created_at: Ts;
  completed_at: Ts | null;
}

export interface EventDeliveryAttemptsTable {
  id: Generated<number>;
  delivery_id: number;
  attempt: number;
  outcome: string;
  status: number | null;
  duration_ms: number;
  error: Json | null;
  response: string | null;
  worker: string | null;
  started_at: Ts;
}

export interface SettingsTable {
  key: string;
  value: Json;
  modified_at: Ts;
}

export interface ErpContractsTable {
  id: string;
  customer_id: string;
  email: string | null;
  data: Json;
  modified_at: Ts;
}

export interface ErpCustomersTable {
  id: string;
  email: string | null;
  data: Json;
  modified_at: Ts;
}

export interface ErpSearchTable {
  kind: string;
  record_id: string;
  text: string;
}

/** SQLite: an FTS5 table, rowid = ticket id; PostgreSQL: ticket_id plus a generated tsvector. */
export interface TicketSearchTable {
  ticket_id: number;
  source: string;
  text: string;
}

/** SQLite only: (kind, record_id) → the erp_search row id, so one record's row is found by key. */
export interface ErpSearchKeysTable {
  kind: string;
  record_id: string;
}

export interface NotificationsTable {
  id: Generated<number>;
  user_id: number;
  kind: string;
  message: string;
  ticket_id: number | null;
  link: string | null;
  read_at: Ts | null;
  created_at: Ts;
}

export interface SecretsTable {
  key: string;
  value_sealed: string;
  created_at: Ts;
  modified_at: Ts;
}

export interface WebhookInvocationsTable {
  id: string;
  email_account_id: number;
  ticket_id: number | null;
  conversation_id: number | null;
  hook: string;
  trigger: string;
  user_id: number | null;
  outcome: string;
  policy_applied: string | null;
  status: number | null;
  duration_ms: number;
  input: Json;
  output: Json | null;
  error: Json | null;
  logs: Json | null;
  created_at: Ts;
  message_id: string | null;
  retry_of: string | null;
  late: Generated<number>;
  late_status: string | null;
  late_attempts: Generated<number>;
  late_next_at: Ts | null;
  late_error: string | null;
  late_locked_by: string | null;
  late_locked_until: Ts | null;
  memo_key: string | null;
  memoized: Generated<number>;
  hook_version: number | null;
  shadow: Generated<number>;
  comparison: Json | null;
}

export interface HookQuarantineTable {
  scope: string;
  since: Ts;
  until: Ts;
  reason: string;
}

export interface HookVersionsTable {
  scope: string;
  version: number;
  executor: Json | null;
  changed_by: number | null;
  changed_at: Ts;
  note: string | null;
}

export interface Database {
  webhook_invocations: WebhookInvocationsTable;
  hook_versions: HookVersionsTable;
  hook_quarantine: HookQuarantineTable;
  users: UsersTable;
  access_tokens: AccessTokensTable;
  login_attempts: LoginAttemptsTable;
  email_accounts: EmailAccountsTable;
  tickets: TicketsTable;
  ticket_tags: TicketTagsTable;
  conversations: ConversationsTable;
  activity: ActivityTable;
  events: EventsTable;
  event_hooks: EventHooksTable;
  event_hook_types: EventHookTypesTable;
  event_deliveries: EventDeliveriesTable;
  event_delivery_attempts: EventDeliveryAttemptsTable;
  notifications: NotificationsTable;
  settings: SettingsTable;
  erp_contracts: ErpContractsTable;
  erp_customers: ErpCustomersTable;
  erp_search: ErpSearchTable;
  erp_search_keys: ErpSearchKeysTable;
  ticket_search: TicketSearchTable;
  secrets: SecretsTable;
  inbound_messages: InboundMessagesTable;
  mail_rate_counters: MailRateCountersTable;
  attachments: AttachmentsTable;
  leases: LeasesTable;
  imap_cursors: ImapCursorsTable;
}
