import type { MailAuthentication } from './mail/authentication.ts';
import type { MailAddress } from './mail/inbound-email.ts';

export const DIRECTIONS = ['in', 'out', 'internal'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const DELIVERY_STATUSES = ['queued', 'sent', 'failed', 'blocked'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface AttachmentRef {
  id: string;
  name: string;
  contentType: string;
  size: number;
  /** Shown in the body (`Content-Disposition: inline`, an image the HTML refers to by `cid:`); absent on older records. */
  inline?: boolean;
  /** The part's Content-ID without angle brackets: what `cid:` URLs of the HTML body name. */
  contentId?: string | null;
}

/** What deskhook noticed about a message; shown on the ticket and the thread. */
export interface MessageFlags {
  /** Why the message counts as automatic (Auto-Submitted, Precedence, a bounce…): never answered automatically, never reopens. */
  autoReply?: string;
  /** A bounce: the outbound message it returns, whether the failure is permanent, the status code, the report's format and reason. */
  bounce?: { originalMessageId: string | null; status: string | null; permanent: boolean; recipients: string[]; format?: string; diagnostic?: string | null };
  /** The parser could not read everything; the raw message is kept. */
  parseWarnings?: string[];
  spam?: boolean;
  /** SPF, DKIM and DMARC of an inbound email, checked at intake. */
  authentication?: MailAuthentication;
  /** Reply-To of an inbound email (RFC 5322 §3.6.2): where answers go instead of From. */
  replyTo?: MailAddress[];
  /** Another stored message already carries this Message-ID (mailers reuse ids): this one is kept as its own message. */
  duplicateMessageId?: boolean;
  /** sha256 of the inbound message without its trace headers (domain/mail/redelivery.ts): tells a redelivery from a reused id. */
  contentHash?: string;
  /** The opening email's In-Reply-To and References (on tickets; conversations have their own fields), for our replies' References. */
  inReplyTo?: string | null;
  references?: string[];
}

/**
 * Where an answer to a customer's email goes: its Reply-To when it has one (a form mailer's
 * `From: noreply@…` with `Reply-To: customer@…`), otherwise From.
 */
export function replyAddresses(from: string | null, fromName: string | null, flags: Pick<MessageFlags, 'replyTo'>): MailAddress[] {
  const replyTo = (flags.replyTo ?? []).filter((a) => a.address.trim() !== '');
  if (replyTo.length > 0) return replyTo;
  return from ? [{ address: from, name: fromName ?? '' }] : [];
}

export interface Conversation {
  id: number;
  ticketId: number;
  direction: Direction;
  /** true for internal notes: never sent to the customer. */
  private: boolean;
  fromEmail: string | null;
  toEmail: string[];
  ccEmails: string[];
  subject: string;
  body: string;
  bodyPlain: string;
  attachments: AttachmentRef[];
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  agentId: number | null;
  /** Only outbound mail has a delivery status. */
  deliveryStatus: DeliveryStatus | null;
  deliveryError: string | null;
  flags: MessageFlags;
  createdAt: string;
}

/** Plain text for a body given as HTML: enough for search, previews and the `bodyPlain` field. */
export function htmlToPlain(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|li|tr|h[1-6])>/gi, '\n')
    .replace(/<[^<>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/(?<![ \t])[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
