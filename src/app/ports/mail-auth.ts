import type { MailAuthentication } from '../../domain/mail/authentication.ts';

/** What the SMTP session knew about a message's arrival; null for mail read over IMAP. */
export interface ArrivalContext {
  clientAddress: string | null;
  helo: string | null;
  envelopeFrom: string | null;
}

/** Verifies SPF, DKIM and DMARC of a raw message; never throws and always answers within its time budget. */
export interface MailAuthenticator {
  verify(raw: Buffer, arrival: ArrivalContext): Promise<MailAuthentication>;
}
