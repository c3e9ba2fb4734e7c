import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * On PostgreSQL, `events.seq` is taken at insert and transactions commit in any order, so a feed
 * reader could move past an event whose transaction commits later. Each event keeps the id of the
 * transaction that wrote it; the feed shows events only once every older transaction has ended.
 * SQLite has a single writer: commit order is seq order already.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  if (kind !== 'postgres') return;
  await sql`ALTER TABLE events ADD COLUMN tx bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)`.execute(db);
}
