// Who the team is: its own domains and addresses, and the names of its own company, so that
// nothing of the team's (its address, its IBAN in a signature, its company name) is taken for
// the customer's. Pure.

export interface OwnParty {
  /** True for an address at one of the team's domains (or a subdomain), or one of its own addresses. */
  isOwnAddress(address: string): boolean;
  /** True when a text mentions one of the team's domains (in an address or a URL). */
  mentionsOwnDomain(text: string): boolean;
  /** True for a company name that is the team's own ("Stadtwerke Example GmbH" for stadtwerke-example.de). */
  isOwnCompany(name: string): boolean;
}

const letters = (s: string): string => s.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');

export function ownParty(ownDomains: readonly string[] = []): OwnParty {
  const addresses = new Set<string>();
  const domains: string[] = [];
  for (const raw of ownDomains) {
    const entry = raw.trim().toLowerCase().replace(/^@/, '');
    if (!entry) continue;
    if (entry.includes('@')) addresses.add(entry);
    else domains.push(entry);
  }
  // "stadtwerke-example.de" -> "stadtwerkeexample": the company name the domain spells.
  const companyKeys = domains.map((d) => letters(d.split('.').slice(0, -1).join('.').replace(/^www\./, ''))).filter((k) => k.length >= 4);
  const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  return {
    isOwnAddress(address) {
      const a = address.trim().toLowerCase();
      if (addresses.has(a)) return true;
      const domain = domainOf(a);
      return domains.some((d) => domain === d || domain.endsWith(`.${d}`));
    },
    mentionsOwnDomain(text) {
      const t = text.toLowerCase();
      return domains.some((d) => t.includes(d)) || [...addresses].some((a) => t.includes(a));
    },
    isOwnCompany(name) {
      const key = letters(name);
      return companyKeys.some((k) => key.includes(k));
    },
  };
}

const NO_REPLY = /^(?:no-?reply|do-?not-?reply|no\.reply|mailer-daemon|postmaster|bounces?|notifications?|notify|alerts?|auto-?mailer|kontaktformular|formular|webform|web-?formular|wordpress)(?:[._+-].*)?$/i;

/** Senders that no person answers at: their address says nothing about the customer. */
export function isNoReplyAddress(address: string): boolean {
  const local = address.slice(0, address.lastIndexOf('@')).toLowerCase();
  return NO_REPLY.test(local);
}
