import type { MailParser } from '../../app/ports/mail.ts';
import { parseEmail, type ParseLimits } from './parse-email.ts';

export function createMailParser(limits: ParseLimits = {}): MailParser {
  return { parse: (raw) => parseEmail(raw, limits) };
}
