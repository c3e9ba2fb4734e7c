import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppDeps } from '../src/app/deps.ts';
import { createEmailAccount } from '../src/app/email-accounts.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { openTestDatabase, type TestDatabase } from './support/backends.ts';
import { startInbound } from './support/mail.ts';
import { makeDeps, TestClock } from './support/test-app.ts';

const CORPUS = resolve(import.meta.dirname, '..', '..', 'shared', 'corpus', 'mail');
const SUPPORT = 'support@stadtwerke.example';

/**
 * Every real-world message of the shared corpus goes in through the SMTP server and comes out as
 * a ticket or a conversation: none is refused, none crashes ingestion, none is lost.
 */
describe.skipIf(!existsSync(join(CORPUS, 'MANIFEST.tsv')))('the mail corpus through SMTP', () => {
  let db: TestDatabase;
  let deps: AppDeps;
  let inbound: Awaited<ReturnType<typeof startInbound>>;

  beforeAll(async () => {
    db = await openTestDatabase('sqlite');
    deps = makeDeps(db, new TestClock(new Date()));
    // ~400 messages from one sender and one client address: the flood limits are tested elsewhere.
    Object.assign(deps.mail.settings, { maxPerSenderPerWindow: 100_000, maxPerClientPerWindow: 100_000, maxPerAccountPerWindow: 100_000 });
    inbound = await startInbound(deps, { maxMessageBytes: 2_000_000, pool: true });
    await createEmailAccount(deps, { name: 'Service', address: SUPPORT, inbound: { type: 'smtp' } });
  });
  afterAll(async () => {
    await inbound.close();
    await db.cleanup();
  });

  it('stores every message before 250 and turns each into a ticket or conversation', { timeout: 180_000 }, async () => {
    const files = readFileSync(join(CORPUS, 'MANIFEST.tsv'), 'utf8').trim().split('\n').slice(1).map((line) => line.split('\t')[0]!);
    expect(files.length).toBeGreaterThan(390);
    const refused: string[] = [];
    const started = Date.now();
    for (const file of files) {
      const raw = readFileSync(join(CORPUS, file));
      await inbound.send({ envelope: { from: 'sender@corpus.example', to: [SUPPORT] }, raw }).catch((err: Error) => refused.push(`${file}: ${err.message}`));
    }
    expect(refused).toEqual([]);
    console.log(`corpus over SMTP: ${files.length} messages in ${Date.now() - started} ms`);
    const stored = await sql<{ n: number }>`select count(*) as n from inbound_messages`.execute(db.handle.db);
    expect(Number(stored.rows[0]!.n)).toBe(files.length);

    const ingestStarted = Date.now();
    let processed = 0;
    for (let batch = await processPendingInbound(deps, 50); batch.length; batch = await processPendingInbound(deps, 50)) processed += batch.length;
    expect(processed).toBe(files.length);
    console.log(`ingestion: ${processed} messages in ${Date.now() - ingestStarted} ms`);
    const statuses = await sql<{ status: string; n: number }>`select status, count(*) as n from inbound_messages group by status`.execute(db.handle.db);
    expect(statuses.rows.map((r) => [r.status, Number(r.n)])).toEqual([['processed', files.length]]);
    const outcomes = await sql<{ ticket_id: number | null }>`select ticket_id from inbound_messages where ticket_id is null`.execute(db.handle.db);
    expect(outcomes.rows).toEqual([]);
  });
});
