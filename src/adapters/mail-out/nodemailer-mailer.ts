import { isIP } from 'node:net';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Mailer, OutboundMail, SendResult, SmtpTransport } from '../../app/ports/mail.ts';
import { EgressPolicy } from '../egress/address-policy.ts';
import { EgressError, type EgressLookup } from '../egress/egress-client.ts';
import { allowedMailServerAddress } from '../egress/mail-server-address.ts';

export interface NodemailerMailerOptions {
  connectionTimeoutMs?: number;
  /** Which addresses the accounts' SMTP servers may have (DESKHOOK_EGRESS_ALLOW); default: public ones only. */
  policy?: EgressPolicy;
  /** Servers (as named on the account) that may get a user and password without TLS (DESKHOOK_MAIL_PLAINTEXT_HOSTS). */
  plaintextHosts?: readonly string[];
  /** Resolves the servers' names; injectable for tests. */
  lookup?: EgressLookup;
}

const normalHost = (host: string): string => host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');

/** SMTP reply codes and nodemailer error codes that a later attempt cannot fix. */
function isPermanent(err: { responseCode?: number; code?: string }): boolean {
  if (typeof err.responseCode === 'number') return err.responseCode >= 500;
  return err.code === 'EENVELOPE' || err.code === 'EMESSAGE';
}

/**
 * Sends through each account's own SMTP server with nodemailer, one pooled transport per server
 * and credentials. Secrets never reach the log: failures are reported as SMTP's own message.
 *
 * Two rules guard the account's credentials and the network behind deskhook:
 * - The server's address must pass the egress policy (DESKHOOK_EGRESS_ALLOW), checked on the
 *   resolved address, which is the one connected to.
 * - A user and password travel only inside TLS: implicit (`secure`) or STARTTLS, required, so a
 *   server that offers no STARTTLS never sees AUTH. Only a host the admin lists in
 *   DESKHOOK_MAIL_PLAINTEXT_HOSTS may get them in clear.
 */
export class NodemailerMailer implements Mailer {
  private readonly transports = new Map<string, Transporter>();
  private readonly policy: EgressPolicy;
  private readonly plaintextHosts: ReadonlySet<string>;

  constructor(private readonly options: NodemailerMailerOptions = {}) {
    this.policy = options.policy ?? new EgressPolicy([]);
    this.plaintextHosts = new Set((options.plaintextHosts ?? []).map(normalHost));
  }

  private transport(t: SmtpTransport, address: string): Transporter {
    const key = JSON.stringify([t.host, address, t.port, t.secure, t.user, t.password]);
    let transporter = this.transports.get(key);
    if (!transporter) {
      // Credentials are sent exactly when there is a user (the same test as `auth` below).
      const requireTLS = !t.secure && Boolean(t.user) && !this.plaintextHosts.has(normalHost(t.host));
      transporter = nodemailer.createTransport({
        host: address,
        port: t.port,
        secure: t.secure,
        // The certificate is checked against the name on the account, not the address.
        ...(isIP(normalHost(t.host)) ? {} : { servername: normalHost(t.host) }),
        requireTLS,
        pool: true,
        maxConnections: 2,
        connectionTimeout: this.options.connectionTimeoutMs ?? 15_000,
        greetingTimeout: this.options.connectionTimeoutMs ?? 15_000,
        socketTimeout: 60_000,
        ...(t.user ? { auth: { user: t.user, pass: t.password ?? '' } } : {}),
      });
      this.transports.set(key, transporter);
    }
    return transporter;
  }

  async send(t: SmtpTransport, mail: OutboundMail): Promise<SendResult> {
    let address: string;
    try {
      address = await allowedMailServerAddress(this.policy, t.host, this.options.lookup);
    } catch (err) {
      const e = err as EgressError;
      // A refused address is the account's configuration: no retry can fix it.
      return { ok: false, permanent: e instanceof EgressError && e.code === 'egress_refused', message: e.message };
    }
    try {
      const info = await this.transport(t, address).sendMail({
        from: mail.from.name ? { name: mail.from.name, address: mail.from.address } : mail.from.address,
        // nodemailer quotes and encodes the display name as RFC 5322 and RFC 2047 require.
        to: mail.to.map((a) => (typeof a === 'string' ? a : a.name ? { name: a.name, address: a.address } : a.address)),
        cc: mail.cc,
        subject: mail.subject,
        text: mail.text,
        ...(mail.html ? { html: mail.html } : {}),
        messageId: `<${mail.messageId}>`,
        ...(mail.inReplyTo ? { inReplyTo: `<${mail.inReplyTo}>` } : {}),
        ...(mail.references.length ? { references: mail.references.map((r) => `<${r}>`) } : {}),
        headers: mail.headers,
      });
      return { ok: true, response: String(info.response ?? '') };
    } catch (err) {
      const e = err as { message?: string; responseCode?: number; code?: string; response?: string };
      if (e.code === 'ETLS' && !t.secure && t.user) {
        return {
          ok: false, permanent: true,
          message: `${t.host}:${t.port} offers no working STARTTLS, and the account's user and password are only sent over TLS: use implicit TLS (secure, usually port 465), a server with STARTTLS, or name the host in DESKHOOK_MAIL_PLAINTEXT_HOSTS (server said: ${e.response ?? e.message ?? 'nothing'})`,
        };
      }
      return { ok: false, permanent: isPermanent(e), message: e.response ?? e.message ?? String(err) };
    }
  }

  /**
   * Connects, greets and logs in as a send would, without sending anything (`deskhook doctor`):
   * null when the server takes the account's settings, else what went wrong.
   */
  async verify(t: SmtpTransport): Promise<string | null> {
    let address: string;
    try {
      address = await allowedMailServerAddress(this.policy, t.host, this.options.lookup);
    } catch (err) {
      return (err as Error).message;
    }
    try {
      await this.transport(t, address).verify();
      return null;
    } catch (err) {
      const e = err as { message?: string; response?: string };
      return e.response ?? e.message ?? String(err);
    }
  }

  close(): void {
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
  }
}
