// Late delivery: when a synchronous hook fails under policy `notify`, the step goes on without
// its answer, but the hook is still owed the payload. The failed invocation is written with the
// step, in its transaction, marked for late delivery; a worker then sends the same input to the
// same executor with the events' retry schedule, the same `webhook-id` and `deskhook-late: true`,
// and records each answer as an invocation of its own. An answer is never applied: the moment it
// was for has passed.
import { DEFAULT_RETRY_SCHEDULE_SECONDS, nextRetryDelayMs, parseRetryAfter } from '../../domain/event-hook.ts';
import type { AppDeps } from '../deps.ts';
import type { LateDelivery, WebhookInvocation } from '../ports/store.ts';
import { answerOf, newInvocationId, runHookExecutor } from './hook-call.ts';
import { currentQuarantine, holds } from './quarantine.ts';

/** How long a claimed late delivery stays with its worker: the longest hook timeout and a margin. */
export const LATE_LEASE_MS = 60_000;
const BATCH = 20;

/** Whether a call of this kind is delivered late when it fails: not a settings test, not a manual retry. */
export function deliversLate(trigger: string): boolean {
  return trigger !== 'test' && trigger !== 'retry';
}

/** The state a failed inline call starts with: it counts as the first attempt of the schedule. */
export function firstLateDelivery(deps: AppDeps, retryAfter: string | undefined): LateDelivery {
  const now = deps.clock.now();
  const delay = nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_SECONDS, 1, Math.random(), parseRetryAfter(retryAfter, now)) ?? 0;
  return { status: 'pending', attempts: 0, nextAttemptAt: new Date(now.getTime() + delay).toISOString(), lastError: null };
}

/** Delivers what is due, up to one batch; returns how many it tried (0: nothing was due). */
export async function deliverLateWebhooks(deps: AppDeps, holder: string): Promise<number> {
  const now = deps.clock.now();
  const claimed = await deps.store.webhookInvocations.claimLate(now.toISOString(), new Date(now.getTime() + LATE_LEASE_MS).toISOString(), holder, BATCH);
  await Promise.all(claimed.map((original) => deliverOne(deps, original).catch((err: unknown) => {
    deps.logger.error({ err, invocationId: original.id }, 'late webhook delivery could not be recorded; its lease will expire and it will be tried again');
  })));
  return claimed.length;
}

async function deliverOne(deps: AppDeps, original: WebhookInvocation): Promise<void> {
  const state = original.lateDelivery ?? { status: 'pending', attempts: 0, nextAttemptAt: null, lastError: null };
  const found = await deps.store.emailAccounts.get(original.emailAccountId);
  const webhooks = found?.account.webhooks;
  const executor = webhooks?.enabled ? webhooks[original.hook] : null;
  if (!found || !webhooks || !executor) {
    await deps.store.webhookInvocations.updateLate(original.id, { ...state, status: 'failed', nextAttemptAt: null, lastError: 'the hook is no longer switched on or configured' });
    return;
  }
  // Not while the hook is quarantined: the late attempt waits for the end of the cool-down (and counts nothing).
  const quarantine = await currentQuarantine(deps, original.emailAccountId, original.hook);
  if (holds(deps, quarantine)) {
    await deps.store.webhookInvocations.updateLate(original.id, { ...state, nextAttemptAt: quarantine.until });
    return;
  }
  const run = await runHookExecutor(deps, found, original.hook, executor, original.input, {
    messageId: original.messageId, lane: 'background', headers: { 'deskhook-late': 'true' },
  });
  const { answer, error } = answerOf(run);
  const now = deps.clock.now();
  const attempts = state.attempts + 1;
  // The inline call was attempt 1 of the schedule.
  const delay = error ? nextRetryDelayMs(DEFAULT_RETRY_SCHEDULE_SECONDS, attempts + 1, Math.random(), parseRetryAfter(run.retryAfter, now)) : null;
  const next: LateDelivery = error
    ? { status: delay === null ? 'failed' : 'pending', attempts, nextAttemptAt: delay === null ? null : new Date(now.getTime() + delay).toISOString(), lastError: `${error.code}: ${error.message}`.slice(0, 500) }
    : { status: 'succeeded', attempts, nextAttemptAt: null, lastError: null };
  const attempt: WebhookInvocation = {
    id: newInvocationId(deps), emailAccountId: original.emailAccountId, ticketId: original.ticketId, conversationId: original.conversationId,
    hook: original.hook, trigger: original.trigger, userId: original.userId,
    outcome: error ? 'failed' : answer.abort ? 'aborted' : 'ok',
    policyApplied: null, status: run.status, durationMs: run.durationMs, input: original.input, output: run.ok ? run.output ?? null : null,
    error, logs: run.logs, createdAt: now.toISOString(), messageId: original.messageId, retryOf: original.id, late: true,
    hookVersion: webhooks.versions?.[original.hook] ?? null,
  };
  await deps.store.transaction(async (tx) => {
    await tx.webhookInvocations.insert(attempt);
    await tx.webhookInvocations.updateLate(original.id, next);
  });
}
