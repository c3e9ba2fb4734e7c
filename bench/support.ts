import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ErpService } from '../src/app/erp/erp-service.ts';
import { MemoryErpCache } from '../src/adapters/cache/memory-cache.ts';
import type { AppDeps } from '../src/app/deps.ts';
import { systemClock } from '../src/app/ports/clock.ts';
import { AesGcmSecretBox, generateSecretKey, nodeIds, ScryptHasher } from '../src/adapters/crypto/node-crypto.ts';
import { ZxcvbnPasswordStrength } from '../src/adapters/crypto/zxcvbn-strength.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../src/adapters/db/dialect.ts';
import { KyselyStore } from '../src/adapters/db/kysely-store.ts';
import { createMailParser } from '../src/adapters/mail-parse/mailparser-adapter.ts';
import { NodemailerMailer } from '../src/adapters/mail-out/nodemailer-mailer.ts';
import { EgressPolicy } from '../src/adapters/egress/address-policy.ts';
import { EgressClient } from '../src/adapters/egress/egress-client.ts';
import { DefaultExecutorRunner } from '../src/adapters/executors/executor-runner.ts';
import { SandboxPool } from '../src/adapters/sandbox/pool.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };

/** The PostgreSQL the benchmarks that need one use: DATABASE_URL, or a local default. */
export const BENCH_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema in the bench PostgreSQL; `drop()` removes it with everything in it. */
export async function throwawaySchema(prefix = 'bench'): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`create schema ${name}`);
  return { name, drop: () => run(`drop schema if exists ${name} cascade`) };
}

export interface BenchDepsOptions {
  /** `sqlite` (default): a temporary embedded database; `postgres`: a throwaway schema in BENCH_DATABASE_URL. */
  kind?: 'sqlite' | 'postgres';
  /** PostgreSQL connections (deskhook's default, DESKHOOK_DATABASE_POOL_SIZE, is 10). */
  poolSize?: number;
}

/** The product's use cases on a fresh database, as `npm start` wires them. */
export async function benchDeps(options: BenchDepsOptions = {}): Promise<{ deps: AppDeps; handle: DatabaseHandle; close(): Promise<void> }> {
  let handle: DatabaseHandle;
  let removeDatabase: () => Promise<void>;
  if (options.kind === 'postgres') {
    const schema = await throwawaySchema();
    handle = openDatabase({ kind: 'postgres', url: BENCH_DATABASE_URL, schema: schema.name, poolSize: options.poolSize ?? 10 });
    removeDatabase = schema.drop;
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'deskhook-bench-'));
    handle = openDatabase({ kind: 'sqlite', path: join(dir, 'bench.sqlite') });
    removeDatabase = async () => rmSync(dir, { recursive: true, force: true });
  }
  await migrateToLatest(handle);
  const mailer = new NodemailerMailer({ policy: new EgressPolicy(['127.0.0.1/32']), plaintextHosts: ['127.0.0.1'] });
  const egress = new EgressClient({ policy: new EgressPolicy(['127.0.0.1/32']) });
  const sandbox = new SandboxPool();
  const deps: AppDeps = {
    store: new KyselyStore(handle), clock: systemClock, ids: nodeIds, secretBox: new AesGcmSecretBox(generateSecretKey()),
    hasher: new ScryptHasher(), passwordStrength: new ZxcvbnPasswordStrength(), logger: silent, auth: { tokenTtlHours: 1, loginMaxFailures: 10, loginWindowSeconds: 60 },
    executors: new DefaultExecutorRunner({ egress, sandbox, secret: async () => null }),
    erp: undefined as unknown as ErpService,
    mail: {
      parser: createMailParser(), mailer,
      settings: { maxPerSenderPerWindow: 1e9, maxPerClientPerWindow: 1e9, maxPerAccountPerWindow: 1e9, senderWindowSeconds: 60, retryDelaysSeconds: [60], maxAttachmentBytes: 1 << 20 },
    },
  };  deps.erp = new ErpService(deps, new MemoryErpCache());

  return {
    deps, handle,
    close: async () => {
      mailer.close();
      await sandbox.close();
      await egress.close();
      await handle.close();
      await removeDatabase();
    },
  };
}
