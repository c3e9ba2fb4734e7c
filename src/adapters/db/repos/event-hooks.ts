import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import {
  eventHookVersion, type ClaimedDelivery, type DeliveryAttempt, type DeliveryFilter, type DeliveryResult, type EventDelivery, type EventDeliveryStore, type EventHookStore,
  type EventSelection, type Page, type PageRequest, type SealedHookSecrets, type StoredTrace,
} from '../../../app/ports/store.ts';
import type { DomainEvent, EventType } from '../../../domain/event.ts';
import type { AttemptOutcome, DeliveryStatus, DisabledReason, EventHook, OrderingKey } from '../../../domain/event-hook.ts';
import type { Executor } from '../../../domain/executor.ts';
import type { Capabilities } from '../dialect.ts';
import type { Database, EventDeliveriesTable, EventHooksTable, EventsTable } from '../schema.ts';
import { cursorAfter, pageOf } from './paging.ts';
import { bool, flag, iso, isoOrNull, json, jsonOrNull, toJson } from '../values.ts';

type Db = Kysely<Database> | Transaction<Database>;

function toHook(r: Selectable<EventHooksTable>): { hook: EventHook; sealed: SealedHookSecrets } {
  return {
    hook: {
      id: r.id, name: r.name, events: json<EventType[]>(r.events), executor: json<Executor>(r.executor), enabled: bool(r.enabled),
      orderingKey: r.ordering_key as OrderingKey, retryScheduleSeconds: json<number[]>(r.retry_schedule), ownerUserId: r.owner_user_id,
      disabledReason: r.disabled_reason as DisabledReason | null, disabledAt: isoOrNull(r.disabled_at), failingSince: isoOrNull(r.failing_since),
      lastSuccessAt: isoOrNull(r.last_success_at), createdAt: iso(r.created_at), modifiedAt: iso(r.modified_at),
      maxInFlight: r.max_in_flight, ratePerSecond: r.rate_per_second === null ? null : Number(r.rate_per_second),
      throttledUntil: isoOrNull(r.throttled_until), throttledMs: Number(r.throttled_ms),
    },
    sealed: {
      signingSecret: r.signing_secret, previousSigningSecret: r.previous_signing_secret,
      previousSigningSecretExpiresAt: isoOrNull(r.previous_signing_secret_expires_at),
    },
  };
}

function traceOf(traceparent: string | null, tracestate: string | null): StoredTrace | null {
  return traceparent ? { traceparent, tracestate } : null;
}

export function toEvent(r: Selectable<EventsTable>): DomainEvent {
  return { id: r.id, type: r.type as EventType, ticketId: r.ticket_id, userId: r.user_id, data: json<Record<string, unknown>>(r.data), createdAt: iso(r.created_at) };
}

function toDelivery(r: Selectable<EventDeliveriesTable>): EventDelivery {
  return {
    id: r.id, eventId: r.event_id, eventType: r.event_type as EventType, hookId: r.hook_id, ticketId: r.ticket_id, status: r.status as DeliveryStatus,
    attemptCount: r.attempts, nextAttemptAt: isoOrNull(r.next_attempt_at), lastError: r.last_error, replay: bool(r.replay),
    createdAt: iso(r.created_at), completedAt: isoOrNull(r.completed_at),
  };
}

const CHUNK = 500;

function attemptRows(results: DeliveryResult[]) {
  return results.map(({ deliveryId, attempt: a }) => ({
    delivery_id: deliveryId, attempt: a.attempt, outcome: a.outcome, status: a.status, duration_ms: a.durationMs,
    error: a.error ? toJson(a.error) : null, response: a.response, worker: a.worker, started_at: a.startedAt,
  }));
}

/**
 * The fan-out of the outbox: one pending delivery per enabled hook subscribed to each event's
 * type, written with the events (so in the same transaction as the change).
 */
export async function fanOut(db: Db, events: Array<Pick<DomainEvent, 'id' | 'type' | 'ticketId' | 'createdAt'>>): Promise<void> {
  if (!events.length) return;
  const types = [...new Set(events.map((e) => e.type))];
  const subscribed = await db.selectFrom('event_hook_types as t').innerJoin('event_hooks as h', 'h.id', 't.hook_id')
    .select(['t.type', 'h.id', 'h.ordering_key']).where('t.type', 'in', types).where('h.enabled', '=', 1).execute();
  if (!subscribed.length) return;
  const rows = events.flatMap((e) => subscribed.filter((s) => s.type === e.type).map((s) => ({
    event_id: e.id, event_type: e.type, hook_id: s.id, ticket_id: e.ticketId,
    ordered: flag(s.ordering_key === 'ticket' && e.ticketId !== null), replay: 0, status: 'pending', attempts: 0,
    next_attempt_at: e.createdAt, created_at: e.createdAt,
  })));
  for (let i = 0; i < rows.length; i += CHUNK) await db.insertInto('event_deliveries').values(rows.slice(i, i + CHUNK)).execute();
}

export class EventHookRepo implements EventHookStore {
  constructor(private readonly db: Db, private readonly caps: Capabilities) {}

  private async setTypes(id: number, types: EventType[]): Promise<void> {
    await this.db.deleteFrom('event_hook_types').where('hook_id', '=', id).execute();
    if (types.length) await this.db.insertInto('event_hook_types').values([...new Set(types)].map((type) => ({ hook_id: id, type }))).execute();
  }

  private row(h: Omit<EventHook, 'id'>) {
    return {
      name: h.name, events: toJson(h.events), executor: toJson(h.executor), enabled: flag(h.enabled), ordering_key: h.orderingKey,
      retry_schedule: toJson(h.retryScheduleSeconds), owner_user_id: h.ownerUserId, disabled_reason: h.disabledReason, disabled_at: h.disabledAt,
      failing_since: h.failingSince, last_success_at: h.lastSuccessAt, created_at: h.createdAt, modified_at: h.modifiedAt,
      max_in_flight: h.maxInFlight, rate_per_second: h.ratePerSecond,
    };
  }

  private sealedRow(s: SealedHookSecrets) {
    return { signing_secret: s.signingSecret, previous_signing_secret: s.previousSigningSecret, previous_signing_secret_expires_at: s.previousSigningSecretExpiresAt };
  }

  async insert(h: Omit<EventHook, 'id'>, sealed: SealedHookSecrets): Promise<EventHook> {
    const r = await this.db.insertInto('event_hooks').values({ ...this.row(h), ...this.sealedRow(sealed) }).returning('id').executeTakeFirstOrThrow();
    await this.setTypes(r.id, h.events);
    return { ...h, id: r.id };
  }

  async get(id: number): Promise<{ hook: EventHook; sealed: SealedHookSecrets } | null> {
    const r = await this.db.selectFrom('event_hooks').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toHook(r) : null;
  }

  async getMany(ids: number[]): Promise<Array<{ hook: EventHook; sealed: SealedHookSecrets }>> {
    if (!ids.length) return [];
    return (await this.db.selectFrom('event_hooks').selectAll().where('id', 'in', ids).execute()).map(toHook);
  }

  async list(page: PageRequest): Promise<Page<EventHook>> {
    let q = this.db.selectFrom('event_hooks').selectAll();
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('id', '>', after);
    const rows = await q.orderBy('id').limit(page.limit + 1).execute();
    return pageOf(rows.map((r) => toHook(r).hook), page.limit);
  }

  async update(h: EventHook, sealed?: SealedHookSecrets): Promise<void> {
    const { created_at: _created, ...fields } = this.row(h);
    await this.db.updateTable('event_hooks').set({ ...fields, ...(sealed ? this.sealedRow(sealed) : {}) }).where('id', '=', h.id).execute();
    await this.setTypes(h.id, h.events);
  }

  async delete(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('event_hooks').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async markSucceeded(id: number, at: string): Promise<void> {
    const minuteAgo = new Date(Date.parse(at) - 60_000).toISOString();
    // Most successes change nothing: the WHERE keeps them from writing (and locking) the row.
    await this.db.updateTable('event_hooks').set({ failing_since: null, last_success_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('failing_since', 'is not', null), eb('last_success_at', 'is', null), eb('last_success_at', '<', minuteAgo)]))
      .execute();
  }

  async markFailing(id: number, at: string): Promise<string | null> {
    await this.db.updateTable('event_hooks').set({ failing_since: at }).where('id', '=', id).where('failing_since', 'is', null).execute();
    const r = await this.db.selectFrom('event_hooks').select('failing_since').where('id', '=', id).executeTakeFirst();
    return r ? isoOrNull(r.failing_since) : null;
  }

  async reserveSlots(id: number, count: number, intervalMs: number, now: string, horizonMs: number): Promise<{ start: string; granted: number }> {
    // Read and move the hook's next free slot in one step (the caller's transaction; a row lock on PostgreSQL).
    let q = this.db.selectFrom('event_hooks').select('next_slot_at').where('id', '=', id);
    if (this.caps.skipLocked) q = q.forUpdate();
    const r = await q.executeTakeFirst();
    const nowMs = Date.parse(now);
    const next = r?.next_slot_at ? Date.parse(iso(r.next_slot_at)) : nowMs;
    const start = Math.max(next, nowMs);
    const granted = start > nowMs + horizonMs ? 0 : Math.min(count, Math.floor((nowMs + horizonMs - start) / intervalMs) + 1);
    if (granted > 0) {
      await this.db.updateTable('event_hooks').set({ next_slot_at: new Date(start + granted * intervalMs).toISOString() }).where('id', '=', id).execute();
    }
    return { start: new Date(start).toISOString(), granted };
  }

  async throttle(id: number, until: string): Promise<void> {
    await this.db.updateTable('event_hooks').set({ throttled_until: until })
      .where('id', '=', id).where((eb) => eb.or([eb('throttled_until', 'is', null), eb('throttled_until', '<', until)])).execute();
  }

  async addThrottledMs(id: number, ms: number): Promise<void> {
    if (ms <= 0) return;
    await this.db.updateTable('event_hooks').set({ throttled_ms: sql<number>`throttled_ms + ${Math.round(ms)}` }).where('id', '=', id).execute();
  }

  async disable(id: number, reason: DisabledReason, at: string, failingBefore?: string): Promise<boolean> {
    let q = this.db.updateTable('event_hooks').set({ enabled: 0, disabled_reason: reason, disabled_at: at, modified_at: at })
      .where('id', '=', id).where('enabled', '=', 1);
    if (failingBefore) q = q.where('failing_since', '<=', failingBefore);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}

export class EventDeliveryRepo implements EventDeliveryStore {
  constructor(private readonly db: Db, private readonly caps: Capabilities) {}

  async limitState(hookId: number, now: string, except: readonly number[]): Promise<{ leased: number; paused: boolean }> {
    let q = this.db.selectFrom('event_deliveries').select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('hook_id', '=', hookId).where('status', '=', 'pending').where('locked_until', '>', now);
    if (except.length) q = q.where('id', 'not in', [...except]);
    const leased = Number((await q.executeTakeFirst())?.n ?? 0);
    const hook = await this.db.selectFrom('event_hooks').select('throttled_until').where('id', '=', hookId).executeTakeFirst();
    const until = hook?.throttled_until ? Date.parse(iso(hook.throttled_until)) : 0;
    return { leased, paused: until > Date.parse(now) };
  }

  async release(ids: readonly number[], holder: string): Promise<void> {
    for (let i = 0; i < ids.length; i += CHUNK) {
      await this.db.updateTable('event_deliveries').set({ locked_by: null, locked_until: null })
        .where('id', 'in', ids.slice(i, i + CHUNK)).where('locked_by', '=', holder).execute();
    }
  }

  async claim(now: string, lockUntil: string, holder: string, limit: number): Promise<ClaimedDelivery[]> {
    let pick = this.db.selectFrom('event_deliveries as d').select('d.id')
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('d.locked_until', 'is', null), eb('d.locked_until', '<', now)]))
      // Not while a receiver's Retry-After pauses the whole hook.
      .where('d.hook_id', 'in', (eb) => eb.selectFrom('event_hooks').select('id').where('enabled', '=', 1)
        .where((h) => h.or([h('throttled_until', 'is', null), h('throttled_until', '<=', now)])))
      // Per-ticket order: only the oldest pending delivery of a ticket is due for an ordered hook.
      .where((eb) => eb.or([
        eb('d.ordered', '=', 0),
        eb.not(eb.exists(eb.selectFrom('event_deliveries as p').select('p.id')
          .whereRef('p.hook_id', '=', 'd.hook_id').whereRef('p.ticket_id', '=', 'd.ticket_id')
          .where('p.ordered', '=', 1).where('p.status', '=', 'pending').whereRef('p.id', '<', 'd.id'))),
      ]))
      .orderBy('d.next_attempt_at').orderBy('d.id').limit(limit);
    if (this.caps.skipLocked) {
      pick = pick.forUpdate().skipLocked();
      // One round trip on PostgreSQL: lease the rows and read their events in the same statement.
      const joined = await this.db
        .with('claimed', (db) => db.updateTable('event_deliveries').set({ locked_by: holder, locked_until: lockUntil }).where('id', 'in', pick).returningAll())
        .selectFrom('claimed').innerJoin('events as e', 'e.id', 'claimed.event_id').innerJoin('event_hooks as h', 'h.id', 'claimed.hook_id')
        .selectAll('claimed')
        .select(['e.type as e_type', 'e.ticket_id as e_ticket_id', 'e.user_id as e_user_id', 'e.data as e_data', 'e.created_at as e_created_at'])
        .select(['e.traceparent as e_traceparent', 'e.tracestate as e_tracestate'])
        .select(['h.modified_at as h_modified_at', 'h.signing_secret as h_signing_secret'])
        .orderBy('claimed.id')
        .execute();
      return joined.map((r) => ({
        delivery: toDelivery(r),
        event: { id: r.event_id, type: r.e_type as EventType, ticketId: r.e_ticket_id, userId: r.e_user_id, data: json<Record<string, unknown>>(r.e_data), createdAt: iso(r.e_created_at) },
        hookVersion: eventHookVersion(iso(r.h_modified_at), r.h_signing_secret),
        trace: traceOf(r.e_traceparent, r.e_tracestate),
      }));
    }
    const rows = await this.db.updateTable('event_deliveries')
      .set({ locked_by: holder, locked_until: lockUntil })
      .where('id', 'in', pick)
      .returningAll()
      .execute();
    if (!rows.length) return [];
    const events = new Map<string, { event: DomainEvent; trace: StoredTrace | null }>();
    const ids = [...new Set(rows.map((r) => r.event_id))];
    for (let i = 0; i < ids.length; i += CHUNK) {
      for (const e of await this.db.selectFrom('events').selectAll().where('id', 'in', ids.slice(i, i + CHUNK)).execute()) {
        events.set(e.id, { event: toEvent(e), trace: traceOf(e.traceparent, e.tracestate) });
      }
    }
    const versions = new Map<number, string>();
    const hookIds = [...new Set(rows.map((r) => r.hook_id))];
    for (const h of await this.db.selectFrom('event_hooks').select(['id', 'modified_at', 'signing_secret']).where('id', 'in', hookIds).execute()) {
      versions.set(h.id, eventHookVersion(iso(h.modified_at), h.signing_secret));
    }
    const claimed: ClaimedDelivery[] = [];
    for (const r of rows.sort((a, b) => a.id - b.id)) {
      const found = events.get(r.event_id);
      const hookVersion = versions.get(r.hook_id);
      if (found && hookVersion !== undefined) claimed.push({ delivery: toDelivery(r), event: found.event, hookVersion, trace: found.trace });
    }
    return claimed;
  }

  async recordSucceeded(results: DeliveryResult[], holder: string): Promise<void> {
    if (!this.caps.skipLocked) {
      // SQLite: one local transaction (a data-modifying CTE is PostgreSQL only).
      await (this.db as Kysely<Database>).transaction().execute((trx) => new EventDeliveryRepo(trx, this.caps).recordMany(results, holder));
      return;
    }
    for (let i = 0; i < results.length; i += CHUNK) {
      const chunk = results.slice(i, i + CHUNK);
      const completedAt = chunk.reduce((max, r) => (r.completedAt! > max ? r.completedAt! : max), '');
      // One statement, one commit: the attempts and the deliveries' new state together.
      await this.db
        .with('attempts', (db) => db.insertInto('event_delivery_attempts').values(attemptRows(chunk)).returning('delivery_id'))
        .updateTable('event_deliveries')
        .set((eb) => ({ status: 'succeeded', attempts: eb('attempts', '+', 1), next_attempt_at: null, last_error: null, completed_at: completedAt, locked_by: null, locked_until: null }))
        .where('id', 'in', chunk.map((r) => r.deliveryId)).where('locked_by', '=', holder).where('status', '=', 'pending')
        .execute();
    }
  }

  async recordMany(results: DeliveryResult[], holder: string): Promise<void> {
    const rows = attemptRows(results);
    for (let i = 0; i < rows.length; i += CHUNK) await this.db.insertInto('event_delivery_attempts').values(rows.slice(i, i + CHUNK)).execute();
    const succeeded = results.filter((r) => r.status === 'succeeded');
    const completedAt = succeeded.reduce((max, r) => (r.completedAt! > max ? r.completedAt! : max), '');
    for (let i = 0; i < succeeded.length; i += CHUNK) {
      await this.db.updateTable('event_deliveries')
        .set((eb) => ({ status: 'succeeded', attempts: eb('attempts', '+', 1), next_attempt_at: null, last_error: null, completed_at: completedAt, locked_by: null, locked_until: null }))
        .where('id', 'in', succeeded.slice(i, i + CHUNK).map((r) => r.deliveryId)).where('locked_by', '=', holder).where('status', '=', 'pending')
        .execute();
    }
    for (const result of results.filter((r) => r.status !== 'succeeded')) {
      await this.db.updateTable('event_deliveries')
        .set({
          status: result.status, attempts: result.attempt.attempt, next_attempt_at: result.nextAttemptAt, last_error: result.lastError,
          completed_at: result.completedAt, locked_by: null, locked_until: null,
        })
        .where('id', '=', result.deliveryId).where('locked_by', '=', holder).where('status', '=', 'pending')
        .execute();
    }
  }

  async get(id: number): Promise<EventDelivery | null> {
    const r = await this.db.selectFrom('event_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toDelivery(r) : null;
  }

  async list(filter: DeliveryFilter, page: PageRequest): Promise<Page<EventDelivery & { attempts: DeliveryAttempt[] }>> {
    let q = this.db.selectFrom('event_deliveries').selectAll();
    if (filter.hookId !== undefined) q = q.where('hook_id', '=', filter.hookId);
    if (filter.eventId !== undefined) q = q.where('event_id', '=', filter.eventId);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.ticketId !== undefined) q = q.where('ticket_id', '=', filter.ticketId);
    const before = cursorAfter(page.cursor);
    if (before !== null) q = q.where('id', '<', before);
    const rows = await q.orderBy('id', 'desc').limit(page.limit + 1).execute();
    const result = pageOf(rows.map(toDelivery), page.limit);
    const attempts = new Map<number, DeliveryAttempt[]>();
    if (result.items.length) {
      const found = await this.db.selectFrom('event_delivery_attempts').selectAll()
        .where('delivery_id', 'in', result.items.map((d) => d.id)).orderBy('delivery_id').orderBy('attempt').orderBy('id').execute();
      for (const a of found) {
        const list = attempts.get(a.delivery_id) ?? [];
        list.push({
          attempt: a.attempt, outcome: a.outcome as AttemptOutcome, status: a.status, durationMs: a.duration_ms,
          error: jsonOrNull(a.error), response: a.response, worker: a.worker, startedAt: iso(a.started_at),
        });
        attempts.set(a.delivery_id, list);
      }
    }
    return { items: result.items.map((d) => ({ ...d, attempts: attempts.get(d.id) ?? [] })), nextCursor: result.nextCursor };
  }

  private selection(hookId: number, s: EventSelection) {
    let q = this.db.selectFrom('events as e').where('e.type', 'in', s.types);
    if (s.since) q = q.where('e.created_at', '>=', s.since);
    if (s.until) q = q.where('e.created_at', '<', s.until);
    if (s.eventId) q = q.where('e.id', '=', s.eventId);
    if (s.onlyMissed) {
      q = q.where((eb) => eb.not(eb.exists(eb.selectFrom('event_deliveries as d').select('d.id')
        .whereRef('d.event_id', '=', 'e.id').where('d.hook_id', '=', hookId).where('d.status', 'in', ['succeeded', 'pending']))));
    }
    return q;
  }

  async enqueue(hook: Pick<EventHook, 'id' | 'orderingKey'>, s: EventSelection, at: string): Promise<number> {
    if (!s.types.length) return 0;
    const events = await this.selection(hook.id, s).select(['e.id', 'e.type', 'e.ticket_id']).orderBy('e.seq').execute();
    const rows = events.map((e) => ({
      event_id: e.id, event_type: e.type, hook_id: hook.id, ticket_id: e.ticket_id, ordered: flag(hook.orderingKey === 'ticket' && e.ticket_id !== null),
      replay: 1, status: 'pending', attempts: 0, next_attempt_at: at, created_at: at,
    }));
    for (let i = 0; i < rows.length; i += CHUNK) await this.db.insertInto('event_deliveries').values(rows.slice(i, i + CHUNK)).execute();
    return rows.length;
  }

  async count(hookId: number, s: EventSelection): Promise<number> {
    if (!s.types.length) return 0;
    const r = await this.selection(hookId, s).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async cancelPending(hookId: number, at: string): Promise<number> {
    const r = await this.db.updateTable('event_deliveries')
      .set({ status: 'cancelled', completed_at: at, next_attempt_at: null, last_error: 'the hook was disabled' })
      .where('hook_id', '=', hookId).where('status', '=', 'pending').executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async stats(): Promise<{ pending: number; oldestPendingAt: string | null }> {
    const r = await this.db.selectFrom('event_deliveries')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('created_at').as('oldest')])
      .where('status', '=', 'pending').executeTakeFirstOrThrow();
    return { pending: Number(r.n), oldestPendingAt: isoOrNull(r.oldest) };
  }

  async prune(before: string): Promise<number> {
    const finished = (eb: any) => eb.selectFrom('event_deliveries').select('id').where('status', '!=', 'pending').where('completed_at', '<', before);
    await this.db.deleteFrom('event_delivery_attempts').where('delivery_id', 'in', finished).execute();
    const r = await this.db.deleteFrom('event_deliveries').where('status', '!=', 'pending').where('completed_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
