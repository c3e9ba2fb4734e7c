import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/** Shadow runs: `shadow = 1` marks the run of a hook's shadow executor, `comparison` its answer against the live one's. */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const json = kind === 'postgres' ? sql`jsonb` : sql`text`;
  await db.schema.alterTable('webhook_invocations').addColumn('shadow', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('webhook_invocations').addColumn('comparison', json).execute();
}
