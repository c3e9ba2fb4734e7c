import { Counter, Gauge, type Registry } from 'prom-client';
import type { Store } from '../app/ports/store.ts';

/** Queue depth and age read from the database at scrape time (so any process shows the whole queue), attempts counted here. */
export function registerEventMetrics(registry: Registry, store: Store): { attempts: Counter<'outcome'> } {
  let stats: Promise<{ pending: number; oldestPendingAt: string | null }> | null = null;
  // One query per scrape for both gauges.
  const read = () => (stats ??= store.deliveries.stats().finally(() => setTimeout(() => { stats = null; }, 1000).unref()));
  new Gauge({
    name: 'deskhook_event_deliveries_pending', help: 'Event deliveries queued or waiting for a retry.', registers: [registry],
    async collect() {
      this.set((await read()).pending);
    },
  });
  new Gauge({
    name: 'deskhook_event_delivery_oldest_pending_seconds', help: 'Age of the oldest queued event delivery (0 when none).', registers: [registry],
    async collect() {
      const { oldestPendingAt } = await read();
      this.set(oldestPendingAt ? Math.max(0, (Date.now() - Date.parse(oldestPendingAt)) / 1000) : 0);
    },
  });
  const attempts = new Counter({
    name: 'deskhook_event_delivery_attempts_total', help: 'Event delivery attempts made by this process, by outcome.', labelNames: ['outcome'] as const, registers: [registry],
  });
  return { attempts };
}
