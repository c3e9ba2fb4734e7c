import { readFileSync } from 'node:fs';
import { CONFIG_KEYS, type ConfigKey } from './schema.ts';

export type Role = 'all' | 'api' | 'worker' | 'smtp';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly databaseUrl: string | null;
  readonly databasePoolSize: number;
  readonly sqliteSynchronous: 'NORMAL' | 'FULL';
  readonly redisUrl: string | null;
  readonly redisPrefix: string;
  readonly secretKey: string | null;
  readonly adminEmail: string | null;
  readonly adminPassword: string | null;
  readonly role: Role;
  readonly smtpPort: number;
  readonly logLevel: string;
  readonly logFormat: 'auto' | 'json' | 'pretty';
  readonly bodyLimitBytes: number;
  readonly tokenTtlHours: number;
  readonly loginMaxFailures: number;
  readonly loginWindowSeconds: number;
  readonly schedulerIntervalMs: number;
  readonly shutdownTimeoutMs: number;
  readonly egressAllow: readonly string[];
  readonly trustProxy: readonly string[];
  readonly smtpMaxMessageBytes: number;
  readonly smtpTls: { key: string; cert: string } | null;
  readonly smtpAuth: { user: string; password: string } | null;
  readonly mailFloodLimit: number;
  readonly mailFloodWindowSeconds: number;
  readonly mailFloodClientLimit: number;
  readonly mailFloodAccountLimit: number;
  readonly mailStorageQuotaBytes: number;
  readonly mailPlaintextHosts: readonly string[];
  readonly mailAuth: boolean;
  readonly mailRetryDelaysSeconds: readonly number[];
  readonly attachmentMaxBytes: number;
  readonly imapPollSeconds: number;
  readonly eventConcurrency: number;
  readonly eventPollMs: number;
  readonly eventTimeoutMs: number;
  readonly recognitionBudgetMs: number;
  /** null: the sandbox's default (cores, at most 4). */
  readonly sandboxWorkers: number | null;
  readonly sandboxQueue: number;
  readonly metricsToken: string | null;
  readonly eventDisableAfterHours: number;
  readonly eventRetentionDays: number;
  readonly deliveryRetentionDays: number;
  readonly cronTimeZone: string;
  readonly llm: { url: string; model: string; apiKey: string | null } | null;
}

/** A bad configuration value: the message is one line naming the key, safe to print. */
export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`config ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Raw = Record<string, unknown>;

function knownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

function readFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('DESKHOOK_CONFIG', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('DESKHOOK_CONFIG', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('DESKHOOK_CONFIG', `${path} must hold a JSON object of KEY: value`);
  }
  const known = new Set<string>(CONFIG_KEYS.map((k) => k.env));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new ConfigError(key, `unknown key in ${path}`);
  }
  return parsed as Raw;
}

function coerce(key: ConfigKey, value: unknown): string | number | boolean | string[] | null {
  if (value === null || value === undefined || value === '') {
    if (key.type === 'list') return [];
    return key.default === null ? null : coerce(key, key.default);
  }
  const text = String(value).trim();
  const shown = key.secret ? '(hidden)' : JSON.stringify(text);
  switch (key.type) {
    case 'integer': {
      if (!/^-?\d+$/.test(text)) throw new ConfigError(key.env, `expected a whole number, got ${shown}`);
      const n = Number(text);
      if (key.min !== undefined && n < key.min) throw new ConfigError(key.env, `must be at least ${key.min}, got ${n}`);
      if (key.max !== undefined && n > key.max) throw new ConfigError(key.env, `must be at most ${key.max}, got ${n}`);
      return n;
    }
    case 'boolean': {
      if (/^(?:1|true|yes|on)$/i.test(text)) return true;
      if (/^(?:0|false|no|off)$/i.test(text)) return false;
      throw new ConfigError(key.env, `expected true or false, got ${shown}`);
    }
    case 'url': {
      try {
        new URL(text);
      } catch {
        throw new ConfigError(key.env, `not a valid URL: ${shown}`);
      }
      return text;
    }
    case 'list':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'string': {
      if (key.choices && !key.choices.includes(text)) {
        throw new ConfigError(key.env, `must be one of ${key.choices.join(', ')}, got ${shown}`);
      }
      return text;
    }
  }
}

/**
 * Reads the configuration: environment variables over the optional JSON file named by
 * DESKHOOK_CONFIG, over the defaults. Validated once; the result is frozen.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<string, unknown>> = {}): Config {
  const file = env.DESKHOOK_CONFIG ? readFile(env.DESKHOOK_CONFIG) : {};
  const v: Record<string, ReturnType<typeof coerce>> = {};
  for (const key of CONFIG_KEYS) {
    const raw = overrides[key.env] ?? env[key.env] ?? file[key.env];
    v[key.env] = coerce(key, raw);
  }
  const secretKey = v.DESKHOOK_SECRET_KEY as string | null;
  if (secretKey !== null && Buffer.from(secretKey, 'base64').length !== 32) {
    throw new ConfigError('DESKHOOK_SECRET_KEY', 'must be 32 bytes encoded as base64 (generate one with `openssl rand -base64 32`)');
  }
  const tlsKey = v.DESKHOOK_SMTP_TLS_KEY as string | null;
  const tlsCert = v.DESKHOOK_SMTP_TLS_CERT as string | null;
  if ((tlsKey === null) !== (tlsCert === null)) {
    throw new ConfigError(tlsKey === null ? 'DESKHOOK_SMTP_TLS_KEY' : 'DESKHOOK_SMTP_TLS_CERT', 'STARTTLS needs both DESKHOOK_SMTP_TLS_KEY and DESKHOOK_SMTP_TLS_CERT');
  }
  const authUser = v.DESKHOOK_SMTP_AUTH_USER as string | null;
  const authPassword = v.DESKHOOK_SMTP_AUTH_PASSWORD as string | null;
  if ((authUser === null) !== (authPassword === null)) {
    throw new ConfigError(authUser === null ? 'DESKHOOK_SMTP_AUTH_USER' : 'DESKHOOK_SMTP_AUTH_PASSWORD', 'SMTP AUTH needs both a user and a password');
  }
  const delays = (v.DESKHOOK_MAIL_RETRY_DELAYS as string[]).map(Number);
  if (delays.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ConfigError('DESKHOOK_MAIL_RETRY_DELAYS', 'expected comma-separated whole numbers of seconds, e.g. 60,300,900');
  }
  const databaseUrl = v.DATABASE_URL as string | null;
  if (databaseUrl !== null && !/^postgres(?:ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'only postgres:// URLs are supported (leave it unset for the embedded SQLite)');
  }
  const cronTimeZone = v.DESKHOOK_CRON_TIMEZONE as string;
  if (!knownTimeZone(cronTimeZone)) throw new ConfigError('DESKHOOK_CRON_TIMEZONE', `${cronTimeZone} is not a time zone this Node knows (use an IANA name such as Europe/Berlin)`);
  const config: Config = {
    port: v.PORT as number,
    host: v.DESKHOOK_HOST as string,
    dataDir: v.DESKHOOK_DATA_DIR as string,
    databaseUrl,
    databasePoolSize: v.DESKHOOK_DATABASE_POOL_SIZE as number,
    sqliteSynchronous: v.DESKHOOK_SQLITE_SYNCHRONOUS as 'NORMAL' | 'FULL',
    redisUrl: v.REDIS_URL as string | null,
    redisPrefix: v.DESKHOOK_REDIS_PREFIX as string,
    secretKey,
    adminEmail: v.DESKHOOK_ADMIN_EMAIL as string | null,
    adminPassword: v.DESKHOOK_ADMIN_PASSWORD as string | null,
    role: v.DESKHOOK_ROLE as Role,
    smtpPort: v.DESKHOOK_SMTP_PORT as number,
    logLevel: v.DESKHOOK_LOG_LEVEL as string,
    logFormat: v.DESKHOOK_LOG_FORMAT as Config['logFormat'],
    bodyLimitBytes: v.DESKHOOK_BODY_LIMIT_BYTES as number,
    tokenTtlHours: v.DESKHOOK_TOKEN_TTL_HOURS as number,
    loginMaxFailures: v.DESKHOOK_LOGIN_MAX_FAILURES as number,
    loginWindowSeconds: v.DESKHOOK_LOGIN_WINDOW_SECONDS as number,
    schedulerIntervalMs: v.DESKHOOK_SCHEDULER_INTERVAL_MS as number,
    shutdownTimeoutMs: v.DESKHOOK_SHUTDOWN_TIMEOUT_MS as number,
    egressAllow: Object.freeze(v.DESKHOOK_EGRESS_ALLOW as string[]),
    trustProxy: Object.freeze(v.DESKHOOK_TRUST_PROXY as string[]),
    smtpMaxMessageBytes: v.DESKHOOK_SMTP_MAX_MESSAGE_BYTES as number,
    smtpTls: tlsKey && tlsCert ? Object.freeze({ key: tlsKey, cert: tlsCert }) : null,
    smtpAuth: authUser && authPassword ? Object.freeze({ user: authUser, password: authPassword }) : null,
    mailFloodLimit: v.DESKHOOK_MAIL_FLOOD_LIMIT as number,
    mailFloodWindowSeconds: v.DESKHOOK_MAIL_FLOOD_WINDOW_SECONDS as number,
    mailFloodClientLimit: v.DESKHOOK_MAIL_FLOOD_CLIENT_LIMIT as number,
    mailFloodAccountLimit: v.DESKHOOK_MAIL_FLOOD_ACCOUNT_LIMIT as number,
    mailStorageQuotaBytes: (v.DESKHOOK_MAIL_STORAGE_QUOTA_MB as number) * 1_048_576,
    mailPlaintextHosts: Object.freeze((v.DESKHOOK_MAIL_PLAINTEXT_HOSTS as string[]).map((h) => h.toLowerCase())),
    mailAuth: v.DESKHOOK_MAIL_AUTH === 'on',
    mailRetryDelaysSeconds: Object.freeze(delays),
    attachmentMaxBytes: v.DESKHOOK_ATTACHMENT_MAX_BYTES as number,
    imapPollSeconds: v.DESKHOOK_IMAP_POLL_SECONDS as number,
    eventConcurrency: v.DESKHOOK_EVENT_CONCURRENCY as number,
    eventPollMs: v.DESKHOOK_EVENT_POLL_MS as number,
    eventTimeoutMs: v.DESKHOOK_EVENT_TIMEOUT_MS as number,
    recognitionBudgetMs: v.DESKHOOK_RECOGNITION_BUDGET_MS as number,
    sandboxWorkers: v.DESKHOOK_SANDBOX_WORKERS as number | null,
    sandboxQueue: v.DESKHOOK_SANDBOX_QUEUE as number,
    metricsToken: v.DESKHOOK_METRICS_TOKEN as string | null,
    eventDisableAfterHours: v.DESKHOOK_EVENT_DISABLE_AFTER_HOURS as number,
    eventRetentionDays: v.DESKHOOK_EVENT_RETENTION_DAYS as number,
    deliveryRetentionDays: v.DESKHOOK_DELIVERY_RETENTION_DAYS as number,
    cronTimeZone,
    llm: v.DESKHOOK_LLM_URL ? Object.freeze({ url: v.DESKHOOK_LLM_URL as string, model: v.DESKHOOK_LLM_MODEL as string, apiKey: v.DESKHOOK_LLM_API_KEY as string | null }) : null,
  };
  return Object.freeze(config);
}
