import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino, { type Logger as PinoLogger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { AppDeps } from '../app/deps.ts';
import { systemClock } from '../app/ports/clock.ts';
import { AesGcmSecretBox, generateSecretKey, nodeIds, ScryptHasher } from '../adapters/crypto/node-crypto.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle, type DatabaseTarget } from '../adapters/db/dialect.ts';
import { KyselyStore } from '../adapters/db/kysely-store.ts';
import { createMailParser } from '../adapters/mail-parse/mailparser-adapter.ts';
import { NodemailerMailer } from '../adapters/mail-out/nodemailer-mailer.ts';
import { EgressPolicy, parseAllowList } from '../adapters/egress/address-policy.ts';
import { EgressClient } from '../adapters/egress/egress-client.ts';
import { DefaultExecutorRunner } from '../adapters/executors/executor-runner.ts';
import { SandboxPool } from '../adapters/sandbox/pool.ts';
import type { SandboxApiRequest } from '../adapters/sandbox/types.ts';
import { readSecret } from '../app/secrets.ts';
import { ErpService } from '../app/erp/erp-service.ts';
import { MemoryErpCache } from '../adapters/cache/memory-cache.ts';
import { RedisErpCache } from '../adapters/cache/redis-cache.ts';
import { OpenAiCompatibleModel } from '../adapters/llm/openai-compatible.ts';
import { ConfigError, type Config } from '../config/load-config.ts';

export interface Context {
  config: Config;
  logger: PinoLogger;
  handle: DatabaseHandle;
  deps: AppDeps;
  registry: Registry;
  /** Set by the API role: how custom code's `ctx.deskhook` reaches this API. */
  apiBridge: { current: ((req: SandboxApiRequest) => Promise<{ status: number; body: unknown }>) | null };
  close(): Promise<void>;
}

export function databaseTarget(config: Config): DatabaseTarget {
  return config.databaseUrl
    ? { kind: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolSize }
    : { kind: 'sqlite', path: join(resolve(config.dataDir), 'deskhook.sqlite'), synchronous: config.sqliteSynchronous };
}

/**
 * The key that seals secrets at rest. Embedded, it is generated once into the data directory
 * (readable by the owner only); processes sharing PostgreSQL must all be given the same key.
 */
function resolveSecretKey(config: Config, logger: PinoLogger): string {
  if (config.secretKey) return config.secretKey;
  if (config.databaseUrl) {
    throw new ConfigError('DESKHOOK_SECRET_KEY', 'is required with DATABASE_URL, and must be the same in every process (generate one with `openssl rand -base64 32`)');
  }
  const dir = resolve(config.dataDir);
  const file = join(dir, 'secret.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dir, { recursive: true });
  const key = generateSecretKey();
  writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  logger.info({ file }, 'generated the secret key; back it up with the database');
  return key;
}

export function createLogger(config: Config): PinoLogger {
  return pino({
    level: config.logLevel,
    base: { service: 'deskhook' },
    redact: { paths: ['req.headers.authorization', '*.password', '*.value', '*.token', '*.key'], censor: '[redacted]' },
  });
}

/** The composition root: picks the adapters for this configuration and wires the use cases. */
export async function createContext(config: Config, options: { logger?: PinoLogger; migrate?: boolean } = {}): Promise<Context> {
  const logger = options.logger ?? createLogger(config);
  const secretKey = resolveSecretKey(config, logger);
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
  const mailer = new NodemailerMailer();
  let policy: EgressPolicy;
  try {
    policy = new EgressPolicy(parseAllowList(config.egressAllow.join(',')));
  } catch (err) {
    await handle.close();
    throw new ConfigError('DESKHOOK_EGRESS_ALLOW', (err as Error).message);
  }
  const egress = new EgressClient({ policy, userAgent: 'deskhook' });
  const sandbox = new SandboxPool();
  const apiBridge: Context['apiBridge'] = { current: null };
  const erpCache = config.redisUrl ? new RedisErpCache(config.redisUrl, `${config.redisPrefix}erp:`) : new MemoryErpCache();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'deskhook_' });
  const deps: AppDeps = {
    store,
    clock: systemClock,
    ids: nodeIds,
    secretBox: new AesGcmSecretBox(secretKey),
    hasher: new ScryptHasher(),
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
    events: { disableAfterHours: config.eventDisableAfterHours, timeoutMs: config.eventTimeoutMs, cronTimeZone: config.cronTimeZone },
    mail: {
      parser: createMailParser({ maxAttachmentBytes: config.attachmentMaxBytes }),
      mailer,
      settings: {
        maxPerSenderPerWindow: config.mailFloodLimit, senderWindowSeconds: config.mailFloodWindowSeconds,
        retryDelaysSeconds: config.mailRetryDelaysSeconds, maxAttachmentBytes: config.attachmentMaxBytes,
      },
    },
  };
  deps.erp = new ErpService(deps, erpCache);
  return {
    config, logger, handle, deps, registry, apiBridge,
    close: async () => {
      mailer.close();
      await sandbox.close();
      await erpCache.close();
      await egress.close();
      await store.close();
    },
  };
}
