import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * SQLite's FTS5 table cannot index its `kind` and `record_id` columns, so replacing one record's
 * search text had to scan the whole table: every ERP upsert cost O(N), and importing thousands of
 * records held the single writer for minutes. An ordinary table now maps (kind, record_id) to the
 * FTS row id through its primary key, so an upsert finds the row to replace in O(log N).
 * PostgreSQL's erp_search has that primary key already.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  if (kind !== 'sqlite') return;
  await sql`CREATE TABLE erp_search_keys (kind text NOT NULL, record_id text NOT NULL, PRIMARY KEY (kind, record_id))`.execute(db);
  await sql`INSERT INTO erp_search_keys (rowid, kind, record_id) SELECT rowid, kind, record_id FROM erp_search`.execute(db);
}
