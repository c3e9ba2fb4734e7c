import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/** Every synchronous webhook invocation: input, answer or error, and what the step did with it. */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = kind === 'postgres' ? sql`jsonb` : sql`text`;
  await db.schema.createTable('webhook_invocations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email_account_id', 'integer', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('ticket_id', 'integer')
    .addColumn('conversation_id', 'integer')
    .addColumn('hook', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('policy_applied', 'text')
    .addColumn('status', 'integer')
    .addColumn('duration_ms', 'real', (c) => c.notNull())
    .addColumn('input', json, (c) => c.notNull())
    .addColumn('output', json)
    .addColumn('error', json)
    .addColumn('logs', json)
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_invocations_account').on('webhook_invocations').columns(['email_account_id', 'created_at']).execute();
  await db.schema.createIndex('webhook_invocations_ticket').on('webhook_invocations').columns(['ticket_id', 'created_at']).execute();
}
