import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../../../app/deps.ts';
import {
  createEmailAccount, deleteEmailAccount, getEmailAccount, listEmailAccounts, revealSigningSecret, rotateSigningSecret,
  updateEmailAccount, type EmailAccountInput,
} from '../../../app/email-accounts.ts';
import { Closed, DateTime, Email, EmailAccount, Executor, IdParams, Inbound, Nullable, Outbound, PageQuery, pageOf, WebhookSettings, Enum } from '../schemas.ts';
import { FAILURE_POLICIES, WEBHOOK_TIMEOUT_MAX_MS } from '../../../domain/email-account.ts';

const WebhooksIn = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  ticketUpdates: Type.Optional(Nullable(Executor)),
  newEmails: Type.Optional(Nullable(Executor)),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: WEBHOOK_TIMEOUT_MAX_MS })),
  failurePolicy: Type.Optional(Enum(FAILURE_POLICIES)),
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

const SigningSecret = Type.Object({
  signingSecret: Type.String({ description: '`whsec_…`: receivers verify `webhook-signature` with it.' }),
  previousSigningSecret: Nullable(Type.String({ description: 'Still valid (and signed with) until previousExpiresAt.' })),
  previousExpiresAt: Nullable(DateTime),
});

/** Executors arrive without defaults; fill them so the stored shape is complete. */
function normaliseInput<T extends Partial<EmailAccountInput>>(given: T): T {
  const input = given.inbound?.type === 'imap' ? { ...given, inbound: { ...given.inbound, folder: given.inbound.folder ?? 'INBOX' } } : given;
  const webhooks = input.webhooks;
  if (!webhooks) return input;
  const fill = (e: unknown) => {
    const ex = e as { type?: string; method?: string; headers?: Record<string, string> } | null | undefined;
    return ex && ex.type === 'apiCall' ? { ...ex, method: ex.method ?? 'POST', headers: ex.headers ?? {} } : ex;
  };
  return {
    ...input,
    webhooks: {
      ...webhooks,
      ...(webhooks.ticketUpdates !== undefined ? { ticketUpdates: fill(webhooks.ticketUpdates) } : {}),
      ...(webhooks.newEmails !== undefined ? { newEmails: fill(webhooks.newEmails) } : {}),
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
  }, async (request, reply) => reply.status(201).send(await createEmailAccount(deps, normaliseInput(request.body as EmailAccountInput))));

  app.get('/email-accounts/:id', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], params: IdParams, response: { 200: EmailAccount } },
  }, async (request) => getEmailAccount(deps, request.params.id));

  app.patch('/email-accounts/:id', {
    config: { access: 'admin' },
    schema: { tags: ['email-accounts'], params: IdParams, body: AccountPatch, response: { 200: EmailAccount } },
  }, async (request) => updateEmailAccount(deps, request.params.id, normaliseInput(request.body as Partial<EmailAccountInput>)));

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

export { WebhookSettings };
