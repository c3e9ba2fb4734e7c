// Shadow runs and replays: try a new hook on real traffic without risking it. A shadow executor
// gets every payload the live hook gets, after the live hook answered and off the user's path; its
// answer is recorded with what it would have changed, never applied. A replay runs an unsaved
// executor against the last recorded payloads and shows the differences before it is saved.
import type { EmailAccount } from '../../domain/email-account.ts';
import type { Executor } from '../../domain/executor.ts';
import { compareAnswers, parseWebhookAnswer, type Hook, type WebhookAnswer } from '../../domain/webhook.ts';
import type { AppDeps } from '../deps.ts';
import { accountWithSecrets } from '../email-accounts.ts';
import { checkExecutorsOnSave } from '../executor-check.ts';
import type { SealedAccountSecrets, ShadowComparison, WebhookInvocation } from '../ports/store.ts';
import { answerOf, newInvocationId, runHookExecutor } from './hook-call.ts';

const running = new WeakMap<object, Set<Promise<void>>>();

/** Resolves once the shadow runs started so far have been recorded (for tests and a clean shutdown). */
export async function shadowsSettled(deps: AppDeps): Promise<void> {
  await Promise.allSettled([...(running.get(deps.store) ?? [])]);
}

/** The verdict on a shadow (or replayed) answer against the live one. */
export function judgeShadow(live: WebhookAnswer | null, shadow: WebhookAnswer | null): ShadowComparison {
  if (!shadow) return { verdict: 'failed', wouldChange: [] };
  if (!live) return { verdict: 'liveFailed', wouldChange: compareAnswers(null, shadow).filter((d) => d.shadow !== null && d.shadow !== false) };
  const wouldChange = compareAnswers(live, shadow);
  return { verdict: wouldChange.length ? 'differ' : 'agree', wouldChange };
}

/**
 * Starts the shadow run of a live call, if the hook has a shadow executor: not awaited by the
 * step, so the user never waits for it; recorded as an invocation of its own (`shadow: true`,
 * `retryOf` = the live call) with its comparison.
 */
export function startShadowRun(
  deps: AppDeps,
  call: { account: EmailAccount; sealed: SealedAccountSecrets; hook: Hook; trigger: string },
  live: { record: WebhookInvocation; answer: WebhookAnswer | null },
): void {
  const executor = call.account.webhooks.shadow?.[call.hook];
  if (!executor || call.trigger === 'test' || call.trigger === 'retry') return;
  let set = running.get(deps.store);
  if (!set) running.set(deps.store, (set = new Set()));
  const work: Promise<void> = (async () => {
    const run = await runHookExecutor(deps, call, call.hook, executor, live.record.input, {
      messageId: live.record.messageId, lane: 'background', headers: { 'deskhook-shadow': 'true' }, cacheScope: `webhook-shadow:${call.account.id}:${call.hook}`,
    });
    const { answer, error } = answerOf(run);
    await deps.store.webhookInvocations.insert({
      id: newInvocationId(deps), emailAccountId: call.account.id, ticketId: live.record.ticketId, conversationId: live.record.conversationId,
      hook: call.hook, trigger: call.trigger, userId: live.record.userId, outcome: error ? 'failed' : answer?.abort ? 'aborted' : 'ok', policyApplied: null,
      status: run.status, durationMs: run.durationMs, input: live.record.input, output: run.ok ? run.output ?? null : null, error, logs: run.logs,
      createdAt: deps.clock.now().toISOString(), messageId: live.record.messageId, retryOf: live.record.id,
      shadow: true, comparison: judgeShadow(live.answer, answer),
    });
  })().catch((err: unknown) => deps.logger.error({ err, invocationId: live.record.id }, 'shadow run failed to run or to be recorded'));
  set.add(work);
  void work.finally(() => set.delete(work));
}

export interface ShadowSummary {
  total: number;
  agree: number;
  differ: number;
  failed: number;
  liveFailed: number;
}

/** Counts of the hook's recent shadow runs (up to `limit`) by verdict. */
export async function shadowSummary(deps: AppDeps, accountId: number, hook: Hook, limit = 200): Promise<ShadowSummary> {
  await accountWithSecrets(deps, accountId);
  const page = await deps.store.webhookInvocations.list({ emailAccountId: accountId, hook, shadow: true }, { limit, cursor: null });
  const out: ShadowSummary = { total: 0, agree: 0, differ: 0, failed: 0, liveFailed: 0 };
  for (const inv of page.items) {
    const verdict = inv.comparison?.verdict;
    if (!verdict) continue;
    out.total++;
    out[verdict]++;
  }
  return out;
}

export interface ReplayResult {
  invocationId: string;
  createdAt: string;
  comparison: ShadowComparison;
  error: { code: string; message: string } | null;
}

/**
 * Runs an unsaved executor against the last `count` recorded live calls of the hook (their inputs
 * as they were sent) and compares each answer with the recorded one. Nothing is recorded or applied.
 */
export async function replayHook(deps: AppDeps, accountId: number, hook: Hook, executor: Executor, count: number): Promise<{ items: ReplayResult[]; summary: ShadowSummary }> {
  const found = await accountWithSecrets(deps, accountId);
  // What could never run is refused as on save, before anything is sent.
  await checkExecutorsOnSave(deps, [['executor', executor]]);
  const page = await deps.store.webhookInvocations.list({ emailAccountId: found.account.id, hook, shadow: false }, { limit: Math.min(200, count * 3), cursor: null });
  const recorded = page.items.filter((i) => i.trigger !== 'test' && !i.late && !i.memoized && i.error?.code !== 'quarantined').slice(0, count);
  const items: ReplayResult[] = [];
  for (const inv of recorded) {
    const run = await runHookExecutor(deps, found, hook, executor, inv.input, {
      messageId: inv.messageId, lane: 'background', headers: { 'deskhook-shadow': 'true' }, cacheScope: `webhook-shadow:${found.account.id}:${hook}`,
    });
    const { answer, error } = answerOf(run);
    const live = inv.outcome === 'failed' ? null : parseWebhookAnswer(inv.output);
    items.push({ invocationId: inv.id, createdAt: inv.createdAt, comparison: judgeShadow(live?.ok ? live.answer : null, answer), error });
  }
  const summary: ShadowSummary = { total: items.length, agree: 0, differ: 0, failed: 0, liveFailed: 0 };
  for (const r of items) summary[r.comparison.verdict]++;
  return { items, summary };
}
