import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../../../app/deps.ts';
import {
  createEmailAccount, deleteEmailAccount, getEmailAccount, listEmailAccounts, revealSigningSecret, rotateSigningSecret,
  rollbackWebhook, updateEmailAccount, type EmailAccountInput,
} from '../../../app/email-accounts.ts';
import {
  Closed, DateTime, Email, EmailAccount, Executor, HookMemo, IdParams, Quarantine, Inbound, Nullable, Outbound, PageQuery, pageOf, Enum, TestedWhich, withExecutorDefaults,
} from '../schemas.ts';
import { FAILURE_POLICIES, WEBHOOK_TIMEOUT_MAX_MS } from '../../../domain/email-account.ts';
import { HOOKS } from '../../../domain/webhook.ts';
import { testWebhook } from '../../../app/webhooks/test-webhook.ts';
import { retryInvocation } from '../../../app/webhooks/notify-only-hooks.ts';
import { principalOf } from '../plugins/auth.ts';
import { compareHookVersions, listHookVersions, webhookScope } from '../../../app/webhooks/hook-versions.ts';
import { hookHealth, releaseQuarantine } from '../../../app/webhooks/quarantine.ts';
import { replayHook, shadowSummary } from '../../../app/webhooks/shadow.ts';
import type { Executor as ExecutorValue } from '../../../domain/executor.ts';

const WebhooksIn = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  ticketUpdates: Type.Optional(Nullable(Executor)),
  newEmails: Type.Optional(Nullable(Executor)),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: WEBHOOK_TIMEOUT_MAX_MS })),
  failurePolicy: Type.Optional(Enum(FAILURE_POLICIES)),
  deliverLate: Type.Optional(Type.Boolean({ description: 'Deliver the payload of a call that failed under policy `notify` again later (default true).' })),
  memo: Type.Optional(Type.Object({ ticketUpdates: Type.Optional(Nullable(HookMemo)), newEmails: Type.Optional(Nullable(HookMemo)) }, Closed)),
  quarantine: Type.Optional(Type.Partial(Quarantine)),
  shadow: Type.Optional(Type.Object({ ticketUpdates: Type.Optional(Nullable(Executor)), newEmails: Type.Optional(Nullable(Executor)) }, Closed)),
}, Closed);

const AccountIn = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  address: Email,
  inbound: Inbound,
  outbound: Type.Optional(Nullable(Outbound)),
  webhooks: Type.Optional(WebhooksIn),
}, Closed);

const AccountPatch = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  address: Type.Optional(Email),
  inbound: Type.Optional(Inbound),
  outbound: Type.Optional(Nullable(Outbound)),
  webhooks: Type.Optional(WebhooksIn),
}, { ...Closed, minProperties: 1 });

export const SigningSecret = Type.Object({
  signingSecret: Type.String({ description: '`whsec_…`: receivers verify `webhook-signature` with it.' }),
  previousSigningSecret: Nullable(Type.String({ description: 'Still valid (and signed with) until previousExpiresAt.' })),
  previousExpiresAt: Nullable(DateTime),
});

/** Executors arrive without defaults; fill them so the stored shape is complete. */
function normaliseInput<T extends Partial<EmailAccountInput>>(given: T): T {
  const input = given.inbound?.type === 'imap' ? { ...given, inbound: { ...given.inbound, folder: given.inbound.folder ?? 'INBOX' } } : given;
  const webhooks = input.webhooks;
  if (!webhooks) return input;
  const fill = withExecutorDefaults;
  return {
    ...input,
    webhooks: {
      ...webhooks,
      ...(webhooks.ticketUpdates !== undefined ? { ticketUpdates: fill(webhooks.ticketUpdates) } : {}),
      ...(webhooks.newEmails !== undefined ? { newEmails: fill(webhooks.newEmails) } : {}),
      ...(webhooks.shadow ? {
        shadow: {
          ...(webhooks.shadow.ticketUpdates !== undefined ? { ticketUpdates: fill(webhooks.shadow.ticketUpdates) } : {}),
          ...(webhooks.shadow.newEmails !== undefined ? { newEmails: fill(webhooks.shadow.newEmails) } : {}),
        } as NonNullable<typeof webhooks.shadow>,
      } : {}),
    },
  };
}

export const emailAccountRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/email-accounts', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], querystring: Type.Object(PageQuery, Closed), response: { 200: pageOf(EmailAccount) } },
  }, async (request) => listEmailAccounts(deps, { limit: request.query.limit ?? 50, cursor: request.query.cursor ?? null }));

  app.post('/email-accounts', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], body: AccountIn, response: { 201: EmailAccount } },
  }, async (request, reply) => reply.status(201).send(await createEmailAccount(deps, normaliseInput(request.body as EmailAccountInput), principalOf(request).user.id)));

  app.get('/email-accounts/:id', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], params: IdParams, response: { 200: EmailAccount } },
  }, async (request) => getEmailAccount(deps, request.params.id));

  app.patch('/email-accounts/:id', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], params: IdParams, body: AccountPatch, response: { 200: EmailAccount } },
  }, async (request) => updateEmailAccount(deps, request.params.id, normaliseInput(request.body as Partial<EmailAccountInput>), principalOf(request).user.id));

  app.delete('/email-accounts/:id', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], params: IdParams, response: { 204: Type.Null() } },
  }, async (request, reply) => {
    await deleteEmailAccount(deps, request.params.id);
    return reply.status(204).send(null);
  });

  app.get('/email-accounts/:id/webhooks/signing-secret', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], summary: 'Reveal the webhook signing secret(s)', params: IdParams, response: { 200: SigningSecret } },
  }, async (request) => revealSigningSecret(deps, request.params.id));

  app.post('/email-accounts/:id/webhooks/signing-secret/rotate', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], summary: 'New signing secret; the old one stays valid for 24 h', params: IdParams, response: { 200: SigningSecret } },
  }, async (request) => rotateSigningSecret(deps, request.params.id));
};


const InvocationQuery = Type.Object({
  ...PageQuery,
  hook: Type.Optional(Enum(HOOKS)),
  outcome: Type.Optional(Enum(['ok', 'aborted', 'failed'] as const)),
  ticketId: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
}, Closed);

const Comparison = Type.Object({
  verdict: Enum(['agree', 'differ', 'failed', 'liveFailed'] as const, { description: '`failed`: the shadow failed; `liveFailed`: only the shadow answered' }),
  wouldChange: Type.Array(Type.Object({ field: Type.String(), live: Type.Unknown(), shadow: Type.Unknown() })),
});
const ShadowSummaryOut = Type.Object({ total: Type.Integer(), agree: Type.Integer(), differ: Type.Integer(), failed: Type.Integer(), liveFailed: Type.Integer() });
const ReplayItem = Type.Object({
  invocationId: Type.String({ description: 'The recorded call whose input was replayed' }), createdAt: DateTime, comparison: Comparison,
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
});

const Invocation = Type.Object({
  id: Type.String(), emailAccountId: Type.Integer(), ticketId: Nullable(Type.Integer()), conversationId: Nullable(Type.Integer()),
  hook: Enum(HOOKS), trigger: Type.String(), userId: Nullable(Type.Integer()), outcome: Enum(['ok', 'aborted', 'failed'] as const),
  policyApplied: Nullable(Enum(['notify', 'block'] as const)), status: Nullable(Type.Integer()), durationMs: Type.Number(),
  input: Type.Unknown(), output: Type.Unknown(), error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  logs: Type.Unknown(), createdAt: DateTime,
  messageId: Type.String({ description: 'The `webhook-id` the request carried: the invocation\'s own id, or for a retry the id of the message it resent' }),
  retryOf: Nullable(Type.String({ description: 'For a manual retry or a late attempt: the invocation it resent' })),
  late: Type.Optional(Type.Boolean({ description: 'A late attempt: the payload of a failed call delivered again; its answer was recorded, never applied' })),
  memoized: Type.Optional(Type.Boolean({ description: 'Answered from memory: an idempotent hook had answered the same payload (the invocation in retryOf); no call was made' })),
  shadow: Type.Optional(Type.Boolean({ description: 'The run of the shadow executor for the live call in retryOf: recorded, never applied' })),
  comparison: Type.Optional(Nullable(Comparison)),
  hookVersion: Type.Optional(Nullable(Type.Integer({ description: 'The version of the hook\'s executor that ran (GET …/webhooks/{hook}/versions)' }))),
  lateDelivery: Type.Optional(Nullable(Type.Object({
    status: Enum(['pending', 'succeeded', 'failed'] as const), attempts: Type.Integer(), nextAttemptAt: Nullable(DateTime), lastError: Nullable(Type.String()),
  }, { description: 'For a failed call under policy notify: how the late delivery of its payload stands' }))),
});

const QuarantineOut = Type.Object({ scope: Type.String(), since: DateTime, until: DateTime, reason: Type.String() });
const HookHealthOut = Type.Object({
  hook: Enum(HOOKS), state: Enum(['healthy', 'quarantined', 'probing'] as const, { description: '`probing`: the cool-down is over; the next call decides' }),
  quarantine: Nullable(QuarantineOut),
  calls: Type.Integer({ description: 'Recent calls judged (at most quarantine.windowCalls)' }),
  failureRate: Nullable(Type.Number()), p50Ms: Nullable(Type.Number()), p95Ms: Nullable(Type.Number()),
});

export const HookVersionOut = Type.Object({
  scope: Type.String(), version: Type.Integer(), executor: Nullable(Executor), changedBy: Nullable(Type.Integer({ description: 'The user who saved it' })),
  changedAt: DateTime, note: Nullable(Type.String({ description: 'e.g. "rollback to version 2"' })),
});
export const CompareQuery = Type.Object({ from: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }), to: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }, Closed);
export const VersionComparison = Type.Object({ from: HookVersionOut, to: HookVersionOut, diff: Type.String({ description: 'Unified diff of the code (custom code) or the JSON (API call)' }) });

const HookParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }), hook: Enum(HOOKS) });

export const webhookRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/email-accounts/:id/invocations', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], summary: 'Webhook invocations of the account, newest first', params: IdParams, querystring: InvocationQuery, response: { 200: pageOf(Invocation) } },
  }, async (request) => {
    await getEmailAccount(deps, request.params.id);
    const q = request.query;
    return deps.store.webhookInvocations.list(
      { emailAccountId: request.params.id, ...(q.hook ? { hook: q.hook } : {}), ...(q.outcome ? { outcome: q.outcome } : {}), ...(q.ticketId ? { ticketId: q.ticketId } : {}) },
      { limit: q.limit ?? 50, cursor: q.cursor ?? null },
    );
  });

  app.post('/email-accounts/:id/webhooks/:hook/test', {
    config: { access: 'admin' },
    // No body at all tests the saved executor, as before there was one to give.
    preValidation: async (request) => { request.body ??= {}; },
    schema: {
      tags: ['email-accounts'], summary: 'Send the hook a realistic sample input and show its answer (works with the switch off too); with `executor`, test that one (what the form shows) instead of the saved one',
      params: HookParams,
      body: Type.Optional(Type.Object({ executor: Type.Optional(Nullable(Executor)) }, Closed)),
      response: { 200: Type.Object({ tested: TestedWhich, invocationId: Nullable(Type.String()), outcome: Type.String(), answer: Type.Unknown(), error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })) }) },
    },
  }, async (request) => {
    const given = request.body?.executor;
    return testWebhook(deps, request.params.id, request.params.hook, principalOf(request).user.id, given === undefined ? undefined : withExecutorDefaults(given) as ExecutorValue | null);
  });

  app.get('/email-accounts/:id/webhooks/health', {
    config: { access: 'admin' },
    schema: {
      tags: ['email-accounts'], summary: 'Per hook: healthy, quarantined or probing; p50, p95 and failure rate over its recent calls',
      params: IdParams, response: { 200: Type.Object({ items: Type.Array(HookHealthOut) }) },
    },
  }, async (request) => ({ items: await hookHealth(deps, request.params.id) }));

  app.post('/email-accounts/:id/webhooks/:hook/release', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], summary: 'End the hook\'s quarantine now', params: HookParams, response: { 200: Type.Object({ released: Type.Boolean() }) } },
  }, async (request) => ({ released: await releaseQuarantine(deps, request.params.id, request.params.hook) }));

  app.get('/email-accounts/:id/webhooks/:hook/shadow', {
    config: { access: 'admin' },
    schema: {
      tags: ['email-accounts'], summary: 'How the hook\'s shadow runs compared with the live answers: agree, differ, failed',
      params: HookParams, response: { 200: ShadowSummaryOut },
    },
  }, async (request) => shadowSummary(deps, request.params.id, request.params.hook));

  app.post('/email-accounts/:id/webhooks/:hook/replay', {
    config: { access: 'admin' },
    schema: {
      tags: ['email-accounts'], summary: 'Run an unsaved executor against the last recorded payloads of the hook and compare its answers with the recorded ones (nothing is recorded or applied)',
      params: HookParams,
      body: Type.Object({ executor: Executor, count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })) }, Closed),
      response: { 200: Type.Object({ items: Type.Array(ReplayItem), summary: ShadowSummaryOut }) },
    },
  }, async (request) => replayHook(deps, request.params.id, request.params.hook, withExecutorDefaults(request.body.executor) as ExecutorValue, request.body.count ?? 20));

  app.get('/email-accounts/:id/webhooks/:hook/versions', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], summary: 'Every executor the hook has had, newest first: who changed it and when', params: HookParams, response: { 200: Type.Object({ items: Type.Array(HookVersionOut) }) } },
  }, async (request) => {
    await getEmailAccount(deps, request.params.id);
    return { items: await listHookVersions(deps, webhookScope(request.params.id, request.params.hook)) };
  });

  app.get('/email-accounts/:id/webhooks/:hook/versions/compare', {
    config: { access: 'admin' },
    schema: {
      tags: ['email-accounts'], summary: 'Two versions of the hook and a unified diff from the first to the second',
      params: HookParams, querystring: CompareQuery, response: { 200: VersionComparison },
    },
  }, async (request) => {
    await getEmailAccount(deps, request.params.id);
    return compareHookVersions(deps, webhookScope(request.params.id, request.params.hook), request.query.from, request.query.to);
  });

  app.post('/email-accounts/:id/webhooks/:hook/versions/:version/rollback', {
    config: { access: 'admin' },
    schema: {
      tags: ['email-accounts'], summary: 'Make an earlier version the hook\'s executor again (kept as a new version)',
      params: Type.Object({ ...HookParams.properties, version: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) }), response: { 200: EmailAccount },
    },
  }, async (request) => rollbackWebhook(deps, request.params.id, request.params.hook, request.params.version, principalOf(request).user.id));
};

export const invocationRetryRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.post('/email-accounts/:id/invocations/:invocationId/retry', {
    config: { access: 'admin' },
    schema: {
      tags: ['email-accounts'], summary: 'Run a recorded invocation again with the same input; for inbound mail the answer is applied now',
      params: Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }), invocationId: Type.String({ pattern: '^inv_[A-Za-z0-9]{8,40}$' }) }),
      response: { 200: Type.Object({ invocationId: Nullable(Type.String()), outcome: Type.String(), error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })) }) },
    },
  }, async (request) => retryInvocation(deps, request.params.id, request.params.invocationId, principalOf(request).user.id));
};
