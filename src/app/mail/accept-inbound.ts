import type { AppDeps } from '../deps.ts';
import type { InboundRecord } from '../ports/store.ts';

export type AcceptedMessage = Pick<InboundRecord, 'emailAccountId' | 'source' | 'sourceKey' | 'envelopeFrom' | 'envelopeTo' | 'raw'>;

/**
 * Commits a raw message to storage; only after this returns may SMTP answer 250 or IMAP move its
 * cursor. Parsing and threading happen afterwards (`processPendingInbound`), so a message that
 * breaks the parser is still kept. A message whose sourceKey was seen before is not stored twice.
 */
export async function acceptInbound(deps: AppDeps, message: AcceptedMessage): Promise<{ id: number; duplicate: boolean }> {
  return deps.store.inbound.insert({
    ...message,
    envelopeFrom: message.envelopeFrom?.trim().toLowerCase() ?? null,
    size: message.raw.length,
    receivedAt: deps.clock.now().toISOString(),
  });
}

/** Whether a sender has delivered more to this account than the flood limit allows right now. */
export async function senderIsFlooding(deps: AppDeps, emailAccountId: number, sender: string): Promise<boolean> {
  const { maxPerSenderPerWindow, senderWindowSeconds } = deps.mail.settings;
  const since = new Date(deps.clock.now().getTime() - senderWindowSeconds * 1000).toISOString();
  return (await deps.store.inbound.countFromSender(emailAccountId, sender.trim().toLowerCase(), since)) >= maxPerSenderPerWindow;
}
