// What every call of a synchronous hook's executor shares, inline, late, in a shadow run or a
// replay: its invocation id, the signed run within the account's timeout, and the reading of
// its answer.
import type { EmailAccount } from '../../domain/email-account.ts';
import type { Executor } from '../../domain/executor.ts';
import { parseWebhookAnswer, type Hook, type WebhookAnswer } from '../../domain/webhook.ts';
import type { AppDeps } from '../deps.ts';
import { signingKeys } from '../email-accounts.ts';
import type { ExecutorRun, ExecutorRunOptions } from '../ports/executor-runner.ts';
import type { SealedAccountSecrets } from '../ports/store.ts';

let lastSequence = 0;
function nextSequence(): string {
  lastSequence = Math.max(lastSequence + 1, Math.floor((performance.timeOrigin + performance.now()) * 1000));
  return lastSequence.toString(36).padStart(11, '0');
}

/** `inv_` + time-ordered (then random), so the log sorts newest first even within one millisecond. */
export function newInvocationId(deps: AppDeps): string {
  return `inv_${nextSequence()}${deps.ids.token('').replace(/[^a-z0-9]/gi, '').slice(0, 12)}`;
}

/**
 * Runs `executor` on `input` as a call of the account's hook: within its timeout, signed with its
 * secrets under `messageId` (the `webhook-id`), with the hook's `ctx.cache` unless `cacheScope` says otherwise.
 */
export function runHookExecutor(
  deps: AppDeps,
  found: { account: EmailAccount; sealed: SealedAccountSecrets },
  hook: Hook,
  executor: Executor,
  input: unknown,
  options: { messageId: string; lane: NonNullable<ExecutorRunOptions['lane']>; headers?: Record<string, string>; cacheScope?: string },
): Promise<ExecutorRun> {
  return deps.executors.run(executor, input, {
    timeoutMs: found.account.webhooks.timeoutMs,
    signing: { id: options.messageId, secrets: signingKeys(deps, found.sealed) },
    cacheScope: options.cacheScope ?? `webhook:${found.account.id}:${hook}`,
    lane: options.lane,
    ...(options.headers ? { headers: options.headers } : {}),
  });
}

/** A run's answer checked against the output schema, or why there is none. */
export function answerOf(run: ExecutorRun): { answer: WebhookAnswer; error: null } | { answer: null; error: { code: string; message: string } } {
  if (!run.ok) return { answer: null, error: run.error ?? { code: 'executor_error', message: 'the run failed' } };
  const parsed = parseWebhookAnswer(run.output);
  return parsed.ok ? { answer: parsed.answer, error: null } : { answer: null, error: { code: 'invalid_answer', message: parsed.message } };
}
