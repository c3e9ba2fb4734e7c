import type { InboundEmail } from '../../domain/mail/inbound-email.ts';

/** Turns raw RFC 5322 bytes into an InboundEmail; never throws (problems become parseWarnings). */
export interface MailParser {
  parse(raw: Buffer): Promise<InboundEmail>;
}

export interface SmtpTransport {
  host: string;
  port: number;
  secure: boolean;
  user: string | null;
  password: string | null;
}

export interface OutboundMail {
  from: { name: string | null; address: string };
  /** Bare addresses, or with the display name when it is known (`"Erika Mustermann" <erika@example.com>`). */
  to: Array<string | { name: string | null; address: string }>;
  cc: string[];
  subject: string;
  text: string;
  html: string | null;
  messageId: string;
  inReplyTo: string | null;
  references: string[];
  headers: Record<string, string>;
}

export type SendResult =
  | { ok: true; response: string }
  /** `permanent`: the server refused for good (5xx); otherwise a retry may succeed. */
  | { ok: false; permanent: boolean; message: string };

export interface Mailer {
  send(transport: SmtpTransport, mail: OutboundMail): Promise<SendResult>;
}
