import { describe, expect, it } from 'vitest';
import { classifyAttempt, nextRetryDelayMs, parseRetryAfter, validateRetrySchedule } from './event-hook.ts';

describe('event hook delivery rules', () => {
  const now = new Date('2026-11-28T10:00:00Z');

  it('reads Retry-After as seconds or an HTTP date, capped at a day, ignoring nonsense', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter('Sat, 28 Nov 2026 10:05:00 GMT', now)).toBe(300);
    expect(parseRetryAfter('Sat, 28 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('999999999', now)).toBe(86_400);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });

  it('spreads each delay by ±20 % and lets a longer Retry-After win; null once the schedule is spent', () => {
    expect(nextRetryDelayMs([5, 300], 1, 0, null)).toBe(4000);
    expect(nextRetryDelayMs([5, 300], 1, 0.999999, null)).toBe(6000);
    expect(nextRetryDelayMs([5, 300], 2, 0.5, null)).toBe(300_000);
    expect(nextRetryDelayMs([5, 300], 1, 0.5, 60)).toBe(60_000);
    expect(nextRetryDelayMs([5, 300], 3, 0.5, null)).toBeNull();
    expect(nextRetryDelayMs([], 1, 0.5, 60)).toBeNull();
  });

  it('a 2xx is a success whatever the body; 410 is gone; 429 and 503 are throttling', () => {
    expect(classifyAttempt({ ok: false, status: 200 })).toBe('succeeded');
    expect(classifyAttempt({ ok: true, status: null })).toBe('succeeded');
    expect(classifyAttempt({ ok: false, status: 410 })).toBe('gone');
    expect(classifyAttempt({ ok: false, status: 429 })).toBe('throttled');
    expect(classifyAttempt({ ok: false, status: 503 })).toBe('throttled');
    expect(classifyAttempt({ ok: false, status: 500 })).toBe('failed');
    expect(classifyAttempt({ ok: false, status: null })).toBe('failed');
  });

  it('checks a schedule', () => {
    expect(validateRetrySchedule([5, 300])).toBeNull();
    expect(validateRetrySchedule(Array(21).fill(1))).toContain('at most 20');
    expect(validateRetrySchedule([1.5])).toContain('whole number');
  });
});
