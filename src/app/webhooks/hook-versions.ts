// Versions of a hook's executor: every change is kept (who, when, what), invocations name the
// version that ran, two versions can be compared, and a hook can be rolled back to one.
import { createTwoFilesPatch } from 'diff';
import type { Executor } from '../../domain/executor.ts';
import { sameJson, withSortedKeys } from '../../domain/json.ts';
import type { Hook } from '../../domain/webhook.ts';
import type { AppDeps } from '../deps.ts';
import { notFound } from '../errors.ts';
import type { HookVersion, Store } from '../ports/store.ts';

export const webhookScope = (accountId: number, hook: Hook): string => `webhook:${accountId}:${hook}`;
export const eventHookScope = (hookId: number): string => `eventHook:${hookId}`;

/**
 * Keeps `executor` as the hook's next version when it differs from the latest one; returns the
 * version current afterwards (0 for a hook that never had an executor). Run it in the
 * transaction that saves the hook.
 */
export async function recordHookVersion(
  store: Store, deps: Pick<AppDeps, 'clock'>, scope: string, executor: Executor | null, changedBy: number | null, note: string | null = null,
): Promise<number> {
  const latest = await store.hookVersions.latest(scope);
  if (latest ? sameJson(latest.executor, executor) : executor === null) return latest?.version ?? 0;
  const version = (latest?.version ?? 0) + 1;
  await store.hookVersions.insert({ scope, version, executor, changedBy, changedAt: deps.clock.now().toISOString(), note });
  return version;
}

export function listHookVersions(deps: AppDeps, scope: string): Promise<HookVersion[]> {
  return deps.store.hookVersions.list(scope);
}

export async function getHookVersion(deps: AppDeps, scope: string, version: number): Promise<HookVersion> {
  const found = await deps.store.hookVersions.get(scope, version);
  if (!found) throw notFound('hook version', version);
  return found;
}

/** The text a version is compared by: the code of custom code, the JSON of an API call. */
function textOf(executor: Executor | null): string {
  if (executor === null) return '(no executor)\n';
  if (executor.type === 'sourceCode') return `// ${executor.language}\n${executor.code.endsWith('\n') ? executor.code : `${executor.code}\n`}`;
  return `${JSON.stringify(withSortedKeys(executor), null, 2)}\n`;
}

/** Two versions and a unified diff from the first to the second. */
export async function compareHookVersions(deps: AppDeps, scope: string, from: number, to: number): Promise<{ from: HookVersion; to: HookVersion; diff: string }> {
  const [a, b] = await Promise.all([getHookVersion(deps, scope, from), getHookVersion(deps, scope, to)]);
  return { from: a, to: b, diff: createTwoFilesPatch(`version ${from}`, `version ${to}`, textOf(a.executor), textOf(b.executor), a.changedAt, b.changedAt) };
}
