/**
 * Every configuration key deskhook reads, with its default and the reason it exists.
 * docs/config.md is generated from this list (`npm run docs:config`) and a test keeps it in step.
 */
export type ConfigType = 'string' | 'integer' | 'boolean' | 'url' | 'list';

export interface ConfigKey {
  /** Environment variable name; also the key in the optional JSON config file. */
  readonly env: string;
  readonly type: ConfigType;
  readonly default: string | number | boolean | null;
  readonly doc: string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** Never printed, logged or echoed back in errors. */
  readonly secret?: boolean;
}

export const CONFIG_KEYS = [
  { env: 'PORT', type: 'integer', default: 3000, min: 0, max: 65535, doc: 'HTTP port of the API, the web UI and the health endpoints (every role listens on it).' },
  { env: 'DESKHOOK_HOST', type: 'string', default: '127.0.0.1', doc: 'Address the HTTP and SMTP servers bind to. The default keeps a fresh install off the network; set `0.0.0.0` behind a proxy or in a container.' },
  { env: 'DESKHOOK_DATA_DIR', type: 'string', default: './data', doc: 'Directory for the embedded SQLite database and the generated secret key.' },
  { env: 'DATABASE_URL', type: 'url', default: null, secret: true, doc: '`postgres://user:pass@host:5432/db` to use PostgreSQL instead of the embedded SQLite. Required for more than one process.' },
  { env: 'DESKHOOK_SQLITE_SYNCHRONOUS', type: 'string', default: 'NORMAL', choices: ['NORMAL', 'FULL'], doc: 'SQLite durability. NORMAL (WAL): every commit survives a crash or kill of the process. FULL: also survives a power loss of the machine, at an fsync per commit.' },
  { env: 'DESKHOOK_DATABASE_POOL_SIZE', type: 'integer', default: 10, min: 1, max: 200, doc: 'PostgreSQL connections per process.' },
  { env: 'REDIS_URL', type: 'url', default: null, secret: true, doc: '`redis://host:6379` for the shared ERP cache and invalidation fan-out between processes. Optional.' },
  { env: 'DESKHOOK_REDIS_PREFIX', type: 'string', default: 'deskhook:', doc: 'Prefix of every Redis key deskhook writes; give each installation sharing one Redis its own (e.g. `staging:`).' },
  { env: 'DESKHOOK_SECRET_KEY', type: 'string', default: null, secret: true, doc: '32 bytes, base64: encrypts secrets at rest. Embedded: generated into the data directory on first start. With PostgreSQL it is required and must be the same in every process.' },
  { env: 'DESKHOOK_ADMIN_EMAIL', type: 'string', default: null, doc: 'E-mail of the admin created on first start (when no user exists yet).' },
  { env: 'DESKHOOK_ADMIN_PASSWORD', type: 'string', default: null, secret: true, doc: 'Password of that admin. When unset a random one is generated and printed once.' },
  { env: 'DESKHOOK_ROLE', type: 'string', default: 'all', choices: ['all', 'api', 'worker', 'smtp'], doc: 'What this process does; `--role` on the command line wins.' },
  { env: 'DESKHOOK_SMTP_PORT', type: 'integer', default: 2525, min: 0, max: 65535, doc: 'Port of the inbound SMTP server (roles `smtp` and `all`).' },
  { env: 'DESKHOOK_SMTP_MAX_MESSAGE_BYTES', type: 'integer', default: 26_214_400, min: 1024, max: 209_715_200, doc: 'Largest inbound message; larger ones are refused with 552 (announced in EHLO as SIZE).' },
  { env: 'DESKHOOK_SMTP_TLS_KEY', type: 'string', default: null, doc: 'Path of a PEM private key: enables STARTTLS on the inbound SMTP server (with DESKHOOK_SMTP_TLS_CERT).' },
  { env: 'DESKHOOK_SMTP_TLS_CERT', type: 'string', default: null, doc: 'Path of the PEM certificate chain for STARTTLS.' },
  { env: 'DESKHOOK_SMTP_AUTH_USER', type: 'string', default: null, doc: 'When set, inbound SMTP requires AUTH PLAIN/LOGIN with this user (for a relay that forwards to deskhook).' },
  { env: 'DESKHOOK_SMTP_AUTH_PASSWORD', type: 'string', default: null, secret: true, doc: 'Password for DESKHOOK_SMTP_AUTH_USER.' },
  { env: 'DESKHOOK_MAIL_FLOOD_LIMIT', type: 'integer', default: 30, min: 1, max: 100_000, doc: 'Messages one sender may deliver to one email account within DESKHOOK_MAIL_FLOOD_WINDOW_SECONDS; more get 451 (try later).' },
  { env: 'DESKHOOK_MAIL_FLOOD_WINDOW_SECONDS', type: 'integer', default: 600, min: 1, max: 86_400, doc: 'Window of the flood limits (sender, client address, account).' },
  { env: 'DESKHOOK_MAIL_FLOOD_CLIENT_LIMIT', type: 'integer', default: 200, min: 1, max: 1_000_000, doc: 'Messages one SMTP client address may deliver within DESKHOOK_MAIL_FLOOD_WINDOW_SECONDS, whatever senders it names; more get 451.' },
  { env: 'DESKHOOK_MAIL_FLOOD_ACCOUNT_LIMIT', type: 'integer', default: 1000, min: 1, max: 1_000_000, doc: 'Messages one email account accepts over SMTP within DESKHOOK_MAIL_FLOOD_WINDOW_SECONDS from all senders together; more get 451.' },
  { env: 'DESKHOOK_MAIL_STORAGE_QUOTA_MB', type: 'integer', default: 51_200, min: 1, max: 100_000_000, doc: 'Stored inbound mail (raw messages) in MiB; past it SMTP answers 452, IMAP leaves mail in the mailbox, and admins are notified once.' },
  { env: 'DESKHOOK_MAIL_PLAINTEXT_HOSTS', type: 'list', default: '', doc: 'Mail servers (host names or IPs as configured on the account) to which outbound SMTP may send a user and password without TLS. Empty: credentials need implicit TLS or STARTTLS.' },
  { env: 'DESKHOOK_MAIL_AUTH', type: 'string', default: 'on', choices: ['on', 'off'], doc: 'Verify SPF, DKIM and DMARC of inbound mail (needs DNS); `off` treats every message as unauthenticated.' },
  { env: 'DESKHOOK_MAIL_RETRY_DELAYS', type: 'list', default: '60,300,900,3600,14400', doc: 'Seconds before each retry of an outbound email after a temporary failure; after the last one it fails.' },
  { env: 'DESKHOOK_ATTACHMENT_MAX_BYTES', type: 'integer', default: 10_485_760, min: 0, max: 209_715_200, doc: 'Attachments larger than this are listed on the message but not stored.' },
  { env: 'DESKHOOK_IMAP_POLL_SECONDS', type: 'integer', default: 60, min: 1, max: 86_400, doc: 'How often IMAP accounts are polled when the server offers no IDLE (and a safety poll with IDLE).' },
  { env: 'DESKHOOK_LOG_LEVEL', type: 'string', default: 'info', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'pino log level.' },
  { env: 'DESKHOOK_LOG_FORMAT', type: 'string', default: 'auto', choices: ['auto', 'json', 'pretty'], doc: 'How logs look on stdout: `json` lines (for a log collector), `pretty` lines for a person (time, level, message, fields) with a start banner, or `auto`: pretty when stdout is a terminal, JSON otherwise (systemd, Docker, a pipe).' },
  { env: 'DESKHOOK_BODY_LIMIT_BYTES', type: 'integer', default: 1_048_576, min: 1024, max: 104_857_600, doc: 'Largest accepted JSON request body; larger bodies get 413 `payload_too_large`.' },
  { env: 'DESKHOOK_TOKEN_TTL_HOURS', type: 'integer', default: 12, min: 1, max: 8760, doc: 'Lifetime of a login token.' },
  { env: 'DESKHOOK_LOGIN_MAX_FAILURES', type: 'integer', default: 10, min: 1, max: 10_000, doc: 'Login attempts per e-mail address and per client address within one window that are checked; later ones get 429 with Retry-After (successful logins do not count).' },
  { env: 'DESKHOOK_LOGIN_WINDOW_SECONDS', type: 'integer', default: 900, min: 1, max: 86_400, doc: 'Length of the login-attempt window; it starts with the first attempt, so a burst locks an account for at most this long.' },
  { env: 'DESKHOOK_SCHEDULER_INTERVAL_MS', type: 'integer', default: 5000, min: 50, max: 3_600_000, doc: 'How often a worker looks for due work (pending tickets whose `dueBy` has passed).' },
  { env: 'DESKHOOK_SHUTDOWN_TIMEOUT_MS', type: 'integer', default: 15_000, min: 100, max: 600_000, doc: 'How long SIGTERM waits for in-flight requests and jobs before closing anyway.' },
  { env: 'DESKHOOK_EVENT_CONCURRENCY', type: 'integer', default: 16, min: 1, max: 512, doc: 'Event hook deliveries one worker process runs at once.' },
  { env: 'DESKHOOK_EVENT_POLL_MS', type: 'integer', default: 250, min: 10, max: 60_000, doc: 'How often an idle worker looks for due event deliveries.' },
  { env: 'DESKHOOK_EVENT_TIMEOUT_MS', type: 'integer', default: 15_000, min: 100, max: 120_000, doc: 'Deadline of one delivery attempt to an event hook; a delivery is leased for this plus 30 s, after which another worker may take it.' },
  { env: 'DESKHOOK_EVENT_DISABLE_AFTER_HOURS', type: 'integer', default: 120, min: 1, max: 8760, doc: 'An event hook whose every attempt has failed for this long is disabled and its owner notified (default 5 days).' },
  { env: 'DESKHOOK_EVENT_RETENTION_DAYS', type: 'integer', default: 30, min: 1, max: 3650, doc: 'Events older than this are deleted (unless a delivery of theirs is still queued); the pull feed and replays reach back this far.' },
  { env: 'DESKHOOK_DELIVERY_RETENTION_DAYS', type: 'integer', default: 30, min: 1, max: 3650, doc: 'Finished event deliveries and their attempts are deleted this long after they finished.' },
  { env: 'DESKHOOK_SANDBOX_WORKERS', type: 'integer', default: null, min: 1, max: 64, doc: 'Worker threads that run custom code (QuickJS), one run each at a time. Unset: the number of cores, at most 4. With two or more, one is kept for runs someone is waiting for (synchronous webhooks, ERP lookups); test runs and event hooks share the rest.' },
  { env: 'DESKHOOK_SANDBOX_QUEUE', type: 'integer', default: 64, min: 0, max: 100_000, doc: 'Custom-code runs that may wait for a sandbox worker, per lane (interactive, background); one more fails at once with `sandbox_busy`, which a webhook\'s failure policy handles and an event hook retries. A run\'s time limit includes its wait.' },
  { env: 'DESKHOOK_CRON_TIMEZONE', type: 'string', default: 'UTC', doc: 'IANA time zone of the CronMinute/CronHour/CronDay/CronWeek schedules, e.g. `Europe/Berlin`.' },
  { env: 'DESKHOOK_RECOGNITION_BUDGET_MS', type: 'integer', default: 2_000, min: 50, max: 60_000, doc: 'Time budget of customer recognition\'s rule-based extraction for one email. It runs in a worker thread; one that overruns is stopped and the ticket is kept without a recognised customer ("recognition timed out" in its activity).' },
  { env: 'DESKHOOK_LLM_URL', type: 'url', default: null, doc: 'Base URL of an OpenAI-compatible API (`…/v1`) for customer recognition by a language model; used when the recognition settings enable it. Reached through the egress guard.' },
  { env: 'DESKHOOK_LLM_MODEL', type: 'string', default: 'gpt-4o-mini', doc: 'Model name sent to DESKHOOK_LLM_URL.' },
  { env: 'DESKHOOK_LLM_API_KEY', type: 'string', default: null, secret: true, doc: 'Bearer token for DESKHOOK_LLM_URL, if it needs one.' },
  { env: 'DESKHOOK_TRUST_PROXY', type: 'list', default: '', doc: 'Addresses or CIDRs of reverse proxies whose `X-Forwarded-For` is believed (e.g. `127.0.0.1`), so logs and the per-address login limit see the real client. Empty: the connecting address counts.' },
  { env: 'DESKHOOK_METRICS_TOKEN', type: 'string', default: null, secret: true, doc: 'When set, GET /metrics answers only requests with `Authorization: Bearer <this token>` (401 otherwise); for Prometheus, `authorization: { credentials: … }` in the scrape config. Unset: /metrics is open, as /healthz.' },
  { env: 'DESKHOOK_EGRESS_ALLOW', type: 'list', default: '', doc: 'Comma-separated CIDRs or host names that outbound HTTP (webhooks, event hooks, custom code) and the mail servers of email accounts (SMTP, IMAP) may reach although they are loopback, private or link-local. Empty: only public addresses.' },
] as const satisfies readonly ConfigKey[];

export type ConfigEnvName = (typeof CONFIG_KEYS)[number]['env'];
