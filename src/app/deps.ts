import type { Clock } from './ports/clock.ts';
import type { Ids, PasswordHasher, SecretBox } from './ports/crypto.ts';
import type { Logger } from './ports/logger.ts';
import type { ExecutorRunner } from './ports/executor-runner.ts';
import type { Mailer, MailParser } from './ports/mail.ts';
import type { Store } from './ports/store.ts';

export interface MailSettings {
  /** Inbound messages one sender may deliver to one account per window before SMTP answers 451. */
  maxPerSenderPerWindow: number;
  senderWindowSeconds: number;
  /** Delays before each retry of an outbound email after a temporary failure. */
  retryDelaysSeconds: readonly number[];
  /** Attachments larger than this are listed but not kept. */
  maxAttachmentBytes: number;
}

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
  mail: { parser: MailParser; mailer: Mailer; settings: MailSettings };
  executors: ExecutorRunner;
}
