import { describe, expect, it } from 'vitest';
import { DEFAULT_QUARANTINE, healthOf, quarantineReason } from './hook-health.ts';

const calls = (n: number, ok: boolean, durationMs = 10) => Array.from({ length: n }, () => ({ ok, durationMs }));

describe('quarantineReason', () => {
  it('needs a full window', () => {
    expect(quarantineReason(calls(19, false), DEFAULT_QUARANTINE, 10_000)).toBeNull();
    expect(quarantineReason(calls(20, false), DEFAULT_QUARANTINE, 10_000)).toBe('100 % of the last 20 calls failed (limit 50 %)');
  });

  it('judges the failure rate and the p95 over the last windowCalls calls', () => {
    expect(quarantineReason([...calls(10, false), ...calls(20, true)], DEFAULT_QUARANTINE, 10_000)).toBeNull();
    expect(quarantineReason([...calls(9, false), ...calls(11, true)], DEFAULT_QUARANTINE, 10_000)).toBeNull();
    expect(quarantineReason([...calls(10, false), ...calls(10, true)], DEFAULT_QUARANTINE, 10_000)).toMatch(/^50 %/);
    // p95 against 80 % of the timeout by default, or the setting.
    expect(quarantineReason([...calls(18, true, 10), ...calls(2, true, 900)], DEFAULT_QUARANTINE, 1_000)).toMatch(/p95 .* 900 ms \(limit 800 ms\)/);
    expect(quarantineReason([...calls(18, true, 10), ...calls(2, true, 900)], { ...DEFAULT_QUARANTINE, p95Ms: 950 }, 1_000)).toBeNull();
    expect(quarantineReason(calls(20, false), { ...DEFAULT_QUARANTINE, enabled: false }, 1_000)).toBeNull();
  });

  it('reports p50 and p95', () => {
    expect(healthOf([...calls(10, true, 10), ...calls(10, false, 100)])).toEqual({ calls: 20, failureRate: 0.5, p50Ms: 10, p95Ms: 100 });
    expect(healthOf([])).toEqual({ calls: 0, failureRate: null, p50Ms: null, p95Ms: null });
  });
});
