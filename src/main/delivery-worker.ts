import { claimDeliveries, deliverClaimed } from '../app/events/deliver-events.ts';
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
 * free up, and looks again every `pollMs` when nothing is due. `stop()` claims nothing more and
 * waits for the attempts in flight, so a clean shutdown leaves no lease behind.
 */
export class DeliveryWorker {
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly running = new Set<Promise<void>>();

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
    // Claim in batches: wait until a quarter of the slots are free rather than a query per finished attempt.
    const batch = Math.max(1, Math.ceil(concurrency / 4));
    while (!this.stopped) {
      const free = concurrency - this.running.size;
      let full = false;
      if (free >= batch || this.running.size === 0) {
        try {
          const claimed = await claimDeliveries(deps, holder, free, leaseMs);
          full = claimed.deliveries.length === free;
          for (const item of claimed.deliveries) {
            const target = claimed.hooks.get(item.delivery.hookId);
            if (!target) continue;
            const attempt: Promise<void> = deliverClaimed(deps, item, target, holder)
              .then((outcome) => this.options.onAttempt?.(outcome))
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

  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.loop;
  }
}
