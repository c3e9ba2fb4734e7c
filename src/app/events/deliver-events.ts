import { cronSlots } from '../../domain/cron.ts';
import {
  classifyAttempt, envelopeOf, nextRetryDelayMs, parseRetryAfter, type AttemptOutcome, type DeliveryStatus, type DisabledReason, type EventHook,
} from '../../domain/event-hook.ts';
import { DEFAULT_EVENT_SETTINGS, type AppDeps } from '../deps.ts';
import { signingKeys } from '../email-accounts.ts';
import { adminIds, notify } from '../notifications.ts';
import type { ExecutorRun } from '../ports/executor-runner.ts';
import { continueTrace } from '../trace-context.ts';
import { eventHookVersion, type ClaimedDelivery, type DeliveryResult, type SealedHookSecrets } from '../ports/store.ts';

const RESPONSE_EXCERPT = 500;

/** Where a claimed delivery goes: the hook, and its signing secrets opened once per batch. */
export interface DeliveryTarget {
  hook: EventHook;
  sealed: SealedHookSecrets;
  signing?: string[];
}

export interface ClaimedBatch {
  deliveries: ClaimedDelivery[];
  hooks: Map<number, DeliveryTarget>;
}

/**
 * Hooks a worker read recently, so a busy worker does not read and open them for every claim. An
 * entry serves only while the claim, in the database, finds the hook at the same version (a new
 * executor or a rotated secret, by any process, is read at the next claim), and for at most
 * `maxAgeMs`; whether a hook is enabled is decided by the claim itself.
 */
export interface HookCache {
  maxAgeMs: number;
  entries: Map<number, { target: DeliveryTarget; version: string; readAt: number }>;
}

/** Leases up to `limit` due deliveries for `holder`, with the hooks they go to. */
export async function claimDeliveries(deps: AppDeps, holder: string, limit: number, leaseMs: number, cache?: HookCache): Promise<ClaimedBatch> {
  const now = deps.clock.now();
  const deliveries = await deps.store.deliveries.claim(now.toISOString(), new Date(now.getTime() + leaseMs).toISOString(), holder, limit);
  const claimedVersion = new Map(deliveries.map((d) => [d.delivery.hookId, d.hookVersion]));
  const wanted = [...claimedVersion.keys()];
  const hooks = new Map<number, DeliveryTarget>();
  const fresh = (id: number) => {
    const hit = cache?.entries.get(id);
    return hit && hit.version === claimedVersion.get(id) && Date.now() - hit.readAt < cache!.maxAgeMs ? hit.target : null;
  };
  for (const id of wanted) {
    const target = fresh(id);
    if (target) hooks.set(id, target);
  }
  const missing = wanted.filter((id) => !hooks.has(id));
  const found = missing.length ? await deps.store.eventHooks.getMany(missing) : [];
  for (const [id, target] of found.map((h) => {
    // A secret that does not open fails that hook's attempts (below), never the whole batch.
    let signing: string[] | undefined;
    try {
      signing = signingKeys(deps, h.sealed);
    } catch {
      signing = undefined;
    }
    return [h.hook.id, { ...h, ...(signing ? { signing } : {}) }] as const;
  })) {
    hooks.set(id, target);
    cache?.entries.set(id, { target, version: eventHookVersion(target.hook.modifiedAt, target.sealed.signingSecret), readAt: Date.now() });
  }
  return { deliveries: await withinHookLimits(deps, holder, deliveries, hooks), hooks };
}

/** How far ahead a claim reserves start slots under a hook's `ratePerSecond`; the rest wait for a later claim. */
const RATE_HORIZON_MS = 5_000;

/**
 * Keeps of a claimed batch what each hook's `maxInFlight` and `ratePerSecond` allow, across all
 * workers, and gives the rest back at once: they stay pending and are claimed again (they wait,
 * they never fail for it). Each worker counts the others' leases after its own claim committed,
 * so of two racing workers the later one sees the earlier one's: together they stay within the
 * limit. Kept deliveries under a rate get the start time of their slot (`notBefore`).
 */
async function withinHookLimits(deps: AppDeps, holder: string, claimed: ClaimedDelivery[], hooks: Map<number, DeliveryTarget>): Promise<ClaimedDelivery[]> {
  const limited = claimed.filter((c) => {
    const hook = hooks.get(c.delivery.hookId)?.hook;
    return hook && (hook.maxInFlight !== null || hook.ratePerSecond !== null);
  });
  if (limited.length === 0) return claimed;
  const now = deps.clock.now();
  const released: number[] = [];
  const byHook = new Map<number, ClaimedDelivery[]>();
  for (const c of limited) byHook.set(c.delivery.hookId, [...(byHook.get(c.delivery.hookId) ?? []), c]);
  for (const [hookId, group] of byHook) {
    const hook = hooks.get(hookId)!.hook;
    let kept = group;
    if (hook.maxInFlight !== null) {
      // Counted after the claim: a pause a receiver asked for meanwhile is seen here too.
      const state = await deps.store.deliveries.limitState(hookId, now.toISOString(), group.map((c) => c.delivery.id));
      const allowed = state.paused ? 0 : Math.max(0, hook.maxInFlight - state.leased);
      released.push(...kept.slice(allowed).map((c) => c.delivery.id));
      kept = kept.slice(0, allowed);
    }
    if (hook.ratePerSecond !== null && kept.length > 0) {
      const interval = 1000 / hook.ratePerSecond;
      const count = kept.length;
      const slots = await deps.store.transaction((tx) => tx.eventHooks.reserveSlots(hookId, count, interval, now.toISOString(), RATE_HORIZON_MS));
      released.push(...kept.slice(slots.granted).map((c) => c.delivery.id));
      kept = kept.slice(0, slots.granted);
      const start = Date.parse(slots.start);
      kept.forEach((c, i) => { c.notBefore = start + i * interval; });
    }
  }
  if (released.length === 0) return claimed;
  await deps.store.deliveries.release(released, holder);
  const given = new Set(released);
  return claimed.filter((c) => !given.has(c.delivery.id));
}

const DISABLED_MESSAGES: Record<Exclude<DisabledReason, 'manual'>, string> = {
  gone: 'its receiver answered 410 Gone',
  failing: 'every delivery has failed for too long',
};

/** One attempt's outcome, ready to be recorded (with others that finished at the same time). */
export interface AttemptReport {
  hook: EventHook;
  outcome: AttemptOutcome;
  result: DeliveryResult;
  /** How long the attempt waited for its slot under the hook's ratePerSecond. */
  throttledMs?: number;
  /** For a 429/503 with Retry-After: until when every delivery to the hook pauses. */
  pauseUntil?: string;
}

/**
 * One attempt of one claimed delivery: runs the hook's executor with the event's envelope, signed
 * with `webhook-id` = event id, and works out what follows (success, a retry on the schedule, or
 * the end). Never throws for a failure of the receiver; that is the attempt's outcome, kept on the
 * delivery and never shown to whoever caused the event.
 */
export async function attemptDelivery(deps: AppDeps, claimed: ClaimedDelivery, target: DeliveryTarget, holder: string): Promise<AttemptReport> {
  const settings = deps.events ?? DEFAULT_EVENT_SETTINGS;
  const { delivery, event } = claimed;
  const { hook } = target;
  // A slot under the hook's ratePerSecond: wait for it (time spent throttled).
  const wait = claimed.notBefore === undefined ? 0 : claimed.notBefore - deps.clock.now().getTime();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const startedAt = deps.clock.now();
  let secrets: string[] | null;
  try {
    secrets = target.signing ?? signingKeys(deps, target.sealed);
  } catch {
    secrets = null;
  }
  const run: ExecutorRun = secrets
    ? await deps.executors.run(hook.executor, envelopeOf(event), {
      timeoutMs: settings.timeoutMs, signing: { id: event.id, secrets }, cacheScope: `eventHook:${hook.id}`, lane: 'background',
      // Each attempt is a span of the trace of the step that wrote the event (a new trace for one written outside any).
      trace: continueTrace(claimed.trace?.traceparent, claimed.trace?.tracestate),
    })
    : {
      ok: false, status: null, logs: [], durationMs: 0,
      error: { code: 'secret_unavailable', message: 'the hook\'s signing secret cannot be opened with this process\'s secret key' },
      trace: { executor: hook.executor.type, target: null, ok: false, durationMs: 0, status: null, error: null, logs: [], input: '', output: null },
    };
  const now = deps.clock.now();
  const outcome = classifyAttempt(run);
  const attempt = delivery.attemptCount + 1;
  let status: DeliveryStatus = 'pending';
  let nextAttemptAt: string | null = null;
  let pauseUntil: string | undefined;
  if (outcome === 'succeeded') status = 'succeeded';
  else if (outcome === 'gone') status = 'failed';
  else {
    const retryAfter = outcome === 'throttled' ? parseRetryAfter(run.retryAfter, now) : null;
    // The receiver asked for a pause: it holds back the whole hook, not just this delivery.
    if (retryAfter !== null) pauseUntil = new Date(now.getTime() + retryAfter * 1000).toISOString();
    const delay = nextRetryDelayMs(hook.retryScheduleSeconds, attempt, Math.random(), retryAfter);
    if (delay === null) status = 'failed';
    else nextAttemptAt = new Date(now.getTime() + delay).toISOString();
  }
  const error = outcome === 'succeeded' ? null : run.error ?? { code: 'http_status', message: `answered ${run.status}` };
  // A 2xx that is not JSON is still a success; its excerpt is then the executor's message about the body.
  const response = run.ok ? JSON.stringify(run.output ?? null).slice(0, RESPONSE_EXCERPT) : (run.error?.message ?? '').slice(0, RESPONSE_EXCERPT) || null;
  const at = now.toISOString();
  return {
    hook,
    outcome,
    ...(wait > 0 ? { throttledMs: wait } : {}),
    ...(pauseUntil ? { pauseUntil } : {}),
    result: {
      deliveryId: delivery.id,
      attempt: { attempt, outcome, status: run.status, durationMs: run.durationMs, error, response, worker: holder, startedAt: startedAt.toISOString() },
      status, nextAttemptAt, lastError: error ? `${error.code}: ${error.message}`.slice(0, RESPONSE_EXCERPT) : null,
      completedAt: status === 'pending' ? null : at,
    },
  };
}

/**
 * Records attempts that finished together in one transaction, and what they mean for their
 * hooks: a success keeps a hook healthy; 410 disables it; failures with no success in between
 * for longer than the configured time disable it. The owner is told of a disabled hook.
 */
export async function recordAttempts(deps: AppDeps, reports: AttemptReport[], holder: string): Promise<void> {
  if (!reports.length) return;
  const settings = deps.events ?? DEFAULT_EVENT_SETTINGS;
  const now = deps.clock.now();
  const at = now.toISOString();
  const byHook = new Map<number, AttemptReport[]>();
  for (const r of reports) byHook.set(r.hook.id, [...(byHook.get(r.hook.id) ?? []), r]);
  // A healthy hook that succeeded within the last minute needs no write (it was read with the claim).
  const healthy = (hook: EventHook) => hook.failingSince === null && hook.lastSuccessAt !== null && now.getTime() - Date.parse(hook.lastSuccessAt) < 60_000;
  for (const [hookId, own] of byHook) {
    const waited = own.reduce((sum, r) => sum + (r.throttledMs ?? 0), 0);
    const pause = own.map((r) => r.pauseUntil).filter((p): p is string => p !== undefined).sort().at(-1);
    if (pause) await deps.store.eventHooks.throttle(hookId, pause);
    const paused = pause ? Math.max(0, Date.parse(pause) - now.getTime()) : 0;
    if (waited + paused > 0) await deps.store.eventHooks.addThrottledMs(hookId, waited + paused);
  }
  if (reports.every((r) => r.outcome === 'succeeded' && healthy(r.hook))) {
    await deps.store.deliveries.recordSucceeded(reports.map((r) => r.result), holder);
    return;
  }
  const disabled: Array<{ hook: EventHook; reason: Exclude<DisabledReason, 'manual'>; cancelled: number; error: string | null }> = [];
  await deps.store.transaction(async (tx) => {
    await tx.deliveries.recordMany(reports.map((r) => r.result), holder);
    for (const [hookId, own] of byHook) {
      const hook = own[0]!.hook;
      const lastError = own.findLast((r) => r.outcome !== 'succeeded')?.result.attempt.error?.message ?? null;
      let reason: Exclude<DisabledReason, 'manual'> | null = null;
      if (own.some((r) => r.outcome === 'gone')) {
        if (await tx.eventHooks.disable(hookId, 'gone', at)) reason = 'gone';
      } else if (own.some((r) => r.outcome === 'succeeded')) {
        if (!healthy(hook)) await tx.eventHooks.markSucceeded(hookId, at);
      } else {
        await tx.eventHooks.markFailing(hookId, at);
        const cutoff = new Date(now.getTime() - settings.disableAfterHours * 3_600_000).toISOString();
        if (await tx.eventHooks.disable(hookId, 'failing', at, cutoff)) reason = 'failing';
      }
      if (reason) disabled.push({ hook, reason, cancelled: await tx.deliveries.cancelPending(hookId, at), error: lastError });
    }
  });
  for (const { hook, reason, cancelled, error } of disabled) {
    deps.logger.warn({ hookId: hook.id, reason, cancelled }, 'event hook disabled');
    const owner = hook.ownerUserId !== null ? await deps.store.users.get(hook.ownerUserId) : null;
    // A hook created with a service user's key is told to the admins: nobody reads a service user's notifications.
    const to = owner && !owner.disabled && !owner.service ? [owner.id] : await adminIds(deps.store);
    await notify(deps, to, {
      kind: 'event_hook_disabled',
      message: `Event hook "${hook.name}" was disabled: ${DISABLED_MESSAGES[reason]} (last error: ${error?.slice(0, 200) ?? 'none'}). `
        + `${cancelled} queued deliveries were set aside; enabling it again offers to replay everything it missed.`,
      ticketId: null,
      link: `/settings/event-hooks/${hook.id}`,
    });
  }
}

/** One attempt, recorded on its own. */
export async function deliverClaimed(deps: AppDeps, claimed: ClaimedDelivery, target: DeliveryTarget, holder: string): Promise<AttemptOutcome> {
  const report = await attemptDelivery(deps, claimed, target, holder);
  await recordAttempts(deps, [report], holder);
  return report.outcome;
}

/** Publishes the Cron* events whose period has begun; each period once, however many workers call this. */
export async function publishDueCronEvents(deps: AppDeps): Promise<string[]> {
  const settings = deps.events ?? DEFAULT_EVENT_SETTINGS;
  const now = deps.clock.now();
  const fired: string[] = [];
  for (const slot of cronSlots(now, settings.cronTimeZone)) {
    const written = await deps.store.transaction((tx) => tx.events.appendOnce({
      id: deps.ids.eventId(), type: slot.type, ticketId: null, userId: null,
      data: { scheduledFor: slot.scheduledFor, timeZone: settings.cronTimeZone }, createdAt: now.toISOString(),
    }, slot.key));
    if (written) fired.push(slot.key);
  }
  return fired;
}

export interface Retention {
  eventDays: number;
  deliveryDays: number;
}

/** Deletes finished deliveries (with their attempts) and events past retention; events still queued are kept. */
export async function pruneEventHistory(deps: AppDeps, retention: Retention): Promise<{ deliveries: number; events: number }> {
  const now = deps.clock.now().getTime();
  const deliveries = await deps.store.deliveries.prune(new Date(now - retention.deliveryDays * 86_400_000).toISOString());
  const events = await deps.store.events.prune(new Date(now - retention.eventDays * 86_400_000).toISOString());
  return { deliveries, events };
}
