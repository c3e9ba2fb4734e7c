import type { Clock } from './ports/clock.ts';
import type { Ids, PasswordHasher, SecretBox } from './ports/crypto.ts';
import type { Logger } from './ports/logger.ts';
import type { ExecutorRunner } from './ports/executor-runner.ts';
import type { Mailer, MailParser } from './ports/mail.ts';
import type { MailAuthenticator } from './ports/mail-auth.ts';
import type { Store } from './ports/store.ts';
import type { PasswordStrength } from './ports/password-strength.ts';
import type { ErpService } from './erp/erp-service.ts';
import type { CharacteristicsModel } from './ports/model.ts';
import type { RecognitionExtractor } from './ports/recognition-extractor.ts';
import type { Telemetry } from './ports/telemetry.ts';

export interface MailSettings {
  /** Inbound messages one sender may deliver to one account per window before SMTP answers 451. */
  maxPerSenderPerWindow: number;
  senderWindowSeconds: number;
  /** Messages one SMTP client address may deliver per window, whatever senders it names (default 200). */
  maxPerClientPerWindow?: number;
  /** Messages one account accepts over SMTP per window from all senders together (default 1000). */
  maxPerAccountPerWindow?: number;
  /** Bytes of stored raw inbound mail past which SMTP answers 452 and IMAP waits (default 50 GiB). */
  storageQuotaBytes?: number;
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
  /** How guessable a new password is (the password policy, app/auth/password-policy.ts). */
  passwordStrength: PasswordStrength;
  logger: Logger;
  auth: AuthSettings;
  mail: {
    parser: MailParser; mailer: Mailer; settings: MailSettings;
    /** SPF/DKIM/DMARC at intake (DESKHOOK_MAIL_AUTH); without it every message counts as unauthenticated. */
    authenticator?: MailAuthenticator | null;
  };
  executors: ExecutorRunner;
  /** The four ERP operations behind the cache (one per process: it holds the in-flight lookups). */
  erp: ErpService;
  /** Customer recognition's optional language model (DESKHOOK_LLM_URL). */
  model?: CharacteristicsModel | null;
  /** Where recognition's rule-based extraction runs; on the calling thread (no budget) when left out. */
  recognition?: RecognitionExtractor;
  /** Event hook delivery; DEFAULT_EVENT_SETTINGS when left out. */
  events?: EventSettings;
  /** The domain's metrics (mail, hooks, IMAP, ERP); nothing is counted when left out. */
  telemetry?: Telemetry;
}
