// The part of mailauth (no bundled types) that deskhook uses.
declare module 'mailauth' {
  export type MailauthResolver = (name: string, rrtype: string) => Promise<unknown>;
  export interface MailauthOptions {
    ip?: string;
    helo?: string;
    sender?: string;
    mta?: string;
    trustReceived?: boolean;
    resolver?: MailauthResolver;
    disableArc?: boolean;
    disableBimi?: boolean;
  }
  interface Status { result?: string; aligned?: string | false }
  export interface MailauthResult {
    dkim: { headerFrom?: string[]; results?: Array<{ signingDomain?: string; status?: Status }> };
    spf: false | { domain?: string; status?: Status };
    dmarc: false | { domain?: string; policy?: string; status?: Status };
  }
  export function authenticate(input: Buffer | string, options: MailauthOptions): Promise<MailauthResult>;
}
