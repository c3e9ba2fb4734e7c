import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { createEmailAccount } from '../../src/app/email-accounts.ts';
import { processPendingInbound } from '../../src/app/mail/ingest-inbound.ts';
import { createSmtpInbound } from '../../src/adapters/smtp/inbound-server.ts';
import type { Benchmark } from '../harness.ts';
import { benchDeps } from '../support.ts';

const MESSAGES = 400;
const CONNECTIONS = 4;

function message(i: number) {
  return {
    from: `kunde${i % 50}@example.com`, to: 'support@stadtwerke.example', subject: `Zählerstand ${i}`,
    text: `Guten Tag,\n\nmein Zählerstand für Zähler 1ESY1161234${i} ist ${10_000 + i} kWh.\n\nViele Grüße\nErika Mustermann\n`,
  };
}

/** Sends MESSAGES over CONNECTIONS pooled connections; resolves when the server answered every one. */
async function blast(port: number): Promise<number> {
  const client = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: CONNECTIONS, maxMessages: Infinity });
  const started = performance.now();
  await Promise.all(Array.from({ length: MESSAGES }, (_, i) => client.sendMail(message(i))));
  const elapsed = performance.now() - started;
  client.close();
  return elapsed;
}

/**
 * Messages/s that arrive over SMTP and become tickets (stored before 250, then parsed, threaded
 * and written by the ingest worker) divided by the rate of an smtp-server that accepts and
 * discards, with the same client and connections.
 */
export const smtpIngestVsDiscard: Benchmark = {
  name: 'smtp_ingest_vs_discard',
  target: '≥ 0.5×',
  async run() {
    const discard = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, onData(stream, _s, cb) { stream.resume(); stream.on('end', () => cb()); } });
    await new Promise<void>((r) => discard.listen(0, '127.0.0.1', () => r()));
    const discardMs = await blast((discard.server.address() as { port: number }).port);
    await new Promise<void>((r) => discard.close(() => r()));

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
    const started = performance.now();
    await blast((server.server.address() as { port: number }).port);
    while (done < MESSAGES) {
      drain();
      await running;
    }
    const ingestMs = performance.now() - started;
    await new Promise<void>((r) => server.close(() => r()));
    const tickets = (await deps.store.tickets.search({}, { limit: 1, cursor: null })).items[0]?.id ?? 0;
    await close();
    if (tickets < MESSAGES) throw new Error(`only ${tickets} tickets for ${MESSAGES} messages`);
    const ingestRate = MESSAGES / (ingestMs / 1000);
    const discardRate = MESSAGES / (discardMs / 1000);
    return {
      value: ingestRate / discardRate,
      unit: '×',
      baseline: 'smtp-server that accepts and discards, same client',
      detail: { messages: MESSAGES, connections: CONNECTIONS, ingestPerSecond: Math.round(ingestRate), discardPerSecond: Math.round(discardRate), database: 'sqlite' },
    };
  },
};
