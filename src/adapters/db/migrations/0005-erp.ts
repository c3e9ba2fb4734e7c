import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * Settings documents and the local ERP: contracts and customers imported through the API,
 * with a full-text index over their values (SQLite FTS5, PostgreSQL tsvector).
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = kind === 'postgres' ? sql`jsonb` : sql`text`;
  // Settings pages (ERP, recognition): one JSON document per key.
  await db.schema.createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', json, (c) => c.notNull())
    .addColumn('modified_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createTable('erp_contracts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('data', json, (c) => c.notNull())
    .addColumn('modified_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('erp_contracts_customer').on('erp_contracts').column('customer_id').execute();
  await db.schema.createIndex('erp_contracts_email').on('erp_contracts').column('email').execute();
  await db.schema.createTable('erp_customers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text')
    .addColumn('data', json, (c) => c.notNull())
    .addColumn('modified_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('erp_customers_email').on('erp_customers').column('email').execute();
  if (kind === 'postgres') {
    await sql`CREATE TABLE erp_search (
      kind text NOT NULL, record_id text NOT NULL, text text NOT NULL,
      tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
      PRIMARY KEY (kind, record_id))`.execute(db);
    await sql`CREATE INDEX erp_search_tsv ON erp_search USING gin (tsv)`.execute(db);
  } else {
    await sql`CREATE VIRTUAL TABLE erp_search USING fts5(kind UNINDEXED, record_id UNINDEXED, text, tokenize = 'unicode61 remove_diacritics 2')`.execute(db);
  }
}
