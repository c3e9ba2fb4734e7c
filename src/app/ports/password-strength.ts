import type { PasswordEstimate } from '../../domain/password-policy.ts';

/** Estimates how guessable a password is; `userInputs` (e-mail, name) count as known words. */
export interface PasswordStrength {
  estimate(password: string, userInputs: readonly string[]): Promise<PasswordEstimate>;
}
