import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { refreshStatistics } from '../src/adapters/db/dialect.ts';
import { openTestDatabase, type TestDatabase } from './support/backends.ts';

const AT = '2026-01-01T00:00:00.000Z';

/**
 * The planner's statistics on SQLite cover the ordinary tables only. Statistics of a full-text
 * index's own tables, taken while it was nearly empty (right after the migrations), misled its
 * internal statements: every ERP upsert got slower the more records there were, so an import of
 * 40k records took four times as long as on a database never analysed (`npm run bench -- stall`
 * shows the import's effect on the rest of the process).
 */
describe('refreshing the statistics on SQLite', () => {
  let db: TestDatabase;
  afterEach(async () => { await db.cleanup(); });

  it('analyses the ordinary tables and drops what an earlier analysis kept for the full-text tables', async () => {
    db = await openTestDatabase('sqlite');
    for (let i = 0; i < 50; i++) {
      await db.store.erp.putCustomer({ id: `K-${i}`, business: false, firstname: 'Erika', lastname: `Muster${i}`, company: null, contractIds: [] }, AT);
    }
    // What SQLite's own `ANALYZE` of everything (and earlier versions of deskhook) left behind.
    await sql`ANALYZE`.execute(db.handle.db);
    const before = await statTables(db);
    expect(before).toContain('erp_search_data');

    await refreshStatistics(db.handle);
    const after = await statTables(db);
    expect(after).toContain('erp_customers');
    expect(after.filter((t) => /_(data|idx|content|docsize|config)$/.test(t))).toEqual([]);
    // Search still works on the analysed database.
    expect(await db.store.erp.searchCustomers('muster4', 20, 0)).toEqual(['K-4', 'K-40', 'K-41', 'K-42', 'K-43', 'K-44', 'K-45', 'K-46', 'K-47', 'K-48', 'K-49']);
  });
});

async function statTables(db: TestDatabase): Promise<string[]> {
  const { rows } = await sql<{ tbl: string }>`SELECT DISTINCT tbl FROM sqlite_stat1 ORDER BY tbl`.execute(db.handle.db);
  return rows.map((r) => r.tbl);
}
