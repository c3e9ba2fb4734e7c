import nodemailer, { type Transporter } from 'nodemailer';
import type { Mailer, OutboundMail, SendResult, SmtpTransport } from '../../app/ports/mail.ts';

/** SMTP reply codes and nodemailer error codes that a later attempt cannot fix. */
function isPermanent(err: { responseCode?: number; code?: string }): boolean {
  if (typeof err.responseCode === 'number') return err.responseCode >= 500;
  return err.code === 'EENVELOPE' || err.code === 'EMESSAGE';
}

/**
 * Sends through each account's own SMTP server with nodemailer, one pooled transport per server
 * and credentials. Secrets never reach the log: failures are reported as SMTP's own message.
 */
export class NodemailerMailer implements Mailer {
  private readonly transports = new Map<string, Transporter>();

  constructor(private readonly options: { connectionTimeoutMs?: number; allowPlaintext?: boolean } = {}) {}

  private transport(t: SmtpTransport): Transporter {
    const key = JSON.stringify([t.host, t.port, t.secure, t.user, t.password]);
    let transporter = this.transports.get(key);
    if (!transporter) {
      transporter = nodemailer.createTransport({
        host: t.host,
        port: t.port,
        secure: t.secure,
        pool: true,
        maxConnections: 2,
        connectionTimeout: this.options.connectionTimeoutMs ?? 15_000,
        greetingTimeout: this.options.connectionTimeoutMs ?? 15_000,
        socketTimeout: 60_000,
        ...(this.options.allowPlaintext ? { ignoreTLS: true } : {}),
        ...(t.user ? { auth: { user: t.user, pass: t.password ?? '' } } : {}),
      });
      this.transports.set(key, transporter);
    }
    return transporter;
  }

  async send(t: SmtpTransport, mail: OutboundMail): Promise<SendResult> {
    try {
      const info = await this.transport(t).sendMail({
        from: mail.from.name ? { name: mail.from.name, address: mail.from.address } : mail.from.address,
        to: mail.to,
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
      return { ok: false, permanent: isPermanent(e), message: e.response ?? e.message ?? String(err) };
    }
  }

  close(): void {
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
  }
}
