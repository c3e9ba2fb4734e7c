import { Gauge, Histogram, type Registry } from 'prom-client';
import type { SandboxLane, SandboxPoolStats } from '../adapters/sandbox/sandbox.ts';

/**
 * The custom-code sandbox's queues: runs waiting and running per lane (read at scrape time) and
 * how long runs waited for a worker. A growing background queue or interactive waits near the
 * webhooks' timeout mean DESKHOOK_SANDBOX_WORKERS is too small for the load.
 */
export function registerSandboxMetrics(registry: Registry, stats: () => SandboxPoolStats): { queueWait: (lane: SandboxLane, waitedMs: number) => void } {
  new Gauge({
    name: 'deskhook_sandbox_queued', help: 'Custom-code runs waiting for a sandbox worker, by lane.', labelNames: ['lane'] as const, registers: [registry],
    collect() {
      for (const [lane, { queued }] of Object.entries(stats().lanes)) this.set({ lane }, queued);
    },
  });
  new Gauge({
    name: 'deskhook_sandbox_running', help: 'Custom-code runs on a sandbox worker, by lane.', labelNames: ['lane'] as const, registers: [registry],
    collect() {
      for (const [lane, { running }] of Object.entries(stats().lanes)) this.set({ lane }, running);
    },
  });
  const wait = new Histogram({
    name: 'deskhook_sandbox_queue_wait_seconds', help: 'Time a custom-code run waited for a sandbox worker, by lane.', labelNames: ['lane'] as const,
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30], registers: [registry],
  });
  return { queueWait: (lane, waitedMs) => wait.observe({ lane }, waitedMs / 1000) };
}
