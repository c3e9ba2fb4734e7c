import type { AppDeps } from '../deps.ts';
import { parseSubjectTokens } from '../../domain/mail/threading.ts';

const PURPOSE = 'subject token';

/** The keyed digest in a ticket's subject token, `[#123-<digest>]`: only deskhook's own mail carries it. */
export function subjectTokenMac(deps: Pick<AppDeps, 'secretBox'>, ticketId: number): string {
  return deps.secretBox.keyedDigest(PURPOSE, String(ticketId));
}

/** Tickets whose token in `subject` carries the right digest. */
export function keyedTokenTickets(deps: Pick<AppDeps, 'secretBox'>, subject: string): Set<number> {
  const keyed = new Set<number>();
  for (const t of parseSubjectTokens(subject)) if (t.mac !== null && t.mac === subjectTokenMac(deps, t.ticketId)) keyed.add(t.ticketId);
  return keyed;
}
