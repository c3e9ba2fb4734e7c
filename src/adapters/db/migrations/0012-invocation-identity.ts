import type { Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * The identity of a synchronous hook's message across attempts: `message_id` is the `webhook-id`
 * it was sent with (its own id for a first attempt, the original's for a manual retry) and
 * `retry_of` the invocation a retry resent. Older rows were all first attempts.
 */
export async function up(db: Kysely<unknown>, _kind: DialectKind): Promise<void> {
  await db.schema.alterTable('webhook_invocations').addColumn('message_id', 'text').execute();
  await db.schema.alterTable('webhook_invocations').addColumn('retry_of', 'text').execute();
}
