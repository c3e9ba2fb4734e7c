import type { DomainEvent, EventType } from './event.ts';
import type { Executor } from './executor.ts';

export const ORDERING_KEYS = ['none', 'ticket'] as const;
export type OrderingKey = (typeof ORDERING_KEYS)[number];

/** Seconds before each retry after the first, immediate attempt: 8 attempts over about 30 hours. */
export const DEFAULT_RETRY_SCHEDULE_SECONDS: readonly number[] = Object.freeze([5, 300, 1800, 7200, 18000, 36000, 36000]);
export const MAX_RETRIES = 20;
/** Longest single delay a schedule or a receiver's Retry-After may ask for. */
export const MAX_RETRY_DELAY_SECONDS = 86_400;

/** Why a hook stopped: by an admin, because the receiver answered 410 Gone, or after failing for days. */
export const DISABLED_REASONS = ['manual', 'gone', 'failing'] as const;
export type DisabledReason = (typeof DISABLED_REASONS)[number];

/** An asynchronous subscriber: its executor receives every event of the types it names. */
export interface EventHook {
  id: number;
  name: string;
  events: EventType[];
  executor: Executor;
  enabled: boolean;
  orderingKey: OrderingKey;
  retryScheduleSeconds: number[];
  /** The admin who created it; told when the hook is disabled by deskhook. */
  ownerUserId: number | null;
  disabledReason: DisabledReason | null;
  disabledAt: string | null;
  /** Since when every attempt has failed; null once one succeeds. */
  failingSince: string | null;
  lastSuccessAt: string | null;
  /** At most this many deliveries to the hook at once, across all workers; null: no limit. */
  maxInFlight: number | null;
  /** Deliveries started per second at most, across all workers; null: no limit. */
  ratePerSecond: number | null;
  /** Read only: until when a 429/503 with Retry-After paused every delivery to the hook. */
  throttledUntil?: string | null;
  /** Read only: how long its deliveries have waited for `maxInFlight`, `ratePerSecond` or a Retry-After, in total. */
  throttledMs?: number;
  createdAt: string;
  modifiedAt: string;
}

export const MAX_IN_FLIGHT_MAX = 1000;
export const RATE_PER_SECOND_MAX = 1000;

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const ATTEMPT_OUTCOMES = ['succeeded', 'failed', 'throttled', 'gone'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** The body an event hook receives: the Standard Webhooks payload form. */
export interface EventEnvelope {
  id: string;
  type: EventType;
  timestamp: string;
  data: Record<string, unknown>;
}

export function envelopeOf(event: DomainEvent): EventEnvelope {
  return { id: event.id, type: event.type, timestamp: event.createdAt, data: event.data };
}

/** How one attempt ended, from the executor's result. A 2xx is a success whatever the body says. */
export function classifyAttempt(run: { ok: boolean; status: number | null }): AttemptOutcome {
  if (run.ok || (run.status !== null && run.status >= 200 && run.status < 300)) return 'succeeded';
  if (run.status === 410) return 'gone';
  if (run.status === 429 || run.status === 503) return 'throttled';
  return 'failed';
}

/**
 * Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), capped at a day;
 * null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) seconds = Number(trimmed);
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return null;
    seconds = Math.ceil((at - now.getTime()) / 1000);
  }
  return Math.min(Math.max(seconds, 0), MAX_RETRY_DELAY_SECONDS);
}

/**
 * When the next attempt is due after `attemptsMade` attempts, in milliseconds from now, or null
 * when the schedule is spent. Each delay is spread by ±20 % (`random` in [0, 1)) so receivers
 * that failed together are not retried together; a Retry-After longer than the delay wins.
 */
export function nextRetryDelayMs(schedule: readonly number[], attemptsMade: number, random: number, retryAfterSeconds: number | null): number | null {
  const base = schedule[attemptsMade - 1];
  if (base === undefined) return null;
  const jittered = base * 1000 * (0.8 + 0.4 * random);
  return Math.round(Math.max(jittered, (retryAfterSeconds ?? 0) * 1000));
}

export function validateRetrySchedule(schedule: readonly number[]): string | null {
  if (schedule.length > MAX_RETRIES) return `at most ${MAX_RETRIES} retries`;
  for (const s of schedule) {
    if (!Number.isInteger(s) || s < 0 || s > MAX_RETRY_DELAY_SECONDS) return `each delay must be a whole number of seconds from 0 to ${MAX_RETRY_DELAY_SECONDS}`;
  }
  return null;
}
