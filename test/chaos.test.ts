import { afterAll, describe, it, type ExpectStatic } from 'vitest';
import {
  erpFailing, killMidDelivery, pgClusterControl, postgresConnectionsCut, postgresRestart, receiverDown, smtpDrops, type ChaosOptions, type ScenarioResult,
} from '../scripts/chaos.ts';
import { BACKENDS } from './support/backends.ts';
import { killAll, removeTempDirs } from './support/process.ts';

/**
 * The chaos scenarios of `npm run chaos` (scripts/chaos.ts; method and figures in
 * docs/reliability.md), in short mode, with real `deskhook serve` processes:
 *
 * - a: a worker SIGKILLed mid-delivery: embedded SQLite always, PostgreSQL with DATABASE_URL;
 * - c: the event receiver refusing connections, then answering 503, then back;
 * - d: SMTP clients dropping the connection in the middle of DATA;
 * - e: the ERP answering 500, then answering past the timeout, then healthy again.
 *
 * After each: no email answered 250 is missing as a ticket, no event is missing at the receiver,
 * duplicates are within what the fault explains, and the service is ready again. e runs first,
 * alone (it judges latencies); the others run side by side; the two SIGKILL cases wait out a 33 s
 * delivery lease, so the file takes about a minute and a half.
 *
 * b takes minutes and is opt-in:
 * - b-postgres-connections-cut (every connection of the scenario's own scratch database cut with
 *   pg_terminate_backend, three times) touches no other database; it runs with
 *   DESKHOOK_CHAOS_LONG=1 and DATABASE_URL. It takes about 4.5 minutes: an inbound email whose
 *   ingestion a cut interrupts waits out its 180 s batch lease before it becomes a ticket.
 * - b-postgres-restart restarts the PostgreSQL server that every other test file on DATABASE_URL
 *   uses at the same time, so it runs only with DESKHOOK_CHAOS_PG_RESTART=1 (and DATABASE_URL,
 *   root and pg_ctlcluster), when nothing else uses that server. `npm run chaos` runs it.
 * Both run after the others, one after the other.
 */

const options: ChaosOptions = { short: true, log: (line) => console.log(line) };

afterAll(async () => {
  await killAll();
  removeTempDirs();
});

/** Every check of the scenario passed; nothing lost; duplicates within the bound. */
function expectPassed(expect: ExpectStatic, r: ScenarioResult): void {
  const summary = `${r.line}\n${Object.entries(r.figures).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`;
  expect(r.skipped, summary).toBeNull();
  expect(r.error, summary).toBeNull();
  expect(r.checks.filter((c) => !c.ok), summary).toEqual([]);
  expect(r.checks.length, summary).toBeGreaterThan(5);
  expect(r.emails, summary).not.toBeNull();
  expect(r.emails!.lost, summary).toBe(0);
  expect(r.emails!.accepted, summary).toBe(r.emails!.sent);
  expect(r.emails!.ticketDuplicates, summary).toBe(0);
  expect(r.events, summary).not.toBeNull();
  expect(r.events!.lost, summary).toBe(0);
  expect(r.events!.events, summary).toBeGreaterThan(0);
  expect(r.events!.duplicates, summary).toBeLessThanOrEqual(r.duplicateBound!.value);
  expect(r.recovery.seconds, summary).not.toBeNull();
}

// e measures how quickly the server answers while the ERP fails: it runs alone, before the others
// (on two cores, the four side by side starve it of CPU and its latencies measure the machine).
describe('chaos, short mode: alone', () => {
  it('e. a failing and a slow ERP: stale answers for cached records, quick 502s, a responsive server, recovery', async ({ expect }) => {
    const r = await erpFailing(options);
    expectPassed(expect, r);
    expect(r.recovery.seconds, 'fresh answers within 2 s of the ERP recovering').toBeLessThanOrEqual(2);
  }, 90_000);
});

describe('chaos, short mode', { concurrent: true }, () => {
  it.skipIf(!BACKENDS.includes('sqlite'))('a. a SIGKILLed `serve` (embedded SQLite) loses nothing; duplicates only what it had leased', async ({ expect }) => {
    const r = await killMidDelivery(options, 'sqlite');
    expectPassed(expect, r);
    expect(r.figures['deliveries leased by the killed process']).toBeGreaterThanOrEqual(1);
    expect(r.recovery.seconds, 'the restarted server is ready within 15 s').toBeLessThanOrEqual(15);
  }, 150_000);

  it.skipIf(!process.env.DATABASE_URL)('a. a SIGKILLed `--role worker` (PostgreSQL) loses nothing; the other worker takes over', async ({ expect }) => {
    const r = await killMidDelivery(options, 'postgres');
    expectPassed(expect, r);
    expect(r.figures['deliveries leased by the killed process']).toBeGreaterThanOrEqual(1);
    expect(r.recovery.seconds, 'the new worker is ready within 15 s').toBeLessThanOrEqual(15);
  }, 150_000);

  it('c. an event receiver down, then 503, then back gets every event, none twice', async ({ expect }) => {
    const r = await receiverDown(options);
    expectPassed(expect, r);
    expect(r.figures['deliveries pending when the receiver returned']).toBeGreaterThan(0);
    expect(r.recovery.seconds, 'the backlog is delivered within a retry delay of the return').toBeLessThanOrEqual(10);
  }, 90_000);

  it('d. SMTP sessions dropped mid-DATA store nothing; the server keeps serving', async ({ expect }) => {
    const r = await smtpDrops(options);
    expectPassed(expect, r);
    expect(r.figures['partial messages stored / tickets']).toBe('0 / 0');
  }, 90_000);

});

const long = process.env.DESKHOOK_CHAOS_LONG === '1' && !!process.env.DATABASE_URL;
const pgRestart = process.env.DESKHOOK_CHAOS_PG_RESTART === '1' && !!process.env.DATABASE_URL && pgClusterControl() !== null;

describe('chaos: PostgreSQL under faults (opt-in, minutes)', () => {
  it.skipIf(!long)('b. every connection cut: SMTP answers 4xx at worst, every accepted email a ticket, every event delivered, ready within seconds', async ({ expect }) => {
    const r = await postgresConnectionsCut(options);
    expectPassed(expect, r);
    expect(Object.keys(r.emails!.answers).filter((a) => a.startsWith('5'))).toEqual([]);
    expect(r.recovery.seconds, 'every process ready within 10 s of the cut').toBeLessThanOrEqual(10);
  }, 420_000);

  it.skipIf(!pgRestart)('b. PostgreSQL restarted (DESKHOOK_CHAOS_PG_RESTART=1): SMTP answers 4xx while it is away, nothing lost, ready within seconds', async ({ expect }) => {
    const r = await postgresRestart(options);
    expectPassed(expect, r);
    expect(Object.keys(r.emails!.answers).filter((a) => a.startsWith('5'))).toEqual([]);
    expect(r.recovery.seconds, 'every process ready within 10 s of the database being back').toBeLessThanOrEqual(10);
  }, 420_000);
});
