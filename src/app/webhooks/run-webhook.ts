import type { NewActivity } from '../../domain/activity.ts';
import type { EmailAccount } from '../../domain/email-account.ts';
import { parseWebhookAnswer, type Hook, type WebhookAnswer } from '../../domain/webhook.ts';
import { memoContent } from '../../domain/webhook-memo.ts';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { publish, type EventDraft } from '../record-change.ts';
import { deliversLate, firstLateDelivery } from './deliver-late.ts';
import { answerOf, newInvocationId, runHookExecutor } from './hook-call.ts';
import { afterCall, currentQuarantine, holds, judged, quarantinedMessage } from './quarantine.ts';
import { startShadowRun } from './shadow.ts';
import type { HookQuarantine, SealedAccountSecrets, Store, WebhookInvocation } from '../ports/store.ts';

export type WebhookOutcome =
  | { kind: 'skipped' }
  | { kind: 'answered'; invocationId: string; answer: WebhookAnswer }
  | { kind: 'failed'; invocationId: string; code: string; message: string; policy: 'notify' | 'block' };

/** An account together with its sealed secrets, read once per step. */
export interface HookedAccount {
  account: EmailAccount;
  sealed: SealedAccountSecrets;
}

/**
 * The ticket's email account if its switch is on and `hook` has an executor; null otherwise (the
 * step then runs without a hook). The one place that decides whether a hook fires.
 */
export async function hookedAccount(deps: AppDeps, emailAccountId: number | null, hook: Hook): Promise<HookedAccount | null> {
  if (emailAccountId === null) return null;
  const found = await deps.store.emailAccounts.get(emailAccountId);
  return found && found.account.webhooks.enabled && found.account.webhooks[hook] ? found : null;
}

export interface WebhookCall {
  account: EmailAccount;
  sealed: SealedAccountSecrets;
  hook: Hook;
  trigger: string;
  ticketId: number | null;
  conversationId: number | null;
  userId: number | null;
  /** The hook-specific part of the input; the common fields are added here. */
  payload: Record<string, unknown>;
  /** A failure recorded with this policy regardless of the account's (inbound mail is never blocked). */
  policyOverride?: 'notify';
  /**
   * A manual retry: the recorded invocation whose message is sent again, as it was (its input and
   * its `webhook-id`), as a new invocation that names it in `retryOf`. `payload` is then unused.
   */
  resend?: WebhookInvocation;
}

/** A warning on an API response: the hook failed and the step went on (policy `notify`). */
export interface WebhookWarning {
  code: 'webhook_failed';
  hook: Hook;
  invocationId: string;
  message: string;
}

/**
 * Runs an email account's synchronous webhook, if it is switched on and configured: the input of
 * docs/product.md, signed with the account's secret (and the previous one during a rotation), within
 * the account's timeout; the answer is checked against the output schema. Every invocation is
 * recorded, whatever its outcome, in one transaction of its own.
 */
export async function runWebhook(deps: AppDeps, call: WebhookCall): Promise<WebhookOutcome> {
  const done = await callWebhook(deps, call);
  if (!done) return { kind: 'skipped' };
  await deps.store.transaction((tx) => recordInvocation(tx, deps, done));
  return done.outcome;
}

/** A hook that was called, with what its invocation leaves behind, not yet written. */
export interface CalledWebhook {
  outcome: Exclude<WebhookOutcome, { kind: 'skipped' }>;
  record: WebhookInvocation;
  /** WebhookFailed, for a failure outside a settings test. */
  event: EventDraft | null;
  /** The invocation's line on its ticket's activity. */
  activity: NewActivity | null;
}

/**
 * Writes what `callWebhook` returned inside the caller's transaction: a step that goes on commits
 * its invocation together with its change (one commit), a stopped one on its own.
 */
export async function recordInvocation(tx: Store, deps: AppDeps, done: CalledWebhook): Promise<void> {
  await tx.webhookInvocations.insert(done.record);
  if (done.event) await publish(tx, deps, [done.event]);
  if (done.activity) await tx.activity.add([done.activity]);
}

/** What every invocation of a call records, whatever happened: who, where, which message, which version. */
function invocationOf(
  deps: AppDeps, call: WebhookCall, ids: { invocationId: string; messageId: string; input: unknown },
  result: Omit<WebhookInvocation, 'id' | 'emailAccountId' | 'ticketId' | 'conversationId' | 'hook' | 'trigger' | 'userId' | 'input' | 'createdAt' | 'messageId'>,
): WebhookInvocation {
  return {
    id: ids.invocationId, emailAccountId: call.account.id, ticketId: call.ticketId, conversationId: call.conversationId,
    hook: call.hook, trigger: call.trigger, userId: call.userId, input: ids.input, createdAt: deps.clock.now().toISOString(), messageId: ids.messageId,
    hookVersion: call.account.webhooks.versions?.[call.hook] ?? null,
    ...result,
  };
}

/** The invocation's line on its ticket's activity (none for a call without a ticket). */
function activityOf(call: WebhookCall, record: WebhookInvocation, meta: Record<string, unknown>): NewActivity | null {
  if (call.ticketId === null) return null;
  return {
    ticketId: call.ticketId, field: 'webhook', from: null, to: record.outcome,
    actor: { type: 'system', reason: `webhook ${call.hook}` }, at: record.createdAt,
    meta: { hook: call.hook, invocationId: record.id, trigger: call.trigger, durationMs: record.durationMs, status: record.status, ...meta },
  };
}

/** A failure the step goes on without (policy notify) still owes the hook its payload, later. */
function owedLate(deps: AppDeps, call: WebhookCall, policy: 'notify' | 'block', retryAfter: string | undefined): Pick<WebhookInvocation, 'lateDelivery'> {
  return policy === 'notify' && call.account.webhooks.deliverLate && deliversLate(call.trigger) ? { lateDelivery: firstLateDelivery(deps, retryAfter) } : {};
}

/** The call part of `runWebhook`: calls the hook and checks its answer; writes nothing. Null when no hook is configured. */
export async function callWebhook(deps: AppDeps, call: WebhookCall): Promise<CalledWebhook | null> {
  const { webhooks } = call.account;
  const executor = webhooks[call.hook];
  if (!webhooks.enabled || !executor) return null;
  const invocationId = newInvocationId(deps);
  const input = call.resend?.input ?? {
    hook: call.hook, invocationId, timestamp: deps.clock.now().toISOString(), emailAccountId: call.account.id,
    ticketId: call.ticketId, conversationId: call.conversationId, userId: call.userId, ...call.payload,
  };
  // One message, one webhook-id, however often it is sent; a new step is a new message.
  const messageId = call.resend?.messageId ?? invocationId;
  // An idempotent hook answers the same payload as it did before, from memory (webhooks.memo).
  const memo = webhooks.memo?.[call.hook];
  const memoKey = memo?.idempotent && !call.resend && call.trigger !== 'test' ? deps.ids.digest(memoContent(input)) : null;
  if (memo && memoKey) {
    const since = new Date(deps.clock.now().getTime() - memo.memoSeconds * 1000).toISOString();
    const earlier = await deps.store.webhookInvocations.findMemo(call.account.id, call.hook, memoKey, since);
    // An answer of an earlier version of the hook is not this version's answer.
    const sameVersion = earlier && (earlier.hookVersion ?? null) === (webhooks.versions?.[call.hook] ?? null);
    const parsed = earlier && sameVersion ? parseWebhookAnswer(earlier.output) : null;
    if (earlier && parsed?.ok) return memoized(deps, call, { invocationId, messageId, input, memoKey, earlier, answer: parsed.answer });
  }
  const policy = call.policyOverride ?? webhooks.failurePolicy;
  // A quarantined hook is not called while its cool-down lasts; the first call after it is the probe.
  const judging = webhooks.quarantine.enabled && judged(call.trigger);
  const quarantine = judging ? await currentQuarantine(deps, call.account.id, call.hook) : null;
  if (holds(deps, quarantine)) return skipped(deps, call, { invocationId, messageId, input, policy, quarantine });
  const run = await runHookExecutor(deps, call, call.hook, executor, input, {
    messageId,
    // A test from the settings screen must not take the worker kept for hooks a step waits on.
    lane: call.trigger === 'test' ? 'background' : 'interactive',
  });
  const read = answerOf(run);
  const outcome: CalledWebhook['outcome'] = read.answer
    ? { kind: 'answered', invocationId, answer: read.answer }
    : { kind: 'failed', invocationId, code: read.error.code, message: read.error.message, policy };
  if (judging) await afterCall(deps, call.account, call.hook, { ok: outcome.kind !== 'failed', durationMs: run.durationMs }, quarantine);
  const recorded = outcome.kind === 'failed' ? 'failed' : outcome.answer.abort ? 'aborted' : 'ok';
  if (call.trigger !== 'test') deps.telemetry?.webhookCalled(call.account.id, call.hook, call.trigger, recorded, run.durationMs);
  const record = invocationOf(deps, call, { invocationId, messageId, input }, {
    outcome: recorded,
    policyApplied: outcome.kind === 'failed' ? policy : null,
    status: run.status, durationMs: run.durationMs, output: run.ok ? run.output ?? null : null,
    error: outcome.kind === 'failed' ? { code: outcome.code, message: outcome.message } : null,
    logs: run.logs, retryOf: call.resend?.id ?? null,
    ...(memoKey ? { memoKey } : {}),
    ...(outcome.kind === 'failed' ? owedLate(deps, call, policy, run.retryAfter) : {}),
  });
  // The shadow executor, if any, gets the same payload now, off the user's path.
  startShadowRun(deps, call, { record, answer: outcome.kind === 'answered' ? outcome.answer : null });
  const event: EventDraft | null = outcome.kind === 'failed' && call.trigger !== 'test'
    ? {
      type: 'WebhookFailed', ticketId: call.ticketId, userId: call.userId,
      data: {
        invocationId, emailAccountId: call.account.id, hook: call.hook, trigger: call.trigger, ticketId: call.ticketId,
        conversationId: call.conversationId, userId: call.userId, error: { code: outcome.code, message: outcome.message }, policy,
      },
    }
    : null;
  const activity = activityOf(call, record, {
    ...(record.retryOf ? { retryOf: record.retryOf } : {}),
    ...(record.error ? { error: record.error.message, policy: record.policyApplied } : {}),
    ...(outcome.kind === 'answered' && outcome.answer.message ? { message: outcome.answer.message } : {}),
  });
  return { outcome, record, event, activity };
}

/** A call skipped because the hook is quarantined: a failure for the policy, recorded, delivered late under notify. */
function skipped(
  deps: AppDeps,
  call: WebhookCall,
  m: { invocationId: string; messageId: string; input: unknown; policy: 'notify' | 'block'; quarantine: HookQuarantine },
): CalledWebhook {
  const message = quarantinedMessage(m.quarantine);
  const outcome: CalledWebhook['outcome'] = { kind: 'failed', invocationId: m.invocationId, code: 'quarantined', message, policy: m.policy };
  const record = invocationOf(deps, call, m, {
    outcome: 'failed', policyApplied: m.policy, status: null, durationMs: 0, output: null, error: { code: 'quarantined', message }, logs: [], retryOf: null,
    ...owedLate(deps, call, m.policy, undefined),
  });
  // One WebhookQuarantined was published when it began; a skipped call publishes nothing more.
  return { outcome, record, event: null, activity: activityOf(call, record, { error: message, policy: m.policy, quarantined: true }) };
}

/** An invocation answered from an earlier one: no call, the earlier answer, the log says so. */
function memoized(
  deps: AppDeps,
  call: WebhookCall,
  m: { invocationId: string; messageId: string; input: unknown; memoKey: string; earlier: WebhookInvocation; answer: WebhookAnswer },
): CalledWebhook {
  const outcome: CalledWebhook['outcome'] = { kind: 'answered', invocationId: m.invocationId, answer: m.answer };
  const record = invocationOf(deps, call, m, {
    outcome: m.answer.abort ? 'aborted' : 'ok', policyApplied: null, status: m.earlier.status, durationMs: 0, output: m.earlier.output,
    error: null, logs: [], retryOf: m.earlier.id, memoKey: m.memoKey, memoized: true, hookVersion: m.earlier.hookVersion ?? null,
  });
  if (call.trigger !== 'test') deps.telemetry?.webhookCalled(call.account.id, call.hook, call.trigger, 'memoized', 0);
  return { outcome, record, event: null, activity: activityOf(call, record, { memoized: true, memoOf: m.earlier.id }) };
}

export function describeFailure(hook: Hook, outcome: Extract<WebhookOutcome, { kind: 'failed' }>): string {
  const name = hook === 'newEmails' ? 'webhook for new emails' : 'webhook for ticket updates';
  return `${name} failed: ${outcome.message}`;
}

/**
 * What a step that a user is waiting for does with its hook's outcome: an abort or a failure
 * under policy `block` stops it (after `onStop`, e.g. marking an email blocked) with the problem
 * the user sees; a failure under `notify` becomes a warning on the response.
 */
export async function stopOrWarn(
  outcome: WebhookOutcome,
  hook: Hook,
  abortFallback: string,
  options: { extras?: Record<string, unknown>; onStop?: (message: string) => Promise<void> } = {},
): Promise<WebhookWarning[]> {
  if (outcome.kind === 'answered' && outcome.answer.abort) {
    const message = outcome.answer.message ?? abortFallback;
    await options.onStop?.(message);
    throw new AppError('webhook_aborted', message, { hook, invocationId: outcome.invocationId, ...options.extras });
  }
  if (outcome.kind !== 'failed') return [];
  const message = describeFailure(hook, outcome);
  if (outcome.policy === 'block') {
    await options.onStop?.(message);
    throw new AppError('webhook_failed', message, { hook, invocationId: outcome.invocationId, ...options.extras });
  }
  return [{ code: 'webhook_failed', hook, invocationId: outcome.invocationId, message }];
}
