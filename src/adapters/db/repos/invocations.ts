import type { Kysely, Selectable } from 'kysely';
import type { HookQuarantine, HookQuarantineStore, HookVersion, HookVersionStore, ShadowComparison, InvocationFilter, LateDelivery, Page, PageRequest, WebhookInvocation, WebhookInvocationStore } from '../../../app/ports/store.ts';
import type { Executor } from '../../../domain/executor.ts';
import type { Capabilities } from '../dialect.ts';
import type { Database, HookVersionsTable, WebhookInvocationsTable } from '../schema.ts';
import { decodeCursor, encodeCursor, iso, json, jsonOrNull, toJson } from '../values.ts';
import { AppError } from '../../../app/errors.ts';

function toInvocation(r: Selectable<WebhookInvocationsTable>): WebhookInvocation {
  return {
    id: r.id, emailAccountId: r.email_account_id, ticketId: r.ticket_id, conversationId: r.conversation_id,
    hook: r.hook as WebhookInvocation['hook'], trigger: r.trigger, userId: r.user_id, outcome: r.outcome as WebhookInvocation['outcome'],
    policyApplied: r.policy_applied as WebhookInvocation['policyApplied'], status: r.status, durationMs: Number(r.duration_ms),
    input: json(r.input), output: jsonOrNull(r.output), error: jsonOrNull(r.error), logs: jsonOrNull(r.logs), createdAt: iso(r.created_at),
    messageId: r.message_id ?? r.id, retryOf: r.retry_of,
    ...(Number(r.late) === 1 ? { late: true } : {}),
    ...(Number(r.memoized) === 1 ? { memoized: true } : {}),
    memoKey: r.memo_key,
    hookVersion: r.hook_version,
    ...(Number(r.shadow) === 1 ? { shadow: true, comparison: jsonOrNull<ShadowComparison>(r.comparison) } : {}),
    lateDelivery: r.late_status === null ? null : {
      status: r.late_status as LateDelivery['status'], attempts: Number(r.late_attempts),
      nextAttemptAt: r.late_next_at === null ? null : iso(r.late_next_at), lastError: r.late_error,
    },
  };
}

export class WebhookInvocationRepo implements WebhookInvocationStore {
  constructor(private readonly db: Kysely<Database>, private readonly caps: Capabilities) {}

  async insert(i: WebhookInvocation): Promise<void> {
    await this.db.insertInto('webhook_invocations').values({
      id: i.id, email_account_id: i.emailAccountId, ticket_id: i.ticketId, conversation_id: i.conversationId, hook: i.hook, trigger: i.trigger,
      user_id: i.userId, outcome: i.outcome, policy_applied: i.policyApplied, status: i.status, duration_ms: i.durationMs,
      input: toJson(i.input), output: i.output === undefined ? null : toJson(i.output), error: i.error ? toJson(i.error) : null,
      logs: toJson(i.logs ?? []), created_at: i.createdAt, message_id: i.messageId, retry_of: i.retryOf,
      late: i.late ? 1 : 0, memo_key: i.memoKey ?? null, memoized: i.memoized ? 1 : 0, hook_version: i.hookVersion ?? null,
      shadow: i.shadow ? 1 : 0, comparison: i.comparison ? toJson(i.comparison) : null,
      ...(i.lateDelivery ? {
        late_status: i.lateDelivery.status, late_attempts: i.lateDelivery.attempts, late_next_at: i.lateDelivery.nextAttemptAt, late_error: i.lateDelivery.lastError,
      } : {}),
    }).execute();
  }

  async claimLate(now: string, lockUntil: string, holder: string, limit: number): Promise<WebhookInvocation[]> {
    let pick = this.db.selectFrom('webhook_invocations').select('id')
      .where('late_status', '=', 'pending')
      .where('late_next_at', '<=', now)
      .where((eb) => eb.or([eb('late_locked_until', 'is', null), eb('late_locked_until', '<', now)]))
      .orderBy('late_next_at').limit(limit);
    if (this.caps.skipLocked) pick = pick.forUpdate().skipLocked();
    const rows = await this.db.updateTable('webhook_invocations')
      .set({ late_locked_by: holder, late_locked_until: lockUntil })
      .where('id', 'in', pick)
      .returningAll()
      .execute();
    return rows.map(toInvocation);
  }

  async recentCalls(emailAccountId: number, hook: WebhookInvocation['hook'], limit: number): Promise<Array<{ ok: boolean; durationMs: number }>> {
    const rows = await this.db.selectFrom('webhook_invocations').select(['outcome', 'duration_ms', 'error'])
      .where('email_account_id', '=', emailAccountId).where('hook', '=', hook)
      .where('trigger', 'not in', ['test', 'retry']).where('late', '=', 0).where('memoized', '=', 0).where('shadow', '=', 0)
      .orderBy('created_at', 'desc').limit(limit * 2).execute();
    return rows
      .filter((r) => jsonOrNull<{ code?: string }>(r.error)?.code !== 'quarantined')
      .slice(0, limit)
      .map((r) => ({ ok: r.outcome !== 'failed', durationMs: Number(r.duration_ms) }));
  }

  async findMemo(emailAccountId: number, hook: WebhookInvocation['hook'], memoKey: string, since: string): Promise<WebhookInvocation | null> {
    const r = await this.db.selectFrom('webhook_invocations').selectAll()
      .where('email_account_id', '=', emailAccountId).where('hook', '=', hook).where('memo_key', '=', memoKey)
      .where('created_at', '>=', since).where('outcome', 'in', ['ok', 'aborted']).where('memoized', '=', 0).where('late', '=', 0).where('shadow', '=', 0)
      .orderBy('created_at', 'desc').limit(1).executeTakeFirst();
    return r ? toInvocation(r) : null;
  }

  async updateLate(id: string, state: LateDelivery): Promise<void> {
    await this.db.updateTable('webhook_invocations').set({
      late_status: state.status, late_attempts: state.attempts, late_next_at: state.nextAttemptAt, late_error: state.lastError,
      late_locked_by: null, late_locked_until: null,
    }).where('id', '=', id).execute();
  }

  async get(id: string): Promise<WebhookInvocation | null> {
    const r = await this.db.selectFrom('webhook_invocations').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toInvocation(r) : null;
  }

  async list(filter: InvocationFilter, page: PageRequest): Promise<Page<WebhookInvocation>> {
    let q = this.db.selectFrom('webhook_invocations').selectAll();
    if (filter.emailAccountId !== undefined) q = q.where('email_account_id', '=', filter.emailAccountId);
    if (filter.ticketId !== undefined) q = q.where('ticket_id', '=', filter.ticketId);
    if (filter.hook) q = q.where('hook', '=', filter.hook);
    if (filter.outcome) q = q.where('outcome', '=', filter.outcome);
    if (filter.shadow !== undefined) q = q.where('shadow', '=', filter.shadow ? 1 : 0);
    if (page.cursor) {
      const c = decodeCursor(page.cursor);
      if (!c || typeof c.at !== 'string' || typeof c.id !== 'string') throw new AppError('validation_failed', 'cursor is not valid');
      const at = c.at;
      const id = c.id;
      q = q.where((eb) => eb.or([eb('created_at', '<', at), eb.and([eb('created_at', '=', at), eb('id', '<', id)])]));
    }
    const rows = (await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit + 1).execute()).map(toInvocation);
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > page.limit && last ? encodeCursor({ at: last.createdAt, id: last.id }) : null };
  }
}

function toVersion(r: Selectable<HookVersionsTable>): HookVersion {
  return {
    scope: r.scope, version: r.version, executor: jsonOrNull<Executor>(r.executor), changedBy: r.changed_by,
    changedAt: iso(r.changed_at), note: r.note,
  };
}

export class HookVersionRepo implements HookVersionStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(scope: string): Promise<HookVersion[]> {
    return (await this.db.selectFrom('hook_versions').selectAll().where('scope', '=', scope).orderBy('version', 'desc').execute()).map(toVersion);
  }

  async get(scope: string, version: number): Promise<HookVersion | null> {
    const r = await this.db.selectFrom('hook_versions').selectAll().where('scope', '=', scope).where('version', '=', version).executeTakeFirst();
    return r ? toVersion(r) : null;
  }

  async latest(scope: string): Promise<HookVersion | null> {
    const r = await this.db.selectFrom('hook_versions').selectAll().where('scope', '=', scope).orderBy('version', 'desc').limit(1).executeTakeFirst();
    return r ? toVersion(r) : null;
  }

  async insert(v: HookVersion): Promise<void> {
    await this.db.insertInto('hook_versions').values({
      scope: v.scope, version: v.version, executor: v.executor === null ? null : toJson(v.executor), changed_by: v.changedBy, changed_at: v.changedAt, note: v.note,
    }).execute();
  }
}

export class HookQuarantineRepo implements HookQuarantineStore {
  constructor(private readonly db: Kysely<Database>) {}

  async get(scope: string): Promise<HookQuarantine | null> {
    const r = await this.db.selectFrom('hook_quarantine').selectAll().where('scope', '=', scope).executeTakeFirst();
    return r ? { scope: r.scope, since: iso(r.since), until: iso(r.until), reason: r.reason } : null;
  }

  async start(q: HookQuarantine): Promise<boolean> {
    const r = await this.db.insertInto('hook_quarantine').values({ scope: q.scope, since: q.since, until: q.until, reason: q.reason })
      .onConflict((oc) => oc.column('scope').doNothing()).returning('scope').executeTakeFirst();
    return r !== undefined;
  }

  async extend(scope: string, until: string): Promise<void> {
    await this.db.updateTable('hook_quarantine').set({ until }).where('scope', '=', scope).execute();
  }

  async end(scope: string): Promise<boolean> {
    const r = await this.db.deleteFrom('hook_quarantine').where('scope', '=', scope).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
