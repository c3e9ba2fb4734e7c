import { CRITERIA, DEFAULT_LEGITIMATION_RULES, type LegitimationRule } from './legitimation.ts';

/** How new inbound tickets are matched to a contract and customer. */
export interface RecognitionSettings {
  enabled: boolean;
  /** Regex sources for contract and customer numbers (first capture group, or the whole match, is the number); empty: the built-in label patterns. */
  contractPatterns: string[];
  customerPatterns: string[];
  /** The team's own mail domains: never taken as the customer's, and their quoted text is ignored. */
  ownDomains: string[];
  /** Any group satisfied legitimises (level 20). */
  rules: LegitimationRule[];
  /** Also ask the configured language model (DESKHOOK_LLM_URL) for characteristics the rules did not find. */
  useModel: boolean;
}

export const DEFAULT_RECOGNITION_SETTINGS: RecognitionSettings = Object.freeze({
  enabled: true, contractPatterns: [], customerPatterns: [], ownDomains: [], rules: DEFAULT_LEGITIMATION_RULES, useModel: false,
});

const MAX_PATTERN_LENGTH = 300;

/** The first problem of the settings, naming the field, or null. */
export function checkRecognitionSettings(s: RecognitionSettings): { field: string; message: string } | null {
  for (const key of ['contractPatterns', 'customerPatterns'] as const) {
    for (const [i, source] of s[key].entries()) {
      if (source.length > MAX_PATTERN_LENGTH) return { field: `${key}.${i}`, message: `at most ${MAX_PATTERN_LENGTH} characters` };
      try {
        new RegExp(source, 'iu');
      } catch (err) {
        return { field: `${key}.${i}`, message: `not a valid regular expression: ${(err as Error).message}` };
      }
    }
  }
  for (const [i, rule] of s.rules.entries()) {
    const unknown = rule.criteria.find((c) => !(CRITERIA as readonly string[]).includes(c));
    if (unknown) return { field: `rules.${i}.criteria`, message: `unknown criterion ${unknown}` };
    if (rule.min < 1 || rule.min > rule.criteria.length) return { field: `rules.${i}.min`, message: `must be between 1 and the number of criteria (${rule.criteria.length})` };
  }
  return null;
}
