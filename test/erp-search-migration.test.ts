import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateTo, migrateToLatest, openDatabase, type DatabaseHandle } from '../src/adapters/db/dialect.ts';
import { KyselyStore } from '../src/adapters/db/kysely-store.ts';

const AT = '2026-01-01T00:00:00.000Z';

/**
 * Upgrading an embedded database rebuilds the ERP search index with prefix indexes (migration
 * 0020). What the agent notices: every customer stays findable by the start of a name, and a
 * customer updated after the upgrade is found by the new name only, once (the rebuilt index kept
 * its row ids, so the update replaced the right row).
 */
describe('upgrading the ERP search index on SQLite', () => {
  let dir: string;
  let handle: DatabaseHandle;
  afterEach(async () => {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every customer findable by prefix, and an update after it replaces the old entry', async () => {
    dir = mkdtempSync(join(tmpdir(), 'deskhook-migration-'));
    handle = openDatabase({ kind: 'sqlite', path: join(dir, 'old.sqlite') });
    await migrateTo(handle, '0019-shadow-runs');
    const store = new KyselyStore(handle);
    for (let i = 0; i < 300; i++) {
      await store.erp.putCustomer({ id: `K-${i}`, business: false, firstname: 'Erika', lastname: i % 3 ? `Schmidt${i}` : `Müller${i}`, company: null, contractIds: [`V-${i}`] }, AT);
    }

    expect(await migrateToLatest(handle)).toContain('0020-erp-search-prefixes');
    const table = await sql<{ sql: string }>`SELECT sql FROM sqlite_master WHERE name = 'erp_search'`.execute(handle.db);
    expect(table.rows[0]!.sql).toMatch(/prefix\s*=\s*'2 3 4 5 6'/);

    expect((await store.erp.searchCustomers('Mülle', 200, 0)).length).toBe(100);
    expect((await store.erp.searchCustomers('mueller15', 10, 0))).toEqual(['K-15', 'K-150', 'K-153', 'K-156', 'K-159']);
    expect((await store.erp.searchCustomers('Schm', 200, 0)).length).toBe(200);

    await store.erp.putCustomer({ id: 'K-150', business: false, firstname: 'Erika', lastname: 'Weber', company: null, contractIds: ['V-150'] }, AT);
    expect(await store.erp.searchCustomers('weber', 10, 0)).toEqual(['K-150']);
    expect(await store.erp.searchCustomers('müller150', 10, 0)).toEqual([]);
    // Every other customer keeps exactly one entry.
    const entries = await sql<{ n: number }>`SELECT count(*) AS n FROM erp_search WHERE kind = 'customer'`.execute(handle.db);
    expect(entries.rows[0]!.n).toBe(300);
  });
});
