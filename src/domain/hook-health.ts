// When a synchronous hook is sick enough to be quarantined: over its last calls, too many fail or
// the slow ones are too slow. Pure.

export interface QuarantineSettings {
  enabled: boolean;
  /** How many recent calls are judged; fewer never quarantine. */
  windowCalls: number;
  /** Quarantined when at least this share of them failed (0 to 1). */
  failureRate: number;
  /** Quarantined when their p95 duration is above this; null: 80 % of the hook's timeout. */
  p95Ms: number | null;
  /** How long a quarantine lasts before a probe call may close it. */
  coolDownSeconds: number;
}

export const DEFAULT_QUARANTINE: QuarantineSettings = Object.freeze({ enabled: true, windowCalls: 20, failureRate: 0.5, p95Ms: null, coolDownSeconds: 60 });

export interface CallSample {
  ok: boolean;
  durationMs: number;
}

export interface HookHealth {
  calls: number;
  failureRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? null;
}

export function healthOf(samples: readonly CallSample[]): HookHealth {
  const durations = samples.map((s) => s.durationMs).sort((a, b) => a - b);
  return {
    calls: samples.length,
    failureRate: samples.length ? samples.filter((s) => !s.ok).length / samples.length : null,
    p50Ms: percentile(durations, 0.5),
    p95Ms: percentile(durations, 0.95),
  };
}

/** The p95 limit in force: the setting, or 80 % of the hook's timeout. */
export function p95LimitMs(settings: QuarantineSettings, timeoutMs: number): number {
  return settings.p95Ms ?? Math.round(timeoutMs * 0.8);
}

/** Why the window of recent calls quarantines the hook, or null while it is healthy enough. */
export function quarantineReason(samples: readonly CallSample[], settings: QuarantineSettings, timeoutMs: number): string | null {
  if (!settings.enabled || samples.length < settings.windowCalls) return null;
  const health = healthOf(samples.slice(-settings.windowCalls));
  if (health.failureRate !== null && health.failureRate >= settings.failureRate) {
    return `${Math.round(health.failureRate * 100)} % of the last ${health.calls} calls failed (limit ${Math.round(settings.failureRate * 100)} %)`;
  }
  const limit = p95LimitMs(settings, timeoutMs);
  if (health.p95Ms !== null && health.p95Ms > limit) return `the p95 of the last ${health.calls} calls took ${Math.round(health.p95Ms)} ms (limit ${limit} ms)`;
  return null;
}
