import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acceptInbound } from '../src/app/mail/accept-inbound.ts';
import { processPendingInbound } from '../src/app/mail/ingest-inbound.ts';
import { BACKENDS } from './support/backends.ts';
import { startTestApp, type TestApp } from './support/test-app.ts';

describe.each(BACKENDS)('tickets API on %s', (kind) => {
  let t: TestApp;
  beforeEach(async () => { t = await startTestApp(kind); });
  afterEach(async () => { await t.close(); });

  const create = async (body: Record<string, unknown>, token?: string) => {
    const res = await t.api('POST', '/api/v1/tickets', { subject: 'Abschlag zu hoch', from: 'erika@example.com', body: 'Hallo', ...body }, token);
    return res;
  };

  it('creates a ticket (201, no envelope) and records TicketCreated and the activity', async () => {
    const res = await create({ tags: ['Strom', 'strom', ' VIP '], priority: 'high' }, t.agentToken);
    expect(res.statusCode).toBe(201);
    const ticket = res.json();
    expect(ticket).toMatchObject({ id: expect.any(Number), subject: 'Abschlag zu hoch', status: 'open', priority: 'high', tags: ['Strom', 'VIP'], legitimationLevel: 0, channel: 'email' });
    const events = (await t.api('GET', `/api/v1/events?ticketId=${ticket.id}`)).json();
    expect(events.items.map((e: { type: string }) => e.type)).toEqual(['TicketCreated']);
    const activity = (await t.api('GET', `/api/v1/tickets/${ticket.id}/activity`, undefined, t.agentToken)).json();
    expect(activity.items[0]).toMatchObject({ field: 'ticket', to: 'created', actor: { type: 'user', userId: t.agentId } });
  });

  it('derives bodyPlain from an HTML body', async () => {
    const ticket = (await create({ body: '<p>Guten Tag,<br>mein Z&auml;hler &amp; mehr</p>' })).json();
    expect(ticket.bodyPlain).toBe('Guten Tag,\nmein Z&auml;hler & mehr');
  });

  it('updates instead of duplicating when externalTicketId exists, also under concurrent creates', async () => {
    const first = await create({ externalTicketId: 'crm-42' });
    expect(first.statusCode).toBe(201);
    const again = await create({ externalTicketId: 'crm-42', priority: 'urgent' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ id: first.json().id, priority: 'urgent' });
    const racing = await Promise.all([1, 2, 3, 4].map(() => create({ externalTicketId: 'crm-43' })));
    expect(racing.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 201]);
    expect(new Set(racing.map((r) => r.json().id)).size).toBe(1);
    const all = (await t.api('GET', '/api/v1/tickets?limit=200')).json();
    expect(all.items).toHaveLength(2);
  });

  it('patches every property and logs each change as {field, from, to, actor, at}', async () => {
    const { id } = (await create({})).json();
    const patch = {
      subject: 'Neuer Betreff', status: 'waitingOnCustomer', priority: 'urgent', dueBy: '2026-12-24T10:00:00.000Z',
      firstResponseDueBy: '2026-11-29T10:00:00.000Z', agentId: t.agentId, tags: ['umzug'], contractId: 'V-2024-0815',
      customerId: 'K-1001', legitimationLevel: 20, externalTicketId: 'crm-7',
    };
    const res = await t.api('PATCH', `/api/v1/tickets/${id}`, patch, t.agentToken);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject(patch);
    const activity = (await t.api('GET', `/api/v1/tickets/${id}/activity`)).json().items;
    const changes = activity.filter((a: { field: string }) => a.field !== 'ticket');
    expect(changes.map((a: { field: string }) => a.field).sort()).toEqual(Object.keys(patch).sort());
    expect(changes.find((a: { field: string }) => a.field === 'status')).toMatchObject({ from: 'open', to: 'waitingOnCustomer', actor: { type: 'user', userId: t.agentId }, at: expect.any(String) });
    const events = (await t.api('GET', `/api/v1/events?ticketId=${id}&type=TicketUpdated`)).json().items;
    expect(events).toHaveLength(1);
    expect(events[0].data).toMatchObject({ userId: t.agentId, changes: { status: 'waitingOnCustomer', priority: 'urgent' }, previous: { status: 'open', priority: 'medium' } });
  });

  it('adds and removes tags without replacing the others', async () => {
    const { id } = (await create({ tags: ['a', 'b'] })).json();
    const res = await t.api('PATCH', `/api/v1/tickets/${id}`, { addTags: ['c', 'A'], removeTags: ['b'] });
    expect(res.json().tags).toEqual(['a', 'c']);
  });

  it('a patch that changes nothing records nothing', async () => {
    const { id } = (await create({ priority: 'low' })).json();
    await t.api('PATCH', `/api/v1/tickets/${id}`, { priority: 'low' });
    const events = (await t.api('GET', `/api/v1/events?ticketId=${id}&type=TicketUpdated`)).json().items;
    expect(events).toEqual([]);
  });

  it('refuses pending without a future dueBy (422 rule_violation) and accepts it with one', async () => {
    const { id } = (await create({})).json();
    const without = await t.api('PATCH', `/api/v1/tickets/${id}`, { status: 'pending' });
    expect(without.statusCode).toBe(422);
    expect(without.headers['content-type']).toContain('application/problem+json');
    expect(without.json()).toMatchObject({ code: 'rule_violation', errors: [{ field: 'dueBy' }] });
    const past = await t.api('PATCH', `/api/v1/tickets/${id}`, { status: 'pending', dueBy: '2026-11-28T09:00:00.000Z' });
    expect(past.statusCode).toBe(422);
    const future = await t.api('PATCH', `/api/v1/tickets/${id}`, { status: 'pending', dueBy: '2026-11-28T11:00:00.000Z' });
    expect(future.statusCode).toBe(200);
    expect(future.json()).toMatchObject({ status: 'pending', dueBy: '2026-11-28T11:00:00.000Z' });
    const created = await create({ status: 'pending' });
    expect(created.statusCode).toBe(422);
  });

  it('sets closedAt when closed and clears it when reopened', async () => {
    const { id } = (await create({})).json();
    const closed = (await t.api('PATCH', `/api/v1/tickets/${id}`, { status: 'closed' })).json();
    expect(closed.closedAt).toBe('2026-11-28T10:00:00.000Z');
    const open = (await t.api('PATCH', `/api/v1/tickets/${id}`, { status: 'open' })).json();
    expect(open.closedAt).toBeNull();
  });

  it('refuses an assignee that does not exist', async () => {
    const { id } = (await create({})).json();
    const res = await t.api('PATCH', `/api/v1/tickets/${id}`, { agentId: 999 });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ field: 'agentId', message: 'no such active user' }]);
  });

  it('bulk-patches: each ticket once, failures reported per ticket', async () => {
    const a = (await create({})).json().id;
    const b = (await create({})).json().id;
    const res = await t.api('PATCH', '/api/v1/tickets', { ids: [a, b, b, 9999], patch: { priority: 'high', addTags: ['bulk'] } }, t.agentToken);
    expect(res.statusCode).toBe(200);
    const items = res.json().items;
    expect(items.map((i: { id: number; ok: boolean }) => [i.id, i.ok])).toEqual([[a, true], [b, true], [9999, false]]);
    expect(items[2].error.code).toBe('not_found');
    for (const id of [a, b]) {
      const events = (await t.api('GET', `/api/v1/events?ticketId=${id}&type=TicketUpdated`)).json().items;
      expect(events).toHaveLength(1);
    }
  });

  it('searches with filters and pages with nextCursor', async () => {
    for (let i = 0; i < 5; i++) await create({ subject: `Frage ${i}`, priority: i < 2 ? 'high' : 'low', tags: i === 4 ? ['vip'] : [] });
    await t.api('PATCH', '/api/v1/tickets/1', { agentId: t.agentId });
    const high = (await t.api('GET', '/api/v1/tickets?priority=high', undefined, t.agentToken)).json();
    expect(high.items.map((x: { subject: string }) => x.subject)).toEqual(['Frage 1', 'Frage 0']);
    const two = (await t.api('GET', '/api/v1/tickets?priority=high&priority=low&status=open&limit=2')).json();
    expect(two.items).toHaveLength(2);
    const rest = (await t.api('GET', `/api/v1/tickets?priority=high&priority=low&status=open&limit=10&cursor=${two.nextCursor}`)).json();
    expect(rest.items).toHaveLength(3);
    expect(rest.nextCursor).toBeNull();
    expect((await t.api('GET', '/api/v1/tickets?tags=vip')).json().items.map((x: { subject: string }) => x.subject)).toEqual(['Frage 4']);
    expect((await t.api('GET', `/api/v1/tickets?agentId=${t.agentId}`)).json().items.map((x: { id: number }) => x.id)).toEqual([1]);
    expect((await t.api('GET', '/api/v1/tickets?agentId=none')).json().items).toHaveLength(4);
    expect((await t.api('GET', '/api/v1/tickets?q=frage%203')).json().items.map((x: { subject: string }) => x.subject)).toEqual(['Frage 3']);
    expect((await t.api('GET', '/api/v1/tickets?status=nonsense')).statusCode).toBe(400);
  });

  it('adds internal notes and queued outbound replies to the thread', async () => {
    const ticket = (await create({ subject: 'Zählerstand' })).json();
    const note = await t.api('POST', `/api/v1/tickets/${ticket.id}/conversations`, { direction: 'internal', body: 'Kunde ruft morgen an' }, t.agentToken);
    expect(note.statusCode).toBe(201);
    expect(note.json()).toMatchObject({ direction: 'internal', private: true, deliveryStatus: null, agentId: t.agentId });
    const reply = await t.api('POST', `/api/v1/tickets/${ticket.id}/conversations`, { direction: 'out', body: '<p>Danke!</p>' }, t.agentToken);
    expect(reply.json()).toMatchObject({ direction: 'out', private: false, deliveryStatus: 'queued', toEmail: ['erika@example.com'], subject: expect.stringMatching(new RegExp(`^Re: Zählerstand \\[#${ticket.id}-[a-z2-7]{8}\\]$`)), bodyPlain: 'Danke!' });
    const thread = (await t.api('GET', `/api/v1/tickets/${ticket.id}/conversations`, undefined, t.agentToken)).json();
    expect(thread.items.map((c: { direction: string }) => c.direction)).toEqual(['internal', 'out']);
    const after = (await t.api('GET', `/api/v1/tickets/${ticket.id}`)).json();
    expect(after.messageCount).toBe(3);
    const events = (await t.api('GET', `/api/v1/events?ticketId=${ticket.id}&type=ConversationCreated`)).json().items;
    expect(events.map((e: { data: { direction: string } }) => e.data.direction)).toEqual(['internal', 'out']);
  });

  it('shows an inbound email\'s attachments and serves them as downloads only', async () => {
    const account = (await t.api('POST', '/api/v1/email-accounts', { name: 'S', address: 'support@example.com', inbound: { type: 'smtp' } })).json();
    const raw = Buffer.from([
      'From: Erika <erika@example.com>', 'To: support@example.com', 'Subject: Foto', 'Message-ID: <foto@example.com>', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="X"', '', '--X', 'Content-Type: text/plain; charset=utf-8', '', 'Anbei das Foto.', '',
      '--X', 'Content-Type: text/html; name="x.html"', 'Content-Disposition: attachment; filename="x.html"', 'Content-Transfer-Encoding: base64', '',
      Buffer.from('<script>alert(1)</script>').toString('base64'), '--X--', '',
    ].join('\r\n'));
    await acceptInbound(t.deps, { emailAccountId: account.id, source: 'smtp', sourceKey: null, envelopeFrom: 'erika@example.com', envelopeTo: ['support@example.com'], raw });
    await processPendingInbound(t.deps);
    const ticket = (await t.api('GET', '/api/v1/tickets', undefined, t.agentToken)).json().items[0];
    expect(ticket).toMatchObject({ subject: 'Foto', messageId: 'foto@example.com', attachments: [{ name: 'x.html', contentType: 'text/html', size: 25 }], flags: {} });
    const download = await t.api('GET', `/api/v1/attachments/${ticket.attachments[0].id}`, undefined, t.agentToken);
    expect(download.statusCode).toBe(200);
    expect(download.headers['content-type']).toBe('application/octet-stream');
    expect(download.headers['content-disposition']).toBe("attachment; filename*=UTF-8''x.html");
    expect(download.body).toBe('<script>alert(1)</script>');
    expect((await t.api('GET', '/api/v1/attachments/att_doesnotexist', undefined, t.agentToken)).statusCode).toBe(404);
    expect((await t.api('GET', `/api/v1/attachments/${ticket.attachments[0].id}`, undefined, null)).statusCode).toBe(401);
  });

  it('answers 404 problem+json for unknown tickets', async () => {
    const res = await t.api('GET', '/api/v1/tickets/12345');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'not_found', status: 404, detail: 'ticket 12345 does not exist' });
  });
});
