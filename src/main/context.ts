import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino, { type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';
import { Registry } from 'prom-client';
import type { AppDeps } from '../app/deps.ts';
import { systemClock } from '../app/ports/clock.ts';
import { AesGcmSecretBox, generateSecretKey, nodeIds, ScryptHasher } from '../adapters/crypto/node-crypto.ts';
import { ZxcvbnPasswordStrength } from '../adapters/crypto/zxcvbn-strength.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle, type DatabaseTarget } from '../adapters/db/dialect.ts';
import { KyselyStore } from '../adapters/db/kysely-store.ts';
import { createMailParser } from '../adapters/mail-parse/mailparser-adapter.ts';
import { NodemailerMailer } from '../adapters/mail-out/nodemailer-mailer.ts';
import { MailauthVerifier } from '../adapters/mail-auth/mailauth-verifier.ts';
import { EgressPolicy, parseAllowList } from '../adapters/egress/address-policy.ts';
import { EgressClient } from '../adapters/egress/egress-client.ts';
import { DefaultExecutorRunner } from '../adapters/executors/executor-runner.ts';
import { SandboxPool } from '../adapters/sandbox/pool.ts';
import { WorkerRecognitionExtractor } from '../adapters/recognition-worker/extractor.ts';
import type { SandboxApiRequest } from '../adapters/sandbox/types.ts';
import { readSecret } from '../app/secrets.ts';
import { ErpService } from '../app/erp/erp-service.ts';
import { MemoryErpCache } from '../adapters/cache/memory-cache.ts';
import { RedisErpCache } from '../adapters/cache/redis-cache.ts';
import { OpenAiCompatibleModel } from '../adapters/llm/openai-compatible.ts';
import { ConfigError, type Config } from '../config/load-config.ts';
import { registerDomainMetrics, registerProcessMetrics } from './domain-metrics.ts';
import { registerSandboxMetrics } from './sandbox-metrics.ts';

export interface Context {
  config: Config;
  logger: PinoLogger;
  handle: DatabaseHandle;
  deps: AppDeps;
  registry: Registry;
  /** DESKHOOK_EGRESS_ALLOW as a policy: HTTP egress and the accounts' mail servers (SMTP, IMAP). */
  egressPolicy: EgressPolicy;
  /** Set by the API role: how custom code's `ctx.deskhook` reaches this API. */
  apiBridge: { current: ((req: SandboxApiRequest) => Promise<{ status: number; body: unknown }>) | null };
  close(): Promise<void>;
}

export function databaseTarget(config: Config): DatabaseTarget {
  return config.databaseUrl
    ? { kind: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolSize }
    : { kind: 'sqlite', path: join(resolve(config.dataDir), 'deskhook.sqlite'), synchronous: config.sqliteSynchronous };
}

/** Where the embedded setup keeps its generated secret key: beside the database. */
export function secretKeyFile(config: Pick<Config, 'dataDir'>): string {
  return join(resolve(config.dataDir), 'secret.key');
}

/**
 * The key that seals secrets at rest. Embedded, it is generated once into the data directory
 * (readable by the owner only); processes sharing PostgreSQL must all be given the same key.
 */
function resolveSecretKey(config: Config, logger: PinoLogger): { key: string; generatedFile: string | null } {
  if (config.secretKey) return { key: config.secretKey, generatedFile: null };
  if (config.databaseUrl) {
    throw new ConfigError('DESKHOOK_SECRET_KEY', 'is required with DATABASE_URL, and must be the same in every process (generate one with `openssl rand -base64 32`)');
  }
  const dir = resolve(config.dataDir);
  const file = secretKeyFile(config);
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), generatedFile: null };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = generateSecretKey();
  writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  logger.info({ file }, 'generated the secret key; back it up with the database');
  return { key, generatedFile: file };
}

/** Whether logs are written for a person (DESKHOOK_LOG_FORMAT; `auto`: when stdout is a terminal). */
export function prettyLogs(config: Pick<Config, 'logFormat'>, isTTY = Boolean(process.stdout.isTTY)): boolean {
  return config.logFormat === 'pretty' || (config.logFormat === 'auto' && isTTY);
}

export function createLogger(config: Config): PinoLogger {
  const options = {
    level: config.logLevel,
    base: { service: 'deskhook' },
    redact: { paths: ['req.headers.authorization', '*.password', '*.value', '*.token', '*.key'], censor: '[redacted]' },
  };
  if (!prettyLogs(config)) return pino(options);
  // Written synchronously, in order with what the process prints itself (the banner, a first
  // admin's password), and nothing is lost when it exits.
  return pino(options, pretty({
    colorize: Boolean(process.stdout.isTTY), translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', singleLine: true, sync: true,
  }));
}

const KEY_CHECK = 'secret-key-check';

/**
 * The database remembers a value sealed with the secret key; a process started with another key
 * (a restore without secret.key, a typo in DESKHOOK_SECRET_KEY) refuses to start instead of
 * failing later on every sealed password, secret and signing key.
 */
async function checkSecretKey(store: KyselyStore, box: AesGcmSecretBox, config: Config): Promise<void> {
  const fits = await keyFitsDatabase(store, box);
  if (fits === null) {
    await store.settings.put(KEY_CHECK, box.seal('deskhook'), new Date().toISOString());
    return;
  }
  if (!fits) {
    throw new ConfigError(
      config.databaseUrl ? 'DESKHOOK_SECRET_KEY' : 'secret.key',
      'is not the key this database was sealed with; start with the key from the backup (the data directory\'s secret.key, or the DESKHOOK_SECRET_KEY every process shares)',
    );
  }
}

/** Whether `box` opens the value the database was sealed with; null when none was sealed yet. */
export async function keyFitsDatabase(store: KyselyStore, box: AesGcmSecretBox): Promise<boolean | null> {
  const sealed = await store.settings.get<string>(KEY_CHECK);
  if (sealed === null) return null;
  try {
    return box.open(sealed) === 'deskhook';
  } catch {
    return false;
  }
}

/** The composition root: picks the adapters for this configuration and wires the use cases. */
export async function createContext(config: Config, options: { logger?: PinoLogger; migrate?: boolean } = {}): Promise<Context> {
  const logger = options.logger ?? createLogger(config);
  const { key: secretKey, generatedFile } = resolveSecretKey(config, logger);
  const handle = openDatabase(databaseTarget(config));
  try {
    if (options.migrate !== false) {
      const applied = await migrateToLatest(handle);
      if (applied.length) logger.info({ applied }, 'database migrated');
    }
  } catch (err) {
    await handle.close();
    throw err;
  }
  const store = new KyselyStore(handle);
  const secretBox = new AesGcmSecretBox(secretKey);
  try {
    await checkSecretKey(store, secretBox, config);
  } catch (err) {
    await handle.close();
    // A key made just now for a database sealed with another one: leave the directory as found.
    if (generatedFile) rmSync(generatedFile, { force: true });
    throw err;
  }
  let policy: EgressPolicy;
  try {
    policy = new EgressPolicy(parseAllowList(config.egressAllow.join(',')));
  } catch (err) {
    await handle.close();
    throw new ConfigError('DESKHOOK_EGRESS_ALLOW', (err as Error).message);
  }
  const egress = new EgressClient({ policy, userAgent: 'deskhook' });
  const mailer = new NodemailerMailer({ policy, plaintextHosts: config.mailPlaintextHosts });
  const registry = new Registry();
  // The gauges read the pool at scrape time, after it exists.
  const sandboxMetrics = registerSandboxMetrics(registry, () => sandbox.stats());
  const sandbox = new SandboxPool({
    ...(config.sandboxWorkers ? { size: config.sandboxWorkers } : {}),
    maxQueued: config.sandboxQueue,
    onDispatch: sandboxMetrics.queueWait,
  });
  const recognition = new WorkerRecognitionExtractor({ budgetMs: config.recognitionBudgetMs });
  const apiBridge: Context['apiBridge'] = { current: null };
  const erpCache = config.redisUrl ? new RedisErpCache(config.redisUrl, `${config.redisPrefix}erp:`) : new MemoryErpCache();
  registerProcessMetrics(registry);
  // The ERP counts are read at scrape time, once the service exists.
  const telemetry = registerDomainMetrics(registry, () => deps.erp.operationCounts());
  const deps: AppDeps = {
    store,
    clock: systemClock,
    ids: nodeIds,
    secretBox,
    hasher: new ScryptHasher(),
    passwordStrength: new ZxcvbnPasswordStrength(),
    logger,
    auth: { tokenTtlHours: config.tokenTtlHours, loginMaxFailures: config.loginMaxFailures, loginWindowSeconds: config.loginWindowSeconds },
    executors: new DefaultExecutorRunner({
      egress, sandbox,
      secret: (key) => readSecret(deps, key),
      api: (req) => {
        if (!apiBridge.current) throw Object.assign(new Error('ctx.deskhook is only available in processes that serve the API'), { code: 'api_unavailable' });
        return apiBridge.current(req);
      },
    }),
    erp: undefined as unknown as ErpService,
    model: config.llm ? new OpenAiCompatibleModel({ ...config.llm, egress }) : null,
    recognition,
    events: { disableAfterHours: config.eventDisableAfterHours, timeoutMs: config.eventTimeoutMs, cronTimeZone: config.cronTimeZone },
    telemetry,
    mail: {
      parser: createMailParser({ maxAttachmentBytes: config.attachmentMaxBytes }),
      mailer,
      authenticator: config.mailAuth ? new MailauthVerifier() : null,
      settings: {
        maxPerSenderPerWindow: config.mailFloodLimit, senderWindowSeconds: config.mailFloodWindowSeconds,
        maxPerClientPerWindow: config.mailFloodClientLimit, maxPerAccountPerWindow: config.mailFloodAccountLimit, storageQuotaBytes: config.mailStorageQuotaBytes,
        retryDelaysSeconds: config.mailRetryDelaysSeconds, maxAttachmentBytes: config.attachmentMaxBytes,
      },
    },
  };
  deps.erp = new ErpService(deps, erpCache);
  return {
    config, logger, handle, deps, registry, apiBridge, egressPolicy: policy,
    close: async () => {
      mailer.close();
      await sandbox.close();
      await recognition.close();
      await erpCache.close();
      await egress.close();
      await store.close();
    },
  };
}
