import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * Every executor a hook has had: `scope` names the hook (`webhook:<account>:<hook>`,
 * `eventHook:<id>`), `version` counts from 1, `executor` is null for "no executor".
 * Invocations name the version that ran (`webhook_invocations.hook_version`).
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const ts = kind === 'postgres' ? sql`timestamptz` : sql`text`;
  const json = kind === 'postgres' ? sql`jsonb` : sql`text`;
  await db.schema.createTable('hook_versions')
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('executor', json)
    .addColumn('changed_by', 'integer')
    .addColumn('changed_at', ts, (c) => c.notNull())
    .addColumn('note', 'text')
    .addPrimaryKeyConstraint('hook_versions_pk', ['scope', 'version'])
    .execute();
  await db.schema.alterTable('webhook_invocations').addColumn('hook_version', 'integer').execute();
}
