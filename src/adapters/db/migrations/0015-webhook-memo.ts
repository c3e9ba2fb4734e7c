import type { Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * Memoised idempotent hooks: `memo_key` is the digest of what the hook saw (domain/webhook-memo.ts),
 * `memoized = 1` marks an invocation answered from an earlier one instead of a call.
 */
export async function up(db: Kysely<unknown>, _kind: DialectKind): Promise<void> {
  await db.schema.alterTable('webhook_invocations').addColumn('memo_key', 'text').execute();
  await db.schema.alterTable('webhook_invocations').addColumn('memoized', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('webhook_invocations_memo').on('webhook_invocations').columns(['email_account_id', 'hook', 'memo_key', 'created_at']).execute();
}
