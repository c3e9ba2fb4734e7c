import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrateToLatest, openDatabase, type DatabaseHandle, type DialectKind } from '../../src/adapters/db/dialect.ts';
import { KyselyStore } from '../../src/adapters/db/kysely-store.ts';

/**
 * The backends every storage-dependent test runs on: SQLite always, PostgreSQL too when
 * DATABASE_URL is set. `DESKHOOK_TEST_BACKENDS=postgres` runs only PostgreSQL, which `.ci/run`
 * uses for its second pass (the first pass has run SQLite already).
 */
export const BACKENDS: DialectKind[] = (() => {
  if (!process.env.DATABASE_URL) return ['sqlite'];
  const only = (process.env.DESKHOOK_TEST_BACKENDS ?? '').split(',').map((b) => b.trim()).filter((b): b is DialectKind => b === 'sqlite' || b === 'postgres');
  return only.length > 0 ? only : ['sqlite', 'postgres'];
})();

export interface TestDatabase {
  kind: DialectKind;
  handle: DatabaseHandle;
  store: KyselyStore;
  /** Opens another handle on the same database, as a second process would. */
  reopen(): Promise<{ handle: DatabaseHandle; store: KyselyStore }>;
  cleanup(): Promise<void>;
}

/** A fresh, migrated database: a temporary SQLite file, or a new schema in the PostgreSQL database. */
export async function openTestDatabase(kind: DialectKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'deskhook-test-'));
    const path = join(dir, 'test.sqlite');
    const handle = openDatabase({ kind: 'sqlite', path });
    await migrateToLatest(handle);
    const extra: DatabaseHandle[] = [];
    return {
      kind, handle, store: new KyselyStore(handle),
      reopen: async () => {
        const h = openDatabase({ kind: 'sqlite', path });
        extra.push(h);
        return { handle: h, store: new KyselyStore(h) };
      },
      cleanup: async () => {
        await Promise.all([handle, ...extra].map((h) => h.close().catch(() => undefined)));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = process.env.DATABASE_URL!;
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const handle = openDatabase({ kind: 'postgres', url, schema, poolSize: 5 });
  await migrateToLatest(handle);
  const extra: DatabaseHandle[] = [];
  return {
    kind, handle, store: new KyselyStore(handle),
    reopen: async () => {
      const h = openDatabase({ kind: 'postgres', url, schema, poolSize: 5 });
      extra.push(h);
      return { handle: h, store: new KyselyStore(h) };
    },
    // The schema itself is dropped after the whole run (test/support/global-setup.ts).
    cleanup: async () => {
      await Promise.all([handle, ...extra].map((h) => h.close().catch(() => undefined)));
    },
  };
}
