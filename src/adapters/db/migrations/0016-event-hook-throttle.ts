import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * Throttled endpoints: an event hook's `max_in_flight` (concurrent deliveries) and
 * `rate_per_second`; `next_slot_at` is the next free start time under the rate, `throttled_until`
 * the pause a 429/503 with Retry-After asked for, `throttled_ms` the time its deliveries waited.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  await db.schema.alterTable('event_hooks').addColumn('max_in_flight', 'integer').execute();
  await db.schema.alterTable('event_hooks').addColumn('rate_per_second', 'real').execute();
  await db.schema.alterTable('event_hooks').addColumn('next_slot_at', ts).execute();
  await db.schema.alterTable('event_hooks').addColumn('throttled_until', ts).execute();
  await db.schema.alterTable('event_hooks').addColumn('throttled_ms', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
}
