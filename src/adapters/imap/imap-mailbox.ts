import { isIP } from 'node:net';
import type { ImapFlow, ImapFlowOptions } from 'imapflow';
import type { AppDeps } from '../../app/deps.ts';
import { acceptInbound, storageIsFull } from '../../app/mail/accept-inbound.ts';
import type { ImapInbound } from '../../domain/email-account.ts';

/** Where one account's mail is read from, with the password already opened. */
export type ImapTarget = Omit<ImapInbound, 'password' | 'type'> & { password: string | null };

export interface SyncResult {
  fetched: number;
  stored: number;
  duplicates: number;
  /** Messages over the size limit: left in the mailbox unflagged, never stored. */
  skipped: number;
}

/** Timeouts for one IMAP connection; an unreachable or stalled server fails the sync, the next poll retries. */
const CONNECTION_TIMEOUT_MS = 30_000;
const GREETING_TIMEOUT_MS = 16_000;
const SOCKET_TIMEOUT_MS = 120_000;
/** Quiet time before imapflow starts IDLE; it never starts while the sync holds the mailbox lock. */
const AUTO_IDLE_DELAY_MS = 1_000;
/** \Seen is set in batches of this many UIDs, so one STORE line stays short. */
const SEEN_BATCH = 200;

export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.startsWith('::ffff:127.');
}

/**
 * The TLS policy: `secure: true` is TLS from the first byte (port 993). `secure: false` requires
 * STARTTLS, so the password never crosses the network in clear text, except to a loopback
 * server (a local relay, a test server) where cleartext stays on the machine. Which servers may be
 * reached at all is the egress policy's decision (DESKHOOK_EGRESS_ALLOW), made by the poller.
 */
export function imapOptions(target: ImapTarget, maxMessageBytes: number, address: string = target.host): ImapFlowOptions {
  const cleartextAllowed = !target.secure && isLoopbackHost(target.host);
  const name = target.host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return {
    // `address` is the one the egress policy passed; the certificate is checked against the name.
    host: address,
    ...(isIP(name) ? {} : { servername: name }),
    port: target.port,
    secure: target.secure,
    doSTARTTLS: target.secure ? undefined : !cleartextAllowed,
    auth: { user: target.user, pass: target.password ?? '' },
    logger: false,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    greetingTimeout: GREETING_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    autoIdleDelay: AUTO_IDLE_DELAY_MS,
    // A server that announces more than it said the message weighs fails the connection
    // instead of filling memory; the margin covers line-ending differences.
    maxLiteralSize: maxMessageBytes * 2 + 1_048_576,
    clientInfo: { name: 'deskhook' },
  };
}

export interface MailboxSyncHooks {
  /** Checked before each message: false (lease lost, shutting down) ends the sync early. */
  keepGoing(): Promise<boolean>;
  maxMessageBytes: number;
}

/**
 * Reads new messages of one folder into storage, oldest UID first. The cursor (folder,
 * UIDVALIDITY, last UID) moves only after a message is committed, so a crash re-reads at most
 * the message in flight, and its sourceKey (`imap:<folder>:<uidValidity>:<uid>`) makes the second
 * store a no-op. A different UIDVALIDITY (or folder) invalidates every UID: the folder is read
 * from UID 1 again.
 */
export async function syncMailbox(deps: AppDeps, client: ImapFlow, account: { id: number; address: string }, folder: string, hooks: MailboxSyncHooks): Promise<SyncResult> {
  const result: SyncResult = { fetched: 0, stored: 0, duplicates: 0, skipped: 0 };
  const lock = await client.getMailboxLock(folder);
  const seen: number[] = [];
  const flagSeen = async () => {
    if (!seen.length) return;
    const uids = seen.splice(0).join(',');
    // Only a courtesy to people reading the mailbox: storage and cursor are already done.
    await client.messageFlagsAdd(uids, ['\\Seen'], { uid: true }).catch((err: unknown) => {
      deps.logger.warn({ err, emailAccountId: account.id, folder }, 'could not flag fetched IMAP messages as seen');
    });
  };
  try {
    // SELECT again even on a kept connection where the folder is still selected: only a fresh
    // SELECT reliably reports a new UIDVALIDITY (folder deleted and recreated) and the current
    // message count; a stale view would make `n:*` below miss new mail.
    const mailbox = await client.mailboxOpen(folder);
    const uidValidity = String(mailbox.uidValidity);
    const cursor = await deps.store.imapCursors.get(account.id);
    const from = cursor && cursor.folder === folder && cursor.uidValidity === uidValidity ? cursor.lastUid + 1 : 1;
    if (mailbox.exists === 0) return result;

    // UIDs and sizes first, bodies one by one afterwards: imapflow deadlocks when another command
    // runs while a fetch is being iterated. `n:*` also returns the highest message when n is
    // beyond it, hence the filter.
    const listed = await client.fetchAll(`${from}:*`, { uid: true, size: true }, { uid: true });
    const pending = listed.filter((m) => m.uid >= from).sort((a, b) => a.uid - b.uid);

    for (const item of pending) {
      if (!(await hooks.keepGoing())) break;
      // Past the storage quota the mail stays in the mailbox, the cursor where it is.
      if (await storageIsFull(deps)) {
        deps.logger.warn({ emailAccountId: account.id, folder }, 'mail storage quota reached; IMAP mail left in the mailbox');
        break;
      }
      const uid = item.uid;
      if ((item.size ?? 0) > hooks.maxMessageBytes) {
        deps.logger.warn({ emailAccountId: account.id, folder, uid, size: item.size, maxMessageBytes: hooks.maxMessageBytes }, 'IMAP message over the size limit left in the mailbox');
        result.skipped++;
      } else {
        const message = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
        // false: expunged since the listing; nothing to store, the UID is never reused.
        if (message && message.source) {
          const stored = await acceptInbound(deps, {
            emailAccountId: account.id, source: 'imap', sourceKey: `imap:${folder}:${uidValidity}:${uid}`,
            envelopeFrom: null, envelopeTo: [account.address], raw: message.source,
          });
          result.fetched++;
          if (stored.duplicate) result.duplicates++;
          else result.stored++;
          seen.push(uid);
        }
      }
      await deps.store.imapCursors.set(account.id, { folder, uidValidity, lastUid: uid }, deps.clock.now().toISOString());
      if (seen.length >= SEEN_BATCH) await flagSeen();
    }
    await flagSeen();
    return result;
  } finally {
    lock.release();
  }
}
