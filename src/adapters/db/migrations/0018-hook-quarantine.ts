import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/** A quarantined synchronous hook (`scope` = `webhook:<account>:<hook>`), shared by every process. */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  await db.schema.createTable('hook_quarantine')
    .addColumn('scope', 'text', (c) => c.primaryKey())
    .addColumn('since', ts, (c) => c.notNull())
    .addColumn('until', ts, (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .execute();
}
