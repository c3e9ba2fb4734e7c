import type { Executor } from '../domain/executor.ts';
import type { AppDeps } from './deps.ts';
import type { ExecutorRun } from './ports/executor-runner.ts';

/**
 * A test run of an executor with a sample input, as the settings screens offer it: the same
 * service, limits and egress guard as a real run, answered with output, logs, duration and error.
 */
export async function testExecutor(deps: AppDeps, executor: Executor, input: unknown, timeoutMs?: number): Promise<Omit<ExecutorRun, 'trace'>> {
  // Test runs get a cache of their own per executor, apart from the real runs'.
  const scope = `test:${executor.type === 'sourceCode' ? executor.code : executor.url}`;
  const run = await deps.executors.run(executor, input, { ...(timeoutMs ? { timeoutMs } : {}), cacheScope: scope, lane: 'background' });
  const { trace: _trace, ...result } = run;
  deps.logger.info({ executor: run.trace.target, ok: run.ok, durationMs: run.durationMs, error: run.error?.code }, 'executor test run');
  return result;
}
