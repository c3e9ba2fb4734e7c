import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';
import { searchDocument, searchSource } from '../search-text.ts';

/**
 * A full-text index over each ticket's subject, plain body and sender, replacing a `lower(col)
 * LIKE '%x%'` scan of four columns (over 100 ms at 100k tickets). SQLite: an FTS5 table whose row
 * id is the ticket id; PostgreSQL: a tsvector with a GIN index. Existing tickets are indexed here,
 * in chunks. An index on (status, id) serves the inbox. `source` is a digest of the indexed columns, so a save that changes none of them
 * skips the re-index.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  if (kind === 'postgres') {
    await sql`CREATE TABLE ticket_search (
      ticket_id bigint PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
      source text NOT NULL,
      text text NOT NULL,
      tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED)`.execute(db);
    await sql`CREATE INDEX ticket_search_tsv ON ticket_search USING gin (tsv)`.execute(db);
  } else {
    await sql`CREATE VIRTUAL TABLE ticket_search USING fts5(text, source UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')`.execute(db);
  }
  // The inbox lists one status newest first: an index in that order answers it from its first
  // entries instead of sorting every ticket of that status (tens of thousands at 100k tickets).
  await db.schema.createIndex('tickets_status_id').on('tickets').columns(['status', 'id']).execute();
  let after = 0;
  for (;;) {
    const { rows } = await sql<{ id: number; subject: string; body_plain: string; from_email: string | null; from_name: string | null }>`
      SELECT id, subject, body_plain, from_email, from_name FROM tickets WHERE id > ${after} ORDER BY id LIMIT 500`.execute(db);
    if (!rows.length) break;
    for (const r of rows) {
      const parts = [r.subject, r.body_plain, r.from_email ?? '', r.from_name ?? ''];
      const [text, source] = [searchDocument(parts), searchSource(parts)];
      if (kind === 'postgres') await sql`INSERT INTO ticket_search (ticket_id, source, text) VALUES (${r.id}, ${source}, ${text})`.execute(db);
      else await sql`INSERT INTO ticket_search (rowid, source, text) VALUES (${r.id}, ${source}, ${text})`.execute(db);
    }
    after = rows[rows.length - 1]!.id;
  }
}
