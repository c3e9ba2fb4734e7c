import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { writeAgentMessage } from '../../../app/conversations/write-message.ts';
import type { AppDeps } from '../../../app/deps.ts';
import { AppError, notFound } from '../../../app/errors.ts';
import type { TicketFilter } from '../../../app/ports/store.ts';
import { createTicket } from '../../../app/tickets/create-ticket.ts';
import { updateTicket, updateTickets } from '../../../app/tickets/update-ticket.ts';
import { CHANNELS } from '../../../domain/ticket.ts';
import { principalOf } from '../plugins/auth.ts';
import {
  ActivityEntry, Closed, Conversation, Email, Enum, Id, IdParams, PageQuery, pageOf, Priority, Problem, Status, Tag,
  Ticket, TicketPatch, TicketPatchFields, TicketWithWarnings, Warnings,
} from '../schemas.ts';

const TicketIn = Type.Object({
  ...TicketPatchFields,
  subject: Type.String({ minLength: 1, maxLength: 1000 }),
  emailAccountId: Type.Optional(Type.Union([Id, Type.Null()])),
  channel: Type.Optional(Enum(CHANNELS)),
  from: Type.Optional(Type.Union([Email, Type.Null()])),
  fromName: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  to: Type.Optional(Type.Array(Email, { maxItems: 100 })),
  body: Type.Optional(Type.String({ maxLength: 1_000_000 })),
  bodyPlain: Type.Optional(Type.String({ maxLength: 1_000_000 })),
}, Closed);

const SearchQuery = Type.Object({
  ...PageQuery,
  status: Type.Optional(Type.Array(Status, { description: 'Repeat the parameter for several values.' })),
  priority: Type.Optional(Type.Array(Priority)),
  agentId: Type.Optional(Type.String({ pattern: '^([0-9]+|none)$', description: 'A user id, or `none` for unassigned tickets.' })),
  tags: Type.Optional(Type.Array(Tag, { description: 'Tickets carrying every one of these tags.' })),
  emailAccountId: Type.Optional(Id),
  contractId: Type.Optional(Type.String({ maxLength: 50 })),
  customerId: Type.Optional(Type.String({ maxLength: 50 })),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Text in subject, body or sender.' })),
}, Closed);

const BulkIn = Type.Object({ ids: Type.Array(Id, { minItems: 1, maxItems: 500 }), patch: TicketPatch }, Closed);
const BulkOut = Type.Object({
  items: Type.Array(Type.Object({
    id: Type.Integer(),
    ok: Type.Boolean(),
    ticket: Type.Optional(Ticket),
    warnings: Warnings,
    error: Type.Optional(Type.Object({ code: Type.String(), detail: Type.String() })),
  })),
});

const MessageIn = Type.Object({
  direction: Enum(['out', 'internal'] as const, { description: '`out`: an email to the customer; `internal`: a note.' }),
  body: Type.String({ minLength: 1, maxLength: 1_000_000 }),
  bodyPlain: Type.Optional(Type.String({ maxLength: 1_000_000 })),
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
  to: Type.Optional(Type.Array(Email, { minItems: 1, maxItems: 50 })),
  cc: Type.Optional(Type.Array(Email, { maxItems: 50 })),
}, Closed);

export const ticketRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const actorOf = (request: Parameters<typeof principalOf>[0]) => ({ type: 'user' as const, userId: principalOf(request).user.id });
  const page = (q: { limit?: number; cursor?: string }) => ({ limit: q.limit ?? 50, cursor: q.cursor ?? null });

  app.get('/tickets', {
    config: { access: 'agent' },
    schema: { tags: ['tickets'], summary: 'Search tickets, newest first', querystring: SearchQuery, response: { 200: pageOf(Ticket) } },
  }, async (request) => {
    const q = request.query;
    const filter: TicketFilter = {
      ...(q.status ? { status: q.status } : {}),
      ...(q.priority ? { priority: q.priority } : {}),
      ...(q.agentId !== undefined ? { agentId: q.agentId === 'none' ? null : Number(q.agentId) } : {}),
      ...(q.tags ? { tags: q.tags } : {}),
      ...(q.emailAccountId !== undefined ? { emailAccountId: q.emailAccountId } : {}),
      ...(q.contractId !== undefined ? { contractId: q.contractId } : {}),
      ...(q.customerId !== undefined ? { customerId: q.customerId } : {}),
      ...(q.q !== undefined ? { text: q.q } : {}),
    };
    return deps.store.tickets.search(filter, page(q));
  });

  app.post('/tickets', {
    config: { access: 'agent' },
    schema: {
      tags: ['tickets'],
      summary: 'Create a ticket; with an existing externalTicketId the ticket is updated instead (200)',
      body: TicketIn,
      response: { 200: Ticket, 201: Ticket, 422: Problem },
    },
  }, async (request, reply) => {
    const { ticket, created } = await createTicket(deps, request.body, actorOf(request));
    return reply.status(created ? 201 : 200).send(ticket);
  });

  app.patch('/tickets', {
    config: { access: 'agent' },
    schema: { tags: ['tickets'], summary: 'Apply one patch to many tickets; each succeeds or fails alone', body: BulkIn, response: { 200: BulkOut } },
  }, async (request) => ({ items: await updateTickets(deps, request.body.ids, request.body.patch, actorOf(request)) }));

  app.get('/tickets/:id', {
    config: { access: 'agent' },
    schema: { tags: ['tickets'], params: IdParams, response: { 200: Ticket } },
  }, async (request) => (await deps.store.tickets.get(request.params.id)) ?? Promise.reject(notFound('ticket', request.params.id)));

  app.patch('/tickets/:id', {
    config: { access: 'agent' },
    schema: { tags: ['tickets'], summary: 'Change ticket properties (the ticketUpdates webhook may refuse, adjust or warn)', params: IdParams, body: TicketPatch, response: { 200: TicketWithWarnings, 422: Problem, 502: Problem } },
  }, async (request) => {
    const { ticket, warnings } = await updateTicket(deps, request.params.id, request.body, actorOf(request));
    return warnings.length ? { ...ticket, warnings } : ticket;
  });

  app.get('/tickets/:id/conversations', {
    config: { access: 'agent' },
    schema: { tags: ['tickets'], summary: 'The thread after the first email, oldest first', params: IdParams, querystring: Type.Object(PageQuery, Closed), response: { 200: pageOf(Conversation) } },
  }, async (request) => {
    if (!(await deps.store.tickets.get(request.params.id))) throw notFound('ticket', request.params.id);
    return deps.store.conversations.listByTicket(request.params.id, page(request.query));
  });

  app.post('/tickets/:id/conversations', {
    config: { access: 'agent' },
    schema: {
      tags: ['tickets'], summary: 'Reply to the customer (`out`, queued for sending) or add an internal note; the newEmails webhook may stop it',
      params: IdParams, body: MessageIn, response: { 201: Type.Object({ ...Conversation.properties, warnings: Warnings }), 422: Problem, 502: Problem },
    },
  }, async (request, reply) => {
    const { conversation, warnings } = await writeAgentMessage(deps, request.params.id, request.body, actorOf(request));
    return reply.status(201).send(warnings.length ? { ...conversation, warnings } : conversation);
  });

  app.get('/attachments/:id', {
    config: { access: 'agent' },
    schema: {
      tags: ['tickets'], summary: 'Download an attachment (always as a download, never rendered inline)',
      params: Type.Object({ id: Type.String({ pattern: '^att_[A-Za-z0-9_-]{10,64}$' }) }),
      response: { 200: { description: 'The file', content: { 'application/octet-stream': { schema: Type.Unsafe<Buffer>({ type: 'string', format: 'binary' }) } } } },
    },
  }, async (request, reply) => {
    const attachment = await deps.store.attachments.get(request.params.id);
    if (!attachment) throw notFound('attachment', request.params.id);
    if (!attachment.content) throw new AppError('not_found', `attachment ${attachment.id} was larger than DESKHOOK_ATTACHMENT_MAX_BYTES and was not kept`);
    const filename = encodeURIComponent(attachment.name);
    return reply
      .header('content-type', 'application/octet-stream')
      .header('x-content-type-options', 'nosniff')
      .header('content-disposition', `attachment; filename*=UTF-8''${filename}`)
      .header('x-original-content-type', attachment.contentType.replace(/[^\w.+/-]/g, ''))
      .send(attachment.content);
  });

  app.get('/tickets/:id/activity', {
    config: { access: 'agent' },
    schema: { tags: ['tickets'], summary: 'Every change of the ticket: field, from, to, actor, at', params: IdParams, querystring: Type.Object(PageQuery, Closed), response: { 200: pageOf(ActivityEntry) } },
  }, async (request) => {
    if (!(await deps.store.tickets.get(request.params.id))) throw notFound('ticket', request.params.id);
    return deps.store.activity.listByTicket(request.params.id, page(request.query));
  });
};
