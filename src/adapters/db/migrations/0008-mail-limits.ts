import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * Counters of the inbound mail flood limits: one row per limited key (a sender at an account,
 * a client address, an account) and fixed window, raised by an atomic upsert so that every
 * SMTP process shares the same count.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  await db.schema.createTable('mail_rate_counters')
    .addColumn('bucket', 'text', (c) => c.notNull())
    .addColumn('window_start', ts, (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('mail_rate_counters_pk', ['bucket', 'window_start'])
    .execute();
  await db.schema.createIndex('mail_rate_counters_window').on('mail_rate_counters').column('window_start').execute();
}
