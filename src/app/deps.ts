import type { Clock } from './ports/clock.ts';
import type { Ids, PasswordHasher, SecretBox } from './ports/crypto.ts';
import type { Logger } from './ports/logger.ts';
import type { Store } from './ports/store.ts';

export interface AuthSettings {
  tokenTtlHours: number;
  loginMaxFailures: number;
  loginWindowSeconds: number;
}

/** Everything a use case may touch, built once in src/main and passed down. */
export interface AppDeps {
  store: Store;
  clock: Clock;
  ids: Ids;
  secretBox: SecretBox;
  hasher: PasswordHasher;
  logger: Logger;
  auth: AuthSettings;
}
