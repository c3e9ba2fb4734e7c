import { sql, type Kysely } from 'kysely';
import type { DialectKind } from '../dialect.ts';

/**
 * What SPF, DKIM and DMARC need from the SMTP session (the client's address and HELO name), kept
 * with the raw message because verification runs when the message is processed, and the result.
 */
export async function up(db: Kysely<unknown>, kind: DialectKind): Promise<void> {
  const json = kind === 'postgres' ? sql`jsonb` : sql`text`;
  await db.schema.alterTable('inbound_messages').addColumn('client_address', 'text').execute();
  await db.schema.alterTable('inbound_messages').addColumn('helo', 'text').execute();
  await db.schema.alterTable('inbound_messages').addColumn('authentication', json).execute();
}
