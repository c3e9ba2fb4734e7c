import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppDeps } from '../src/app/deps.ts';
import { systemClock } from '../src/app/ports/clock.ts';
import { AesGcmSecretBox, generateSecretKey, nodeIds, ScryptHasher } from '../src/adapters/crypto/node-crypto.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../src/adapters/db/dialect.ts';
import { KyselyStore } from '../src/adapters/db/kysely-store.ts';
import { createMailParser } from '../src/adapters/mail-parse/mailparser-adapter.ts';
import { NodemailerMailer } from '../src/adapters/mail-out/nodemailer-mailer.ts';
import { EgressPolicy } from '../src/adapters/egress/address-policy.ts';
import { EgressClient } from '../src/adapters/egress/egress-client.ts';
import { DefaultExecutorRunner } from '../src/adapters/executors/executor-runner.ts';
import { SandboxPool } from '../src/adapters/sandbox/pool.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };

/** The product's use cases on a fresh embedded database, as `npm start` wires them. */
export async function benchDeps(): Promise<{ deps: AppDeps; handle: DatabaseHandle; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'deskhook-bench-'));
  const handle = openDatabase({ kind: 'sqlite', path: join(dir, 'bench.sqlite') });
  await migrateToLatest(handle);
  const mailer = new NodemailerMailer();
  const egress = new EgressClient({ policy: new EgressPolicy(['127.0.0.1/32']) });
  const sandbox = new SandboxPool();
  const deps: AppDeps = {
    store: new KyselyStore(handle), clock: systemClock, ids: nodeIds, secretBox: new AesGcmSecretBox(generateSecretKey()),
    hasher: new ScryptHasher(), logger: silent, auth: { tokenTtlHours: 1, loginMaxFailures: 10, loginWindowSeconds: 60 },
    executors: new DefaultExecutorRunner({ egress, sandbox, secret: async () => null }),
    mail: {
      parser: createMailParser(), mailer,
      settings: { maxPerSenderPerWindow: 1e9, senderWindowSeconds: 60, retryDelaysSeconds: [60], maxAttachmentBytes: 1 << 20 },
    },
  };
  return {
    deps, handle,
    close: async () => {
      mailer.close();
      await sandbox.close();
      await egress.close();
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
