import type { Logger } from '../app/ports/logger.ts';

/**
 * Runs a task every `intervalMs`, never overlapping with itself. `stop()` waits for a run in
 * progress, so shutdown never cuts a transaction in half.
 */
export class Ticker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly intervalMs: number,
    private readonly task: () => Promise<unknown>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.task()
        .then(() => undefined, (err: unknown) => this.logger.error({ err, task: this.name }, 'scheduled task failed'))
        .finally(() => {
          this.running = null;
          this.schedule(this.intervalMs);
        });
    }, delay);
    this.timer.unref();
  }

  /** Runs the task as soon as possible (after the current run, if one is in progress). */
  kick(): void {
    if (this.stopped || this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
