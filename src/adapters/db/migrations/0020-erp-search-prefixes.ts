import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * The agent's customer search takes every word as a prefix ("Mülle" finds "Müller"). Without a
 * prefix index FTS5 answers a prefix by merging the entries of every word that starts with it, so
 * its cost grew with the number of matching records (a five-letter prefix over 100k customers:
 * about 3 ms instead of 0.2 ms at 1k). Prefix indexes for two to six characters let it read one
 * list and stop after the first matches. The table is rebuilt with its row ids kept, so
 * erp_search_keys stays valid. PostgreSQL's GIN index on the tsvector needs no change.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  if (kind !== 'sqlite') return;
  await sql`CREATE VIRTUAL TABLE erp_search_new USING fts5(kind UNINDEXED, record_id UNINDEXED, text, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6')`.execute(db);
  await sql`INSERT INTO erp_search_new (rowid, kind, record_id, text) SELECT rowid, kind, record_id, text FROM erp_search`.execute(db);
  await sql`DROP TABLE erp_search`.execute(db);
  await sql`ALTER TABLE erp_search_new RENAME TO erp_search`.execute(db);
}
