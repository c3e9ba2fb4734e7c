/**
 * The password policy: long enough and hard to guess. How guessable a password is comes from an
 * estimator (a port; zxcvbn in the adapters) as a score from 0 (trivial) to 4 (very strong) with
 * its feedback; the rule itself is pure.
 */
export const MIN_PASSWORD_LENGTH = 10;
export const MIN_PASSWORD_SCORE = 3;

export interface PasswordEstimate {
  score: 0 | 1 | 2 | 3 | 4;
  /** Why the password is weak, e.g. "This is a commonly used password." */
  warning: string | null;
  suggestions: string[];
}

const ADVICE = 'Use a passphrase of four or more unrelated words, or a password manager\'s generated password.';

/** Null when the password is long enough, otherwise what to do. */
export function passwordLengthProblem(password: string): string | null {
  return [...password].length < MIN_PASSWORD_LENGTH ? `password must have at least ${MIN_PASSWORD_LENGTH} characters. ${ADVICE}` : null;
}

/** Null when the estimate is good enough, otherwise a message saying why not and what to do. */
export function passwordStrengthProblem(estimate: PasswordEstimate): string | null {
  if (estimate.score >= MIN_PASSWORD_SCORE) return null;
  const why = [estimate.warning, ...estimate.suggestions].filter((s): s is string => !!s && s.trim() !== '');
  return `password is too easy to guess${why.length ? `: ${why.join(' ')}` : '.'} ${ADVICE}`;
}
