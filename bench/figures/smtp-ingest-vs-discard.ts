import { SMTPServer } from 'smtp-server';
import { createEmailAccount } from '../../src/app/email-accounts.ts';
import { processPendingInbound } from '../../src/app/mail/ingest-inbound.ts';
import { createSmtpInbound } from '../../src/adapters/smtp/inbound-server.ts';
import { abba, quick, rounded, startLoadWorker, type Benchmark, type SmtpMessage } from '../harness.ts';
import { benchDeps } from '../support.ts';

/** Messages per round and side; rounds per side, in ABBA order after one warm-up round each. */
const MESSAGES = quick(300, 60);
const ROUNDS = quick(6, 5);
const CONNECTIONS = 4;

/** A round's messages; the subject names the round, so every message of every round is a new ticket. */
function messages(round: number): SmtpMessage[] {
  return Array.from({ length: MESSAGES }, (_, i) => ({
    from: `kunde${i % 50}@example.com`, to: 'support@stadtwerke.example', subject: `Zählerstand ${round}-${i}`,
    text: `Guten Tag,\n\nmein Zählerstand für Zähler 1ESY1161234${i} ist ${10_000 + i} kWh.\n\nViele Grüße\nErika Mustermann\n`,
  }));
}

/**
 * Messages/s that arrive over SMTP and become tickets (stored before 250, then parsed, threaded
 * and written by the ingest worker) divided by the rate of an smtp-server that accepts and
 * discards; the same nodemailer client (in a worker thread) and connections for both, ABBA rounds,
 * the ratio of the sides' medians.
 */
export const smtpIngestVsDiscard: Benchmark = {
  name: 'smtp_ingest_vs_discard',
  target: '≥ 0.5×',
  check: { op: '>=', value: 0.5 },
  async run() {
    const discard = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, onData(stream, _s, cb) { stream.resume(); stream.on('end', () => cb()); } });
    await new Promise<void>((r) => discard.listen(0, '127.0.0.1', () => r()));
    const discardPort = (discard.server.address() as { port: number }).port;

    const { deps, close } = await benchDeps();
    await createEmailAccount(deps, { name: 'Service', address: 'support@stadtwerke.example', inbound: { type: 'smtp' } });
    // The ingest worker, as `serve` runs it: woken by each accepted message, draining in batches.
    let done = 0;
    let running: Promise<void> | null = null;
    const drain = () => {
      running ??= (async () => {
        for (let batch = await processPendingInbound(deps, 50); batch.length; batch = await processPendingInbound(deps, 50)) done += batch.length;
      })().finally(() => { running = null; });
    };
    const server = createSmtpInbound({ deps, maxMessageBytes: 1 << 20, tls: null, auth: null, onAccepted: drain, closeTimeoutMs: 100 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const ingestPort = (server.server.address() as { port: number }).port;
    const client = await startLoadWorker();
    let round = 0;
    let sent = 0;
    try {
      const rates = await abba({ rounds: ROUNDS }, {
        ingest: async () => {
          const batch = messages(round++);
          const target = done + batch.length;
          const started = performance.now();
          await client.smtp({ port: ingestPort, connections: CONNECTIONS, messages: batch });
          while (done < target) {
            drain();
            await running;
          }
          sent += batch.length;
          return batch.length / ((performance.now() - started) / 1000);
        },
        discard: async () => {
          const batch = messages(round++);
          const started = performance.now();
          await client.smtp({ port: discardPort, connections: CONNECTIONS, messages: batch });
          return batch.length / ((performance.now() - started) / 1000);
        },
      });
      const tickets = (await deps.store.tickets.search({}, { limit: 1, cursor: null })).items[0]?.id ?? 0;
      if (tickets < sent) throw new Error(`only ${tickets} tickets for ${sent} messages`);
      return {
        value: rates.ingest.median / rates.discard.median,
        unit: '×',
        baseline: 'smtp-server that accepts and discards, same client (median of ABBA rounds)',
        detail: {
          messagesPerSecond: { ingest: rounded(rates.ingest), discard: rounded(rates.discard) },
          value: 'median messages/s of the ingest rounds (until every message is a ticket) / median of the discard rounds (until every 250)',
          messagesPerRound: MESSAGES, rounds: ROUNDS, warmupRounds: 1, connections: CONNECTIONS,
          loadGenerator: 'nodemailer (pooled) in a worker thread', database: 'sqlite',
        },
      };
    } finally {
      await client.close();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => discard.close(() => r()));
      await close();
    }
  },
};
