import type { Kysely } from 'kysely';
import type { Store } from '../../app/ports/store.ts';
import { pendingMigrations, ping, type DatabaseHandle } from './dialect.ts';
import { EmailAccountRepo, NotificationRepo, SecretRepo } from './repos/accounts.ts';
import { ActivityRepo, ConversationRepo } from './repos/conversations.ts';
import { EventRepo } from './repos/events.ts';
import { EventDeliveryRepo, EventHookRepo } from './repos/event-hooks.ts';
import { ErpRepo, SettingsRepo } from './repos/erp.ts';
import { HookQuarantineRepo, HookVersionRepo, WebhookInvocationRepo } from './repos/invocations.ts';
import { AttachmentRepo, ImapCursorRepo, InboundRepo, LeaseRepo } from './repos/mail.ts';
import { TicketRepo } from './repos/tickets.ts';
import { LoginThrottleRepo, TokenRepo, UserRepo } from './repos/users.ts';
import type { Database } from './schema.ts';

/** The Store port on Kysely: the same queries for SQLite and PostgreSQL. */
export class KyselyStore implements Store {
  readonly tickets;
  readonly conversations;
  readonly activity;
  readonly events;
  readonly eventHooks;
  readonly deliveries;
  readonly erp;
  readonly settings;
  readonly users;
  readonly tokens;
  readonly loginThrottle;
  readonly emailAccounts;
  readonly notifications;
  readonly secrets;
  readonly inbound;
  readonly attachments;
  readonly leases;
  readonly imapCursors;
  readonly webhookInvocations;
  readonly hookVersions;
  readonly hookQuarantine;
  readonly multiProcess: boolean;

  constructor(
    private readonly handle: DatabaseHandle,
    private readonly db: Kysely<Database> = handle.db,
    private readonly inTransaction = false,
  ) {
    this.tickets = new TicketRepo(db, handle.kind);
    this.conversations = new ConversationRepo(db, handle.capabilities);
    this.activity = new ActivityRepo(db);
    this.events = new EventRepo(db, handle.kind);
    this.eventHooks = new EventHookRepo(db, handle.capabilities);
    this.deliveries = new EventDeliveryRepo(db, handle.capabilities);
    this.erp = new ErpRepo(db, handle.kind);
    this.settings = new SettingsRepo(db);
    this.users = new UserRepo(db);
    this.tokens = new TokenRepo(db);
    this.loginThrottle = new LoginThrottleRepo(db);
    this.emailAccounts = new EmailAccountRepo(db);
    this.notifications = new NotificationRepo(db);
    this.secrets = new SecretRepo(db);
    this.inbound = new InboundRepo(db, handle.capabilities);
    this.attachments = new AttachmentRepo(db);
    this.leases = new LeaseRepo(db);
    this.imapCursors = new ImapCursorRepo(db);
    this.webhookInvocations = new WebhookInvocationRepo(db, handle.capabilities);
    this.hookVersions = new HookVersionRepo(db);
    this.hookQuarantine = new HookQuarantineRepo(db);
    this.multiProcess = handle.capabilities.multiProcess;
  }

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    return this.db.transaction().execute((trx) => fn(new KyselyStore(this.handle, trx, true)));
  }

  async ready(): Promise<boolean> {
    try {
      await ping(this.handle);
      return (await pendingMigrations(this.handle)).length === 0;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
