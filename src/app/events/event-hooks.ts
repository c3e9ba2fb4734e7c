import type { EventType } from '../../domain/event.ts';
import {
  DEFAULT_RETRY_SCHEDULE_SECONDS, validateRetrySchedule, type EventHook, type OrderingKey,
} from '../../domain/event-hook.ts';
import type { Executor } from '../../domain/executor.ts';
import type { AppDeps } from '../deps.ts';
import { newSigningSecret, openSigningSecrets, SIGNING_SECRET_OVERLAP_MS, type SigningSecrets } from '../email-accounts.ts';
import { AppError, notFound } from '../errors.ts';
import type { Page, PageRequest, SealedHookSecrets, Store } from '../ports/store.ts';
import { checkExecutorsOnSave } from '../executor-check.ts';
import { eventHookScope, getHookVersion, recordHookVersion } from '../webhooks/hook-versions.ts';

export interface EventHookInput {
  name: string;
  events: EventType[];
  executor: Executor;
  enabled?: boolean;
  orderingKey?: OrderingKey;
  retryScheduleSeconds?: number[];
  /** Concurrent deliveries at most (null: no limit). */
  maxInFlight?: number | null;
  /** Deliveries started per second at most (null: no limit). */
  ratePerSecond?: number | null;
  /** `whsec_…` to keep a secret receivers already know; generated when left out. */
  signingSecret?: string;
}

const WHSEC = /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/;

function invalid(field: string, message: string): AppError {
  return new AppError('validation_failed', `${field} ${message}`, { errors: [{ field, message }] });
}

function check(input: Partial<EventHookInput>): void {
  if (input.events !== undefined && input.events.length === 0) throw invalid('events', 'must name at least one event type');
  if (input.retryScheduleSeconds !== undefined) {
    const problem = validateRetrySchedule(input.retryScheduleSeconds);
    if (problem) throw invalid('retryScheduleSeconds', problem);
  }
  if (input.signingSecret !== undefined) {
    const bytes = WHSEC.test(input.signingSecret) ? Buffer.from(input.signingSecret.slice(6), 'base64').length : 0;
    if (bytes < 24 || bytes > 64) throw invalid('signingSecret', 'must be `whsec_` followed by base64 of 24 to 64 bytes');
  }
}

async function load(deps: AppDeps, id: number): Promise<{ hook: EventHook; sealed: SealedHookSecrets }> {
  const found = await deps.store.eventHooks.get(id);
  if (!found) throw notFound('event hook', id);
  return found;
}

export async function createEventHook(deps: AppDeps, input: EventHookInput, ownerUserId: number | null): Promise<EventHook> {
  check(input);
  await checkExecutorsOnSave(deps, [['executor', input.executor]]);
  const now = deps.clock.now().toISOString();
  const enabled = input.enabled ?? true;
  return deps.store.transaction(async (tx) => {
    const hook = await insertHook(tx, deps, input, ownerUserId, enabled, now);
    await recordHookVersion(tx, deps, eventHookScope(hook.id), hook.executor, ownerUserId);
    return hook;
  });
}

function insertHook(tx: Store, deps: AppDeps, input: EventHookInput, ownerUserId: number | null, enabled: boolean, now: string): Promise<EventHook> {
  return tx.eventHooks.insert({
    name: input.name, events: [...new Set(input.events)], executor: input.executor, enabled,
    orderingKey: input.orderingKey ?? 'none', retryScheduleSeconds: input.retryScheduleSeconds ?? [...DEFAULT_RETRY_SCHEDULE_SECONDS],
    maxInFlight: input.maxInFlight ?? null, ratePerSecond: input.ratePerSecond ?? null,
    ownerUserId, disabledReason: enabled ? null : 'manual', disabledAt: enabled ? null : now, failingSince: null, lastSuccessAt: null,
    createdAt: now, modifiedAt: now,
  }, { signingSecret: deps.secretBox.seal(input.signingSecret ?? newSigningSecret(deps)), previousSigningSecret: null, previousSigningSecretExpiresAt: null });
}

export async function getEventHook(deps: AppDeps, id: number): Promise<EventHook> {
  return (await load(deps, id)).hook;
}

export function listEventHooks(deps: AppDeps, page: PageRequest): Promise<Page<EventHook>> {
  return deps.store.eventHooks.list(page);
}

/**
 * Changes a hook. Turning it off cancels what it still had queued; turning it on starts afresh
 * (use `enableEventHook` to also replay what it missed meanwhile).
 */
export async function updateEventHook(deps: AppDeps, id: number, patch: Partial<EventHookInput>, actorId: number | null = null, note: string | null = null): Promise<EventHook> {
  check(patch);
  await checkExecutorsOnSave(deps, [['executor', patch.executor]]);
  const { signingSecret, ...fields } = patch;
  const now = deps.clock.now().toISOString();
  return deps.store.transaction(async (tx) => {
    const found = await tx.eventHooks.get(id);
    if (!found) throw notFound('event hook', id);
    const before = found.hook;
    const hook: EventHook = { ...before, ...fields, ...(fields.events ? { events: [...new Set(fields.events)] } : {}), modifiedAt: now };
    if (before.enabled && hook.enabled === false) {
      Object.assign(hook, { disabledReason: 'manual', disabledAt: now });
      await tx.deliveries.cancelPending(id, now);
    } else if (!before.enabled && hook.enabled) {
      Object.assign(hook, { disabledReason: null, disabledAt: null, failingSince: null });
    }
    const sealed = signingSecret !== undefined
      ? { signingSecret: deps.secretBox.seal(signingSecret), previousSigningSecret: found.sealed.signingSecret, previousSigningSecretExpiresAt: new Date(Date.parse(now) + SIGNING_SECRET_OVERLAP_MS).toISOString() }
      : undefined;
    await tx.eventHooks.update(hook, sealed);
    if (fields.executor !== undefined) await recordHookVersion(tx, deps, eventHookScope(id), hook.executor, actorId, note);
    return hook;
  });
}

/** Makes an earlier version the hook's executor again; it is checked and kept as a new version. */
export async function rollbackEventHook(deps: AppDeps, id: number, version: number, actorId: number | null): Promise<EventHook> {
  await load(deps, id);
  const old = await getHookVersion(deps, eventHookScope(id), version);
  if (!old.executor) throw notFound('hook version with an executor', version);
  return updateEventHook(deps, id, { executor: old.executor }, actorId, `rollback to version ${version}`);
}

export async function deleteEventHook(deps: AppDeps, id: number): Promise<void> {
  if (!(await deps.store.eventHooks.delete(id))) throw notFound('event hook', id);
}

export async function revealEventHookSecret(deps: AppDeps, id: number): Promise<SigningSecrets> {
  return openSigningSecrets(deps, (await load(deps, id)).sealed);
}

/** A new secret; deliveries are signed with both for 24 hours so receivers can switch over. */
export async function rotateEventHookSecret(deps: AppDeps, id: number): Promise<SigningSecrets> {
  const { hook, sealed } = await load(deps, id);
  const now = deps.clock.now();
  await deps.store.eventHooks.update({ ...hook, modifiedAt: now.toISOString() }, {
    signingSecret: deps.secretBox.seal(newSigningSecret(deps)),
    previousSigningSecret: sealed.signingSecret,
    previousSigningSecretExpiresAt: new Date(now.getTime() + SIGNING_SECRET_OVERLAP_MS).toISOString(),
  });
  return revealEventHookSecret(deps, id);
}

/**
 * Since when a hook may have missed events: its last success (or its creation), when it is failing
 * or disabled; null when it is healthy. Events it did receive are filtered out by the query.
 */
function missingSince(hook: EventHook): string | null {
  if (hook.enabled && !hook.failingSince) return null;
  return hook.lastSuccessAt ?? hook.createdAt;
}

export interface MissedEvents {
  since: string | null;
  /** Events of the hook's types since then that it neither received nor still has queued. */
  count: number;
}

export async function countMissedEvents(deps: AppDeps, id: number): Promise<MissedEvents> {
  const { hook } = await load(deps, id);
  const since = missingSince(hook);
  if (!since) return { since: null, count: 0 };
  return { since, count: await deps.store.deliveries.count(id, { types: hook.events, since, onlyMissed: true }) };
}

/** Enables a hook and, when asked, queues everything it missed while failing or disabled, oldest first. */
export async function enableEventHook(deps: AppDeps, id: number, options: { replayMissed: boolean }): Promise<{ hook: EventHook; replayed: number }> {
  const now = deps.clock.now().toISOString();
  return deps.store.transaction(async (tx) => {
    const found = await tx.eventHooks.get(id);
    if (!found) throw notFound('event hook', id);
    const since = missingSince(found.hook);
    const hook: EventHook = { ...found.hook, enabled: true, disabledReason: null, disabledAt: null, failingSince: null, modifiedAt: now };
    await tx.eventHooks.update(hook);
    const replayed = options.replayMissed && since
      ? await tx.deliveries.enqueue(hook, { types: hook.events, since, onlyMissed: true }, now)
      : 0;
    return { hook, replayed };
  });
}

export interface ReplayRange {
  since: string;
  until?: string;
  /** Defaults to the hook's types. */
  types?: EventType[];
  /** Only events the hook has not received (and has not queued). */
  onlyMissed?: boolean;
  /** Count, queue nothing. */
  dryRun?: boolean;
}

/** Queues again, for one hook, every event of a time range: the way to recover after an outage of the receiver. */
export async function replayRange(deps: AppDeps, id: number, range: ReplayRange): Promise<{ count: number; replayed: number }> {
  const { hook } = await load(deps, id);
  if (range.until && range.until <= range.since) throw invalid('until', 'must be after since');
  const selection = { types: range.types ?? hook.events, since: range.since, ...(range.until ? { until: range.until } : {}), onlyMissed: range.onlyMissed ?? false };
  if (range.dryRun) return { count: await deps.store.deliveries.count(id, selection), replayed: 0 };
  if (!hook.enabled) throw new AppError('conflict', `event hook ${id} is disabled; enable it first (it can replay what it missed then)`);
  const replayed = await deps.store.deliveries.enqueue(hook, selection, deps.clock.now().toISOString());
  return { count: replayed, replayed };
}

/** Queues one event again to one hook, or to every enabled hook subscribed to its type. */
export async function replayEvent(deps: AppDeps, eventId: string, hookId: number | null): Promise<{ hooks: number[]; replayed: number }> {
  const event = await deps.store.events.get(eventId);
  if (!event) throw notFound('event', eventId);
  let hooks: EventHook[];
  if (hookId !== null) {
    const { hook } = await load(deps, hookId);
    if (!hook.enabled) throw new AppError('conflict', `event hook ${hookId} is disabled; enable it first`);
    hooks = [hook];
  } else {
    hooks = [];
    for (let cursor: string | null = null; ;) {
      const page = await deps.store.eventHooks.list({ limit: 200, cursor });
      hooks.push(...page.items.filter((h) => h.enabled && h.events.includes(event.type)));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
  }
  const now = deps.clock.now().toISOString();
  let replayed = 0;
  await deps.store.transaction(async (tx) => {
    for (const hook of hooks) replayed += await tx.deliveries.enqueue(hook, { types: [event.type], eventId }, now);
  });
  return { hooks: hooks.map((h) => h.id), replayed };
}
