import { passwordLengthProblem, passwordStrengthProblem } from '../../domain/password-policy.ts';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';

/**
 * Refuses a password that is too short or too easy to guess (score below 3), with the
 * estimator's reason and what to do instead; the same rule for the API, the CLI and the UI.
 */
export async function checkPassword(deps: Pick<AppDeps, 'passwordStrength'>, password: string, userInputs: readonly string[]): Promise<void> {
  const tooShort = passwordLengthProblem(password);
  if (tooShort) throw new AppError('validation_failed', tooShort, { errors: [{ field: 'password', message: 'too short' }] });
  const weak = passwordStrengthProblem(await deps.passwordStrength.estimate(password, userInputs));
  if (weak) throw new AppError('validation_failed', weak, { errors: [{ field: 'password', message: 'too easy to guess' }] });
}
