import { createHash } from 'node:crypto';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { AppDeps } from '../../app/deps.ts';
import { accountCredentials } from '../../app/email-accounts.ts';
import type { Logger } from '../../app/ports/logger.ts';
import { EgressPolicy } from '../egress/address-policy.ts';
import { EgressError, type EgressLookup } from '../egress/egress-client.ts';
import { allowedMailServerAddress } from '../egress/mail-server-address.ts';
import { imapOptions, syncMailbox, type ImapTarget, type SyncResult } from './imap-mailbox.ts';
import { allPages } from '../../app/all-pages.ts';

export interface ImapPollerOptions {
  deps: AppDeps;
  /** Unique per process: the name this process holds account leases under. */
  holder: string;
  /** Full poll of every IMAP account; with IDLE it is the safety net. */
  pollSeconds: number;
  /** Called after new messages were stored, to start turning them into tickets at once. */
  onAccepted?: () => void;
  /** Largest message read; larger ones stay in the mailbox (default 25 MiB, as for SMTP). */
  maxMessageBytes?: number;
  /** Which addresses IMAP servers may have (DESKHOOK_EGRESS_ALLOW, as for HTTP); default: public ones only. */
  policy?: EgressPolicy;
  /** Resolves the servers' names; injectable for tests. */
  lookup?: EgressLookup;
  /** Tests only: builds the client instead of `new ImapFlow(options)`. */
  imapFactory?: (options: ImapFlowOptions) => ImapFlow;
}

export interface AccountSyncResult {
  fetched: number;
  stored: number;
  duplicates: number;
  /** False when another process holds this account's lease: nothing was read. */
  leased: boolean;
}

/** One open connection per account whose lease this process holds; it IDLEs between syncs. */
interface Session {
  client: ImapFlow;
  /** Connection settings it was opened with; a change to the account opens a new one. */
  fingerprint: string;
  connected: boolean;
}

const NOTHING = { fetched: 0, stored: 0, duplicates: 0 };
const NO_INTERNAL_ADDRESSES = new EgressPolicy([]);
/** Longest wait between attempts on an account that keeps failing (bad password, server down). */
const MAX_BACKOFF_MS = 15 * 60_000;
const LOGOUT_TIMEOUT_MS = 2_000;

/**
 * Reads every email account with IMAP inbound. Invariants:
 * - At most one process reads an account at a time: the lease `imap:<accountId>` (TTL twice the
 *   poll interval plus 30 s) is taken before every sync and renewed while it runs; whoever holds
 *   it is the only one connected to that account.
 * - In this process, syncs of one account never overlap (they queue per account), while
 *   accounts run independently: a hanging server holds up only its own account.
 * - Every message is stored exactly once: by the cursor, and where that is stale, by sourceKey.
 * - No failure leaves this class: errors are logged with the account id and retried on the next
 *   poll, with a growing pause for an account that keeps failing.
 */
export class ImapPoller {
  private readonly deps: AppDeps;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly maxMessageBytes: number;
  private readonly sessions = new Map<number, Session>();
  private readonly held = new Set<number>();
  private readonly lastRenewal = new Map<number, number>();
  private readonly queues = new Map<number, Promise<unknown>>();
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly again = new Set<number>();
  private readonly failures = new Map<number, { count: number; retryAt: number }>();
  /** modifiedAt of each account at the last poll: an edited account (a fixed password) is retried at once. */
  private readonly versions = new Map<number, string>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  private stopping: Promise<void> | null = null;

  constructor(private readonly options: ImapPollerOptions) {
    this.deps = options.deps;
    this.log = options.deps.logger.child({ component: 'imap-poller', holder: options.holder });
    this.pollMs = options.pollSeconds * 1000;
    this.leaseMs = 2 * this.pollMs + 30_000;
    this.maxMessageBytes = options.maxMessageBytes ?? 26_214_400;
  }

  start(): void {
    if (this.stopped || this.timer || this.ticking) return;
    this.schedule(0);
  }

  /** Finishes the message in flight, logs out of every server and releases every lease. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      if (this.timer) clearTimeout(this.timer);
      // A connection still being opened may take its whole timeout; nothing is lost by cutting it.
      for (const s of this.sessions.values()) if (!s.connected) s.client.close();
      await this.ticking;
      await Promise.all([...this.inFlight.values()]);
      await Promise.all([...this.queues.values()].map((q) => q.catch(() => undefined)));
      await Promise.all([...this.sessions.keys()].map((id) => this.closeSession(id)));
      await Promise.all([...this.held].map((id) => this.releaseLease(id)));
    })();
    return this.stopping;
  }

  /**
   * Reads the account's new messages now (queued behind a sync of it already running). Rejects
   * with the connection or server error; the scheduled polls log it instead.
   */
  syncAccount(accountId: number): Promise<AccountSyncResult> {
    const previous = this.queues.get(accountId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.runSync(accountId)).then(
      (result) => {
        if (result.leased) this.deps.telemetry?.imapPolled(accountId, 'ok', result.fetched);
        return result;
      },
      (err: unknown) => {
        this.deps.telemetry?.imapPolled(accountId, 'failed', 0);
        throw err;
      },
    );
    const settled = run.catch(() => undefined);
    this.queues.set(accountId, settled);
    void settled.then(() => { if (this.queues.get(accountId) === settled) this.queues.delete(accountId); });
    return run;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        this.schedule(this.pollMs);
      });
    }, delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let accounts: Array<{ id: number; modifiedAt: string }>;
    try {
      accounts = await this.imapAccounts();
    } catch (err) {
      this.log.error({ err }, 'listing IMAP accounts failed');
      return;
    }
    const wanted = new Set(accounts.map((a) => a.id));
    // Accounts deleted or switched to SMTP inbound: hang up and let go.
    for (const id of new Set([...this.sessions.keys(), ...this.held])) {
      if (!wanted.has(id)) void this.syncAccount(id).catch(() => undefined);
    }
    const now = Date.now();
    for (const { id, modifiedAt } of accounts) {
      if (this.versions.get(id) !== modifiedAt) {
        this.versions.set(id, modifiedAt);
        this.failures.delete(id);
      }
      if (this.inFlight.has(id)) continue;
      const failing = this.failures.get(id);
      if (failing && failing.retryAt > now) {
        // Keep the lease while waiting, so the failing account does not hop between processes.
        if (this.held.has(id)) await this.renewLease(id).catch(() => undefined);
        continue;
      }
      this.kick(id);
    }
  }

  /** Starts a logged sync of the account, or one more right after the one running. */
  private kick(accountId: number): void {
    if (this.stopped) return;
    if (this.inFlight.has(accountId)) {
      this.again.add(accountId);
      return;
    }
    const run = this.syncAccount(accountId).then(
      (result) => {
        this.failures.delete(accountId);
        if (result.stored || result.duplicates) this.log.info({ emailAccountId: accountId, ...result }, 'read IMAP messages');
      },
      (err: unknown) => this.recordFailure(accountId, err),
    ).finally(() => {
      this.inFlight.delete(accountId);
      if (this.again.delete(accountId)) this.kick(accountId);
    });
    this.inFlight.set(accountId, run);
  }

  private recordFailure(accountId: number, err: unknown): void {
    // Connections cut by stop() fail their sync; that is the shutdown, not a fault.
    if (this.stopped) return;
    const count = (this.failures.get(accountId)?.count ?? 0) + 1;
    const waitMs = Math.min(this.pollMs * 2 ** (count - 1), Math.max(MAX_BACKOFF_MS, this.pollMs));
    this.failures.set(accountId, { count, retryAt: Date.now() + waitMs });
    const reason = failureReason(err);
    this.log.error(
      { err, emailAccountId: accountId, reason, serverText: (err as { responseText?: string } | null)?.responseText, failures: count, retryInMs: waitMs },
      `IMAP sync of email account ${accountId} failed: ${reason}`,
    );
  }

  private async runSync(accountId: number): Promise<AccountSyncResult> {
    const credentials = await accountCredentials(this.deps, accountId);
    if (this.stopped || !credentials || credentials.account.inbound.type !== 'imap') {
      await this.closeSession(accountId);
      await this.releaseLease(accountId);
      return { ...NOTHING, leased: false };
    }
    if (!(await this.renewLease(accountId, true))) {
      await this.closeSession(accountId);
      return { ...NOTHING, leased: false };
    }
    const { type: _type, password: _password, ...inbound } = credentials.account.inbound;
    const target: ImapTarget = { ...inbound, password: credentials.imapPassword };
    let result: SyncResult;
    for (let attempt = 1; ; attempt++) {
      const { client, reused } = await this.openSession(accountId, target);
      try {
        result = await syncMailbox(this.deps, client, credentials.account, target.folder, {
          maxMessageBytes: this.maxMessageBytes,
          keepGoing: async () => !this.stopped && (await this.renewLease(accountId)),
        });
        break;
      } catch (err) {
        // The connection's state is unknown after a failure; the next sync starts a fresh one.
        await this.closeSession(accountId);
        // A kept connection may have been dropped by the server while idle: one fresh try.
        if (!reused || attempt > 1 || this.stopped) throw err;
      }
    }
    if (result.stored > 0) this.options.onAccepted?.();
    return { fetched: result.fetched, stored: result.stored, duplicates: result.duplicates, leased: true };
  }

  /** Takes or extends the account's lease; without `force`, only once a third of it has run out. */
  private async renewLease(accountId: number, force = false): Promise<boolean> {
    const last = this.lastRenewal.get(accountId);
    if (!force && this.held.has(accountId) && last !== undefined && Date.now() - last < this.leaseMs / 3) return true;
    const now = this.deps.clock.now();
    const ok = await this.deps.store.leases.acquire(`imap:${accountId}`, this.options.holder, new Date(now.getTime() + this.leaseMs).toISOString(), now.toISOString());
    if (ok) {
      this.held.add(accountId);
      this.lastRenewal.set(accountId, Date.now());
    } else {
      this.held.delete(accountId);
      this.lastRenewal.delete(accountId);
    }
    return ok;
  }

  private async releaseLease(accountId: number): Promise<void> {
    if (!this.held.delete(accountId)) return;
    this.lastRenewal.delete(accountId);
    await this.deps.store.leases.release(`imap:${accountId}`, this.options.holder)
      .catch((err: unknown) => this.log.warn({ err, emailAccountId: accountId }, 'releasing an IMAP lease failed; it expires by itself'));
  }

  private async openSession(accountId: number, target: ImapTarget): Promise<{ client: ImapFlow; reused: boolean }> {
    const fingerprint = createHash('sha256').update(JSON.stringify(target)).digest('hex');
    const current = this.sessions.get(accountId);
    if (current?.connected && current.fingerprint === fingerprint && current.client.usable) return { client: current.client, reused: true };
    if (current) await this.closeSession(accountId);

    // The account's server must pass the egress policy; the checked address is the one connected to.
    const address = await allowedMailServerAddress(this.options.policy ?? NO_INTERNAL_ADDRESSES, target.host, this.options.lookup);
    const options = imapOptions(target, this.maxMessageBytes, address);
    const client = this.options.imapFactory ? this.options.imapFactory(options) : new ImapFlow(options);
    const session: Session = { client, fingerprint, connected: false };
    // Without an 'error' listener a dropped connection would crash the process.
    client.on('error', (err: Error) => this.log.warn({ err, emailAccountId: accountId }, 'IMAP connection failed'));
    client.on('close', () => { if (this.sessions.get(accountId) === session) this.sessions.delete(accountId); });
    // IDLE reports new mail of the selected folder as EXISTS: read it now, not at the next poll.
    client.on('exists', (event: { count: number; prevCount: number }) => { if (event.count > event.prevCount) this.kick(accountId); });
    this.sessions.set(accountId, session);
    await client.connect();
    session.connected = true;
    return { client, reused: false };
  }

  private async closeSession(accountId: number): Promise<void> {
    const session = this.sessions.get(accountId);
    if (!session) return;
    this.sessions.delete(accountId);
    const { client } = session;
    if (!session.connected || !client.usable) {
      client.close();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.logout().catch(() => undefined),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, LOGOUT_TIMEOUT_MS); }),
    ]);
    clearTimeout(timer);
    client.close();
  }

  private async imapAccounts(): Promise<Array<{ id: number; modifiedAt: string }>> {
    const accounts = await allPages((page) => this.deps.store.emailAccounts.list(page));
    return accounts.filter((a) => a.inbound.type === 'imap').map((a) => ({ id: a.id, modifiedAt: a.modifiedAt }));
  }
}

/** A short, stable description for logs and operators: the server's own words where it gave some. */
function failureReason(err: unknown): string {
  const e = (err ?? {}) as { message?: string; code?: string; authenticationFailed?: boolean; mailboxMissing?: boolean; responseText?: string };
  if (e.authenticationFailed) return 'authentication failed';
  if (e.mailboxMissing) return 'folder does not exist';
  if (err instanceof EgressError) return err.message;
  if (e.code) return e.code;
  return e.responseText ?? e.message ?? String(err);
}
