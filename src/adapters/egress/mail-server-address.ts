import { lookup as dnsLookup } from 'node:dns/promises';
import { parseHostLiteral, type EgressPolicy } from './address-policy.ts';
import { EgressError, type EgressLookup } from './egress-client.ts';

const systemLookup: EgressLookup = (hostname) => dnsLookup(hostname, { all: true });

/**
 * The address to connect to for an email account's mail server (SMTP or IMAP), checked by the
 * same policy as HTTP egress (DESKHOOK_EGRESS_ALLOW): the host is resolved here, the first
 * address the policy allows is returned, and the caller connects to exactly that address (with
 * the host name kept for TLS), so a name that resolves differently a moment later cannot lead
 * the connection to an internal address. Throws `egress_refused` when no address is allowed.
 */
export async function allowedMailServerAddress(policy: EgressPolicy, host: string, lookup: EgressLookup = systemLookup): Promise<string> {
  const literal = parseHostLiteral(host);
  let candidates: readonly { address: string }[];
  if (literal !== null) candidates = [{ address: literal }];
  else {
    try {
      candidates = await lookup(host);
    } catch (err) {
      throw new EgressError('connection_error', `mail server ${host} could not be resolved: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }
  const reasons: string[] = [];
  for (const { address } of candidates) {
    const decision = policy.check(host, address);
    if (decision.allowed) return address;
    reasons.push(decision.reason);
  }
  throw new EgressError('egress_refused', `mail server refused by the egress policy: ${reasons.join('; ') || `${host} has no address`}`);
}
