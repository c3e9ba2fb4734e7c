import { attemptDelivery, claimDeliveries, recordAttempts, type AttemptReport, type HookCache } from '../app/events/deliver-events.ts';
import type { AppDeps } from '../app/deps.ts';
import type { AttemptOutcome } from '../domain/event-hook.ts';

export interface DeliveryWorkerOptions {
  deps: AppDeps;
  /** Written into each lease, so a crashed worker's deliveries are known and taken over after the lease. */
  holder: string;
  concurrency: number;
  pollMs: number;
  /** How long a claimed delivery stays ours: the attempt's deadline plus a margin. */
  leaseMs: number;
  onAttempt?(outcome: AttemptOutcome): void;
}

/**
 * Keeps up to `concurrency` event deliveries in flight: claims due deliveries with a lease as slots
 * free up, and looks again every `pollMs` when nothing is due. Attempts that finish while a write
 * is under way are recorded together in the next transaction (group commit), so under load a
 * commit serves many deliveries; a slot is free again once its attempt is recorded. `stop()`
 * claims nothing more and waits for the attempts in flight, so a clean shutdown leaves no lease
 * behind. A crash loses at most the attempts not yet recorded: their leases expire and they are
 * delivered again (at least once).
 */
export class DeliveryWorker {
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly running = new Set<Promise<void>>();
  private queued: Array<{ report: AttemptReport; done: () => void }> = [];
  private writing: Promise<void> | null = null;

  constructor(private readonly options: DeliveryWorkerOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Looks for due deliveries now rather than at the next poll. */
  kick(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  get inFlight(): number {
    return this.running.size;
  }

  private async run(): Promise<void> {
    const { deps, holder, concurrency, pollMs, leaseMs } = this.options;
    // Claim in batches: wait until half the slots are free rather than a query per finished attempt.
    const batch = Math.max(1, Math.ceil(concurrency / 2));
    const hookCache: HookCache = { maxAgeMs: 1000, entries: new Map() };
    while (!this.stopped) {
      const free = concurrency - this.running.size;
      let full = false;
      if (free >= batch || this.running.size === 0) {
        try {
          const claimed = await claimDeliveries(deps, holder, free, leaseMs, hookCache);
          full = claimed.deliveries.length === free;
          for (const item of claimed.deliveries) {
            const target = claimed.hooks.get(item.delivery.hookId);
            if (!target) continue;
            const attempt: Promise<void> = attemptDelivery(deps, item, target, holder)
              .then((report) => this.record(report))
              .catch((err: unknown) => deps.logger.error({ err, deliveryId: item.delivery.id }, 'event delivery could not be recorded; its lease will expire and it will be retried'))
              .finally(() => {
                this.running.delete(attempt);
                this.kick();
              });
            this.running.add(attempt);
          }
        } catch (err) {
          deps.logger.error({ err }, 'claiming event deliveries failed');
        }
      }
      if (this.stopped) break;
      if (full) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        timer.unref();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await Promise.allSettled([...this.running]);
  }

  /** Resolves once the report is in the database, written with whatever else finished meanwhile. */
  private record(report: AttemptReport): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ report, done: resolve });
      this.writing ??= this.write().catch(reject);
    });
  }

  private async write(): Promise<void> {
    const { deps, holder } = this.options;
    // Let the attempts finishing in this turn of the event loop join the batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queued.length) {
      const batch = this.queued;
      this.queued = [];
      try {
        await recordAttempts(deps, batch.map((b) => b.report), holder);
        for (const b of batch) this.options.onAttempt?.(b.report.outcome);
      } catch (err) {
        deps.logger.error({ err, deliveries: batch.map((b) => b.report.result.deliveryId) }, 'recording event deliveries failed; their leases will expire and they will be delivered again');
      }
      for (const b of batch) b.done();
    }
    this.writing = null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.loop;
  }
}
