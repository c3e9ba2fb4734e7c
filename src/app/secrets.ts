import type { AppDeps } from './deps.ts';
import { AppError, notFound } from './errors.ts';

export const SECRET_KEY_PATTERN = /^[\w.-]{1,100}$/;
export const MAX_SECRET_BYTES = 16 * 1024;

/** Sets a secret. Values are sealed before they reach the store and are never returned by the API. */
export async function setSecret(deps: AppDeps, key: string, value: string): Promise<{ key: string }> {
  if (!SECRET_KEY_PATTERN.test(key)) {
    throw new AppError('validation_failed', 'secret keys use letters, digits, `_`, `.` and `-` (at most 100)', { errors: [{ field: 'key', message: 'invalid key' }] });
  }
  if (Buffer.byteLength(value) > MAX_SECRET_BYTES) {
    throw new AppError('validation_failed', `secret values are at most ${MAX_SECRET_BYTES} bytes`, { errors: [{ field: 'value', message: 'too long' }] });
  }
  await deps.store.secrets.put(key, deps.secretBox.seal(value), deps.clock.now().toISOString());
  return { key };
}

export async function listSecrets(deps: AppDeps): Promise<Array<{ key: string; createdAt: string; modifiedAt: string }>> {
  return deps.store.secrets.list();
}

export async function deleteSecret(deps: AppDeps, key: string): Promise<void> {
  if (!(await deps.store.secrets.delete(key))) throw notFound('secret', key);
}

/** The plain value, for executors only (header `{{secret.KEY}}`, `ctx.secrets.get`). */
export async function readSecret(deps: AppDeps, key: string): Promise<string | null> {
  const sealed = await deps.store.secrets.getSealed(key);
  return sealed === null ? null : deps.secretBox.open(sealed);
}
