import type { AppDeps } from '../deps.ts';
import { adminIds, notify } from '../notifications.ts';
import type { InboundRecord } from '../ports/store.ts';

export type AcceptedMessage = Pick<InboundRecord, 'emailAccountId' | 'source' | 'sourceKey' | 'envelopeFrom' | 'envelopeTo' | 'raw' | 'clientAddress' | 'helo'>;

/**
 * Commits a raw message to storage; only after this returns may SMTP answer 250 or IMAP move its
 * cursor. Parsing and threading happen afterwards (`processPendingInbound`), so a message that
 * breaks the parser is still kept. A message whose sourceKey was seen before is not stored twice.
 */
export async function acceptInbound(deps: AppDeps, message: AcceptedMessage): Promise<{ id: number; duplicate: boolean }> {
  const stored = await deps.store.inbound.insert({
    ...message,
    envelopeFrom: message.envelopeFrom?.trim().toLowerCase() ?? null,
    size: message.raw.length,
    receivedAt: deps.clock.now().toISOString(),
  });
  if (!stored.duplicate) {
    countStored(deps, message.raw.length);
    deps.telemetry?.mailReceived(message.emailAccountId);
  }
  return stored;
}

export const DEFAULT_CLIENT_LIMIT = 200;
export const DEFAULT_ACCOUNT_LIMIT = 1000;
export const DEFAULT_STORAGE_QUOTA_BYTES = 51_200 * 1_048_576;

/** An SMTP refusal of a message before its data: 451/452 are temporary, the client keeps it. */
export interface InboundRefusal {
  code: 451 | 452;
  text: string;
}

/** The null sender `<>` of bounces and many auto-replies is a sender of its own, counted like any other. */
export const NULL_SENDER = '<>';

const prunedWindow = new WeakMap<object, string>();

/**
 * The flood limits, checked for every recipient before the message is sent: per sender and
 * account (the null sender included), per client address, and per account. The counts live in
 * the database, so they hold across SMTP processes; a refused message is not counted against
 * the buckets after the one that refused it.
 */
export async function checkInboundLimits(deps: AppDeps, m: { emailAccountId: number; sender: string | null; clientAddress: string | null }): Promise<InboundRefusal | null> {
  if (await storageIsFull(deps)) {
    return { code: 452, text: '4.3.1 mail storage is full (the administrator has been told); try again later' };
  }
  const s = deps.mail.settings;
  const windowMs = s.senderWindowSeconds * 1000;
  const windowStart = new Date(Math.floor(deps.clock.now().getTime() / windowMs) * windowMs).toISOString();
  const sender = m.sender?.trim().toLowerCase() || NULL_SENDER;
  const buckets = [
    { bucket: `sender:${m.emailAccountId}:${sender}`, limit: s.maxPerSenderPerWindow },
    ...(m.clientAddress ? [{ bucket: `client:${m.clientAddress}`, limit: s.maxPerClientPerWindow ?? DEFAULT_CLIENT_LIMIT }] : []),
    { bucket: `account:${m.emailAccountId}`, limit: s.maxPerAccountPerWindow ?? DEFAULT_ACCOUNT_LIMIT },
  ];
  const over = await deps.store.inbound.hitLimits(buckets, windowStart);
  if (prunedWindow.get(deps.store) !== windowStart) {
    prunedWindow.set(deps.store, windowStart);
    await deps.store.inbound.pruneLimits(windowStart);
  }
  if (over === null) return null;
  const who = over.startsWith('sender:') ? 'this sender' : over.startsWith('client:') ? 'your address' : 'all senders to this mailbox';
  return { code: 451, text: `4.7.1 too many messages from ${who}; try again later` };
}

interface StorageView { bytes: number; readAt: number }
const storageViews = new WeakMap<object, StorageView>();
/** The stored total is summed at most this often per process; in between, this process's own additions are added. */
const STORAGE_REFRESH_MS = 15_000;

async function storedBytes(deps: AppDeps): Promise<{ bytes: number; fresh: boolean }> {
  const now = Date.now();
  const view = storageViews.get(deps.store);
  if (view && now - view.readAt < STORAGE_REFRESH_MS) return { bytes: view.bytes, fresh: false };
  const bytes = await deps.store.inbound.storedBytes();
  storageViews.set(deps.store, { bytes, readAt: now });
  return { bytes, fresh: true };
}

function countStored(deps: AppDeps, size: number): void {
  const view = storageViews.get(deps.store);
  if (view) view.bytes += size;
}

const QUOTA_NOTICE_KEY = 'mail.storageQuotaNotice';

/**
 * Whether stored inbound mail has reached DESKHOOK_MAIL_STORAGE_QUOTA_MB. The first time it has,
 * every admin is notified; the notice is re-armed once storage is below the quota again.
 */
export async function storageIsFull(deps: AppDeps): Promise<boolean> {
  const quota = deps.mail.settings.storageQuotaBytes ?? DEFAULT_STORAGE_QUOTA_BYTES;
  const { bytes, fresh } = await storedBytes(deps);
  const full = bytes >= quota;
  if (!full && !fresh) return false;
  const notice = await deps.store.settings.get<{ at: string } | false>(QUOTA_NOTICE_KEY);
  const at = deps.clock.now().toISOString();
  if (full && !notice) {
    await deps.store.settings.put(QUOTA_NOTICE_KEY, { at }, at);
    const mib = (n: number) => Math.round(n / 1_048_576);
    deps.logger.error({ storedBytes: bytes, quotaBytes: quota }, 'inbound mail storage quota reached; new mail is refused with 452 until space is freed or the quota raised');
    await notify(deps, await adminIds(deps.store), {
      kind: 'mail_storage_full', ticketId: null, link: null,
      message: `Inbound mail storage is full (${mib(bytes)} MiB of ${mib(quota)} MiB, DESKHOOK_MAIL_STORAGE_QUOTA_MB): new mail is refused with 452 and stays with the senders and in IMAP mailboxes until the quota is raised or space is freed.`,
    });
  } else if (!full && notice) {
    await deps.store.settings.put(QUOTA_NOTICE_KEY, false, at);
  }
  return full;
}
