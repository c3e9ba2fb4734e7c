// What the sender's domain says about an inbound message: SPF (the connecting server may send
// for the envelope domain), DKIM (signatures and their domains) and DMARC (the From domain's
// policy over both). Checked once at intake and kept with the email.

/** RFC 8601 result words; `temperror` also stands for "no answer within the time budget". */
export const AUTH_RESULTS = ['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror', 'policy'] as const;
export type AuthResult = (typeof AUTH_RESULTS)[number];

export interface MailAuthentication {
  spf: { result: AuthResult; domain: string | null };
  dkim: Array<{ result: AuthResult; domain: string | null; aligned: boolean }>;
  dmarc: { result: AuthResult; policy: string | null; domain: string | null };
  /**
   * True when the From domain vouches for the message: DMARC passed, or, for a domain without
   * a DMARC record, a passing DKIM signature of the From domain. Only then is the From address
   * believed for threading by a bare ticket token.
   */
  authenticated: boolean;
  /** Why nothing could be checked (verification off, no DNS answer in time), else null. */
  note: string | null;
}

const RESULTS: ReadonlySet<string> = new Set(AUTH_RESULTS);

/** A result word as mailauth or a header spells it, mapped onto AuthResult (unknown → permerror). */
export function authResult(value: unknown): AuthResult {
  const v = typeof value === 'string' ? value.trim().toLowerCase() : '';
  return RESULTS.has(v) ? (v as AuthResult) : v === '' ? 'none' : 'permerror';
}

export function isAuthenticated(a: Pick<MailAuthentication, 'dkim' | 'dmarc'>): boolean {
  if (a.dmarc.result === 'pass') return true;
  if (a.dmarc.result === 'none') return a.dkim.some((d) => d.result === 'pass' && d.aligned);
  return false;
}

/** The result when nothing was checked: unauthenticated, with the reason. */
export function uncheckedAuthentication(note: string, result: AuthResult = 'none'): MailAuthentication {
  return { spf: { result, domain: null }, dkim: [], dmarc: { result, policy: null, domain: null }, authenticated: false, note };
}
