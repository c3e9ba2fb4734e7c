import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../../../app/deps.ts';
import {
  confirmContract, getRecognitionSettings, linkContract, putRecognitionSettings, recognise, unlinkContract,
} from '../../../app/recognition/recognize.ts';
import type { TicketUpdateResult } from '../../../app/tickets/update-ticket.ts';
import { CRITERIA } from '../../../domain/recognition/legitimation.ts';
import type { RecognitionSettings } from '../../../domain/recognition/settings.ts';
import { principalOf } from '../plugins/auth.ts';
import { Closed, Enum, IdParams, Nullable, Problem, TicketWithWarnings } from '../schemas.ts';

const Pattern = Type.String({ minLength: 1, maxLength: 300 });
const Rule = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  criteria: Type.Array(Enum(CRITERIA), { minItems: 1, uniqueItems: true }),
  min: Type.Integer({ minimum: 1, maximum: CRITERIA.length }),
}, Closed);
const SettingsFields = {
  enabled: Type.Boolean(),
  contractPatterns: Type.Array(Pattern, { maxItems: 20, description: 'Regular expressions (case-insensitive); the first capture group, or the whole match, is the contract number. Empty: built-in label patterns (Vertragsnummer, contract no., …).' }),
  customerPatterns: Type.Array(Pattern, { maxItems: 20 }),
  ownDomains: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 50, description: 'The team\'s own mail domains.' }),
  rules: Type.Array(Rule, { minItems: 1, maxItems: 20, description: 'Legitimation rule groups; any one satisfied gives level 20.' }),
  useModel: Type.Boolean({ description: 'Also ask the language model of DESKHOOK_LLM_URL.' }),
};
const Settings = Type.Object(SettingsFields);
const SettingsPatch = Type.Partial(Type.Object(SettingsFields, Closed), { ...Closed, minProperties: 1 });

const Message = Type.Object({
  from: Nullable(Type.String({ maxLength: 320 })),
  fromName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  subject: Type.String({ maxLength: 2000 }),
  body: Type.String({ maxLength: 500_000, description: 'Plain text.' }),
}, Closed);

const Result = Type.Object({
  characteristics: Type.Record(Type.String(), Type.String()),
  contract: Nullable(Type.Record(Type.String(), Type.Unknown())),
  customer: Nullable(Type.Record(Type.String(), Type.Unknown())),
  legitimationLevel: Type.Integer(),
  criteria: Type.Array(Type.Object({ criterion: Type.String(), met: Type.Boolean(), detail: Type.String() })),
  detectionLog: Type.Array(Type.Object({ step: Type.String(), message: Type.String() })),
  erpCalls: Type.Array(Type.Object({ operation: Type.String(), cache: Type.String(), durationMs: Type.Number() })),
  timedOut: Type.Optional(Type.Boolean({ description: 'The rules overran DESKHOOK_RECOGNITION_BUDGET_MS and were stopped: nothing was recognised.' })),
});

const withWarnings = ({ ticket, warnings }: TicketUpdateResult) => (warnings.length ? { ...ticket, warnings } : ticket);

export const recognitionRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const actorOf = (request: Parameters<typeof principalOf>[0]) => ({ type: 'user' as const, userId: principalOf(request).user.id });

  app.get('/recognition/settings', {
    config: { access: 'admin' },
    schema: { tags: ['recognition'], summary: 'Customer recognition settings', response: { 200: Settings } },
  }, async () => getRecognitionSettings(deps));

  app.put('/recognition/settings', {
    config: { access: 'admin' },
    schema: { tags: ['recognition'], summary: 'Change customer recognition settings (fields left out keep their value)', body: SettingsPatch, response: { 200: Settings } },
  }, async (request) => putRecognitionSettings(deps, request.body as Partial<RecognitionSettings>));

  app.post('/recognition/preview', {
    config: { access: 'agent' },
    schema: { tags: ['recognition'], summary: 'Dry run: what recognition would find for a message; changes nothing', body: Message, response: { 200: Result } },
  }, async (request) => recognise(deps, request.body));

  app.post('/tickets/:id/contract', {
    config: { access: 'agent' },
    schema: {
      tags: ['recognition'], summary: 'Link (or relink) a contract chosen by the agent: level 30', params: IdParams,
      body: Type.Object({ contractId: Type.String({ minLength: 1, maxLength: 50 }) }, Closed), response: { 200: TicketWithWarnings, 404: Problem, 422: Problem, 502: Problem },
    },
  }, async (request) => withWarnings(await linkContract(deps, request.params.id, request.body.contractId, actorOf(request))));

  app.post('/tickets/:id/contract/confirm', {
    config: { access: 'agent' },
    schema: { tags: ['recognition'], summary: 'Confirm the recognised contract: level 30', params: IdParams, response: { 200: TicketWithWarnings, 409: Problem, 422: Problem, 502: Problem } },
  }, async (request) => withWarnings(await confirmContract(deps, request.params.id, actorOf(request))));

  app.delete('/tickets/:id/contract', {
    config: { access: 'agent' },
    schema: { tags: ['recognition'], summary: 'Unlink the contract and customer: level 0', params: IdParams, response: { 200: TicketWithWarnings, 422: Problem, 502: Problem } },
  }, async (request) => withWarnings(await unlinkContract(deps, request.params.id, actorOf(request))));
};
