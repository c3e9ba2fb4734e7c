import { promises as dns } from 'node:dns';
import type { MailauthResolver } from 'mailauth';
import type { ArrivalContext, MailAuthenticator } from '../../app/ports/mail-auth.ts';
import { authResult, isAuthenticated, uncheckedAuthentication, type MailAuthentication } from '../../domain/mail/authentication.ts';

export interface MailauthVerifierOptions {
  /** DNS lookups as `dns.promises.resolve(name, rrtype)`; injectable because tests have no outside DNS. */
  resolver?: MailauthResolver;
  /** The whole check, every lookup included, ends after this long with `temperror`. */
  budgetMs?: number;
  /** Our own host name, as the receiving MTA in SPF macros. */
  mta?: string;
}

const DEFAULT_BUDGET_MS = 5_000;

/** mailauth takes ~0.4 s to load: on the first message, not in every process's start-up. */
let mailauth: Promise<typeof import('mailauth')> | null = null;
const loadMailauth = () => (mailauth ??= import('mailauth'));

/**
 * SPF, DKIM and DMARC with mailauth. For SMTP mail the connecting address, HELO and MAIL FROM
 * are the SMTP session's; mail read over IMAP has none, so the newest Received header (written
 * by the mailbox provider) stands in for them. DNS that does not answer within the budget makes
 * the result `temperror`, unauthenticated: the message is still taken in, never held up.
 */
export class MailauthVerifier implements MailAuthenticator {
  private readonly resolver: MailauthResolver;
  private readonly budgetMs: number;

  constructor(private readonly options: MailauthVerifierOptions = {}) {
    this.resolver = options.resolver ?? ((name, rrtype) => dns.resolve(name, rrtype));
    this.budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
  }

  async verify(raw: Buffer, arrival: ArrivalContext): Promise<MailAuthentication> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<MailAuthentication>((resolve) => {
      timer = setTimeout(() => resolve(uncheckedAuthentication(`no DNS answer within ${this.budgetMs} ms`, 'temperror')), this.budgetMs);
    });
    try {
      return await Promise.race([this.check(raw, arrival), timeout]);
    } catch (err) {
      return uncheckedAuthentication(`verification failed: ${(err as Error).message}`, 'temperror');
    } finally {
      clearTimeout(timer);
    }
  }

  private async check(raw: Buffer, arrival: ArrivalContext): Promise<MailAuthentication> {
    const session = arrival.clientAddress !== null;
    const { authenticate } = await loadMailauth();
    const r = await authenticate(raw, {
      resolver: this.resolver,
      ...(this.options.mta ? { mta: this.options.mta } : {}),
      disableArc: true,
      disableBimi: true,
      ...(session
        ? { ip: arrival.clientAddress ?? undefined, helo: arrival.helo ?? undefined, sender: arrival.envelopeFrom ?? '' }
        : { trustReceived: true }),
    });
    // mailauth reports an unsigned message as one row without a domain: no signature, no row.
    const dkim = (r.dkim.results ?? []).filter((d) => d.signingDomain).map((d) => ({ result: authResult(d.status?.result), domain: d.signingDomain ?? null, aligned: Boolean(d.status?.aligned) }));
    const spf = r.spf ? { result: authResult(r.spf.status?.result), domain: r.spf.domain ?? null } : { result: 'none' as const, domain: null };
    const dmarc = r.dmarc ? { result: authResult(r.dmarc.status?.result), policy: r.dmarc.policy ?? null, domain: r.dmarc.domain ?? null } : { result: 'none' as const, policy: null, domain: null };
    return { spf, dkim, dmarc, authenticated: isAuthenticated({ dkim, dmarc }), note: null };
  }
}
