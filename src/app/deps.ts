import type { Clock } from './ports/clock.ts';
import type { Ids, PasswordHasher, SecretBox } from './ports/crypto.ts';
import type { Logger } from './ports/logger.ts';
import type { ExecutorRunner } from './ports/executor-runner.ts';
import type { Mailer, MailParser } from './ports/mail.ts';
import type { Store } from './ports/store.ts';
import type { ErpService } from './erp/erp-service.ts';
import type { CharacteristicsModel } from './ports/model.ts';

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

export interface EventSettings {
  /** A hook whose every attempt has failed for this long is disabled and its owner told. */
  disableAfterHours: number;
  /** Deadline of one delivery attempt. */
  timeoutMs: number;
  /** Time zone of the Cron* schedules (IANA name). */
  cronTimeZone: string;
}

export const DEFAULT_EVENT_SETTINGS: EventSettings = Object.freeze({ disableAfterHours: 120, timeoutMs: 15_000, cronTimeZone: 'UTC' });

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
  /** The four ERP operations behind the cache (one per process: it holds the in-flight lookups). */
  erp: ErpService;
  /** Customer recognition's optional language model (DESKHOOK_LLM_URL). */
  model?: CharacteristicsModel | null;
  /** Event hook delivery; DEFAULT_EVENT_SETTINGS when left out. */
  events?: EventSettings;
}
