import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * Login throttling as atomic counters, API key scopes, and credential epochs.
 *
 * - `login_attempts`: one row per throttled subject (`email:<address>` or `ip:<address>`) with the
 *   start of its current fixed window and the attempts counted in it; an upsert counts an attempt
 *   in one statement, so parallel requests (and several API processes) cannot all pass the check.
 *   It replaces `login_failures`, which was counted and written in separate statements.
 * - `access_tokens.scope`: read, agent or admin for API keys (existing keys get their owner's
 *   role, which is what they could do before); null for sessions.
 * - `users.session_epoch` / `users.key_epoch` and `access_tokens.epoch`: a token is valid only
 *   while its epoch equals its owner's current one. Revoking sessions or keys bumps the epoch, so a
 *   token made by a login that was already under way when the user was disabled never works.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  await db.schema.createTable('login_attempts')
    .addColumn('subject', 'text', (c) => c.primaryKey())
    .addColumn('window_start', ts, (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('login_attempts_window').on('login_attempts').column('window_start').execute();
  await db.schema.dropTable('login_failures').execute();

  await db.schema.alterTable('access_tokens').addColumn('scope', 'text').execute();
  await db.schema.alterTable('access_tokens').addColumn('epoch', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('users').addColumn('session_epoch', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('users').addColumn('key_epoch', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await sql`UPDATE access_tokens SET scope = (SELECT role FROM users WHERE users.id = access_tokens.user_id) WHERE kind = 'apiKey'`.execute(db);
}
