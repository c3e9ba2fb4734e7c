import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../../../app/deps.ts';
import { testExecutor } from '../../../app/test-executor.ts';
import type { Executor as ExecutorValue } from '../../../domain/executor.ts';
import { Closed, Executor, Nullable } from '../schemas.ts';

const TestIn = Type.Object({
  executor: Executor,
  input: Type.Unknown({ description: 'The sample input the executor receives.' }),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30_000 })),
}, Closed);

const TestOut = Type.Object({
  ok: Type.Boolean(),
  output: Type.Optional(Type.Unknown()),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  logs: Type.Array(Type.Object({ level: Type.String(), message: Type.String(), at: Type.String() })),
  durationMs: Type.Number(),
  status: Nullable(Type.Integer()),
});

export const executorRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.post('/executors/test', {
    config: { access: 'admin' },
    schema: {
      tags: ['executors'],
      summary: 'Run an apiCall or sourceCode executor once with a sample input (a failed run is still 200: see `ok` and `error`)',
      body: TestIn,
      response: { 200: TestOut },
    },
  }, async (request) => {
    const body = request.body;
    const executor = (body.executor.type === 'apiCall'
      ? { ...body.executor, method: body.executor.method ?? 'POST', headers: body.executor.headers ?? {} }
      : body.executor) as ExecutorValue;
    return testExecutor(deps, executor, body.input ?? null, body.timeoutMs);
  });
};
