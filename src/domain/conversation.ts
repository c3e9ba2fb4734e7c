export const DIRECTIONS = ['in', 'out', 'internal'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const DELIVERY_STATUSES = ['queued', 'sent', 'failed', 'blocked'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface AttachmentRef {
  id: string;
  name: string;
  contentType: string;
  size: number;
}

/** What deskhook noticed about a message; shown on the ticket and the thread. */
export interface MessageFlags {
  /** Why the message counts as automatic (Auto-Submitted, Precedence, a bounce…): never answered automatically, never reopens. */
  autoReply?: string;
  /** A delivery-status report: the outbound message it bounces and whether the failure is permanent. */
  bounce?: { originalMessageId: string | null; status: string | null; permanent: boolean; recipients: string[] };
  /** The parser could not read everything; the raw message is kept. */
  parseWarnings?: string[];
  spam?: boolean;
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
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
