import type { Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * The W3C trace context of the step that wrote an event (`traceparent` naming that step's span,
 * and its `tracestate`), so that every delivery of the event continues the same trace. Null for
 * events written outside any step, and for older ones.
 */
export async function up(db: Kysely<unknown>, _kind: DialectKind): Promise<void> {
  await db.schema.alterTable('events').addColumn('traceparent', 'text').execute();
  await db.schema.alterTable('events').addColumn('tracestate', 'text').execute();
}
