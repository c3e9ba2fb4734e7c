import { cronSlots } from '../../domain/cron.ts';
import {
  classifyAttempt, envelopeOf, nextRetryDelayMs, parseRetryAfter, type AttemptOutcome, type DeliveryStatus, type DisabledReason, type EventHook,
} from '../../domain/event-hook.ts';
import { DEFAULT_EVENT_SETTINGS, type AppDeps } from '../deps.ts';
import { openSigningSecrets } from '../email-accounts.ts';
import { adminIds, notify } from '../notifications.ts';
import type { ClaimedDelivery, SealedHookSecrets } from '../ports/store.ts';

const RESPONSE_EXCERPT = 500;

export interface ClaimedBatch {
  deliveries: ClaimedDelivery[];
  hooks: Map<number, { hook: EventHook; sealed: SealedHookSecrets }>;
}

/** Leases up to `limit` due deliveries for `holder`, with the hooks they go to. */
export async function claimDeliveries(deps: AppDeps, holder: string, limit: number, leaseMs: number): Promise<ClaimedBatch> {
  const now = deps.clock.now();
  const deliveries = await deps.store.deliveries.claim(now.toISOString(), new Date(now.getTime() + leaseMs).toISOString(), holder, limit);
  const hooks = new Map((await deps.store.eventHooks.getMany([...new Set(deliveries.map((d) => d.delivery.hookId))])).map((h) => [h.hook.id, h]));
  return { deliveries, hooks };
}

const DISABLED_MESSAGES: Record<Exclude<DisabledReason, 'manual'>, string> = {
  gone: 'its receiver answered 410 Gone',
  failing: 'every delivery has failed for too long',
};

/**
 * One attempt of one claimed delivery: runs the hook's executor with the event's envelope, signed
 * with `webhook-id` = event id, and records the attempt and what follows from it (success, a retry
 * on the schedule, or the end). Never throws for a failure of the receiver; that is the attempt's
 * outcome, kept on the delivery and never shown to whoever caused the event.
 */
export async function deliverClaimed(
  deps: AppDeps,
  claimed: ClaimedDelivery,
  target: { hook: EventHook; sealed: SealedHookSecrets },
  holder: string,
): Promise<AttemptOutcome> {
  const settings = deps.events ?? DEFAULT_EVENT_SETTINGS;
  const { delivery, event } = claimed;
  const { hook } = target;
  const secrets = openSigningSecrets(deps, target.sealed);
  const startedAt = deps.clock.now();
  const run = await deps.executors.run(hook.executor, envelopeOf(event), {
    timeoutMs: settings.timeoutMs,
    signing: { id: event.id, secrets: [secrets.signingSecret, ...(secrets.previousSigningSecret ? [secrets.previousSigningSecret] : [])] },
    cacheScope: `eventHook:${hook.id}`,
  });
  const now = deps.clock.now();
  const outcome = classifyAttempt(run);
  const attempt = delivery.attemptCount + 1;
  let status: DeliveryStatus = 'pending';
  let nextAttemptAt: string | null = null;
  if (outcome === 'succeeded') status = 'succeeded';
  else if (outcome === 'gone') status = 'failed';
  else {
    const retryAfter = outcome === 'throttled' ? parseRetryAfter(run.retryAfter, now) : null;
    const delay = nextRetryDelayMs(hook.retryScheduleSeconds, attempt, Math.random(), retryAfter);
    if (delay === null) status = 'failed';
    else nextAttemptAt = new Date(now.getTime() + delay).toISOString();
  }
  const error = outcome === 'succeeded' ? null : run.error ?? { code: 'http_status', message: `answered ${run.status}` };
  const response = outcome === 'succeeded'
    ? (run.output === undefined ? null : JSON.stringify(run.output).slice(0, RESPONSE_EXCERPT))
    : error!.message.slice(0, RESPONSE_EXCERPT);
  const at = now.toISOString();

  let disabled: Exclude<DisabledReason, 'manual'> | null = null;
  let cancelled = 0;
  await deps.store.transaction(async (tx) => {
    await tx.deliveries.record({
      deliveryId: delivery.id,
      attempt: { attempt, outcome, status: run.status, durationMs: run.durationMs, error, response, worker: holder, startedAt: startedAt.toISOString() },
      status, nextAttemptAt, lastError: error ? `${error.code}: ${error.message}`.slice(0, RESPONSE_EXCERPT) : null,
      completedAt: status === 'pending' ? null : at,
    }, holder);
    if (outcome === 'succeeded') {
      await tx.eventHooks.markSucceeded(hook.id, at);
      return;
    }
    if (outcome === 'gone') {
      if (await tx.eventHooks.disable(hook.id, 'gone', at)) disabled = 'gone';
    } else {
      await tx.eventHooks.markFailing(hook.id, at);
      const cutoff = new Date(now.getTime() - settings.disableAfterHours * 3_600_000).toISOString();
      if (await tx.eventHooks.disable(hook.id, 'failing', at, cutoff)) disabled = 'failing';
    }
    if (disabled) cancelled = await tx.deliveries.cancelPending(hook.id, at);
  });
  if (disabled) {
    deps.logger.warn({ hookId: hook.id, reason: disabled, cancelled }, 'event hook disabled');
    const owner = hook.ownerUserId !== null ? await deps.store.users.get(hook.ownerUserId) : null;
    const to = owner && !owner.disabled ? [owner.id] : await adminIds(deps.store);
    await notify(deps, to, {
      kind: 'event_hook_disabled',
      message: `Event hook "${hook.name}" was disabled: ${DISABLED_MESSAGES[disabled]} (last error: ${error?.message.slice(0, 200) ?? 'none'}). `
        + `${cancelled} queued deliveries were set aside; enabling it again offers to replay everything it missed.`,
      ticketId: null,
      link: `/settings/event-hooks/${hook.id}`,
    });
  }
  return outcome;
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
