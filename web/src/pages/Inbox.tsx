import { useEffect, useState } from 'react';
import { api, query } from '../api.ts';
import { ErrorNote, Field } from '../components/ui.tsx';
import { formatDate, useLang, useT, type Lang, type Texts } from '../i18n.tsx';
import { Link, navigate, useLocation } from '../router.tsx';
import { useSession, type Me } from '../session.tsx';

/** The ticket as GET /tickets and GET /tickets/{id} answer it (the fields the UI uses). */
export interface Ticket {
  id: number;
  emailAccountId: number | null;
  subject: string;
  from: string | null;
  fromName: string | null;
  to: string[];
  body: string;
  bodyPlain: string;
  status: string;
  priority: string;
  dueBy: string | null;
  agentId: number | null;
  tags: string[];
  contractId: string | null;
  customerId: string | null;
  legitimationLevel: number;
  createdAt: string;
  modifiedAt: string;
  lastMessageAt: string | null;
  attachments: Attachment[];
  flags: { spam?: boolean; autoReply?: string };
}

export interface Attachment { id: string; name: string; contentType: string; size: number }
export interface Page<T> { items: T[]; nextCursor: string | null }
export interface User { id: number; email: string; name: string; role: 'admin' | 'agent'; service: boolean; disabled: boolean }

export const STATUSES = ['open', 'pending', 'resolved', 'closed', 'waitingOnCustomer', 'waitingOnThirdParty'] as const;
export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;

/** Names of statuses and priorities, shared by the pages that show tickets. */
export const TICKET_TEXTS: Texts<(typeof STATUSES)[number] | (typeof PRIORITIES)[number]> = {
  en: {
    open: 'Open', pending: 'Pending', resolved: 'Resolved', closed: 'Closed', waitingOnCustomer: 'Waiting on customer', waitingOnThirdParty: 'Waiting on third party',
    low: 'Low', medium: 'Medium', high: 'High', urgent: 'Urgent',
  },
  de: {
    open: 'Offen', pending: 'Zurückgestellt', resolved: 'Gelöst', closed: 'Geschlossen', waitingOnCustomer: 'Wartet auf Kunde', waitingOnThirdParty: 'Wartet auf Dritte',
    low: 'Niedrig', medium: 'Mittel', high: 'Hoch', urgent: 'Dringend',
  },
};

const TEXTS: Texts<
  | 'title' | 'filters' | 'status' | 'priority' | 'assignee' | 'any' | 'unassigned' | 'me' | 'account' | 'accountId' | 'tags' | 'tagsHint'
  | 'text' | 'apply' | 'reset' | 'refresh' | 'subject' | 'from' | 'due' | 'lastMessage' | 'none' | 'loadMore' | 'loading' | 'newTicket'
  | 'create' | 'cancel' | 'body' | 'newTicketTitle' | 'tickets' | 'user'
> = {
  en: {
    title: 'Inbox', filters: 'Filters', status: 'Status', priority: 'Priority', assignee: 'Assignee', any: 'Any', unassigned: 'Unassigned', me: 'Me',
    account: 'Email account', accountId: 'Email account id', tags: 'Tags', tagsHint: 'Comma-separated; tickets with all of them',
    text: 'Text', apply: 'Apply filters', reset: 'Reset', refresh: 'Refresh', subject: 'Subject', from: 'From', due: 'Due by',
    lastMessage: 'Last message', none: 'No tickets match.', loadMore: 'Load more', loading: 'Loading …', newTicket: 'New ticket',
    create: 'Create ticket', cancel: 'Cancel', body: 'Message', newTicketTitle: 'New ticket', tickets: 'Tickets', user: 'User #{id}',
  },
  de: {
    title: 'Posteingang', filters: 'Filter', status: 'Status', priority: 'Priorität', assignee: 'Zuständig', any: 'Alle', unassigned: 'Nicht zugewiesen', me: 'Ich',
    account: 'E-Mail-Konto', accountId: 'E-Mail-Konto-ID', tags: 'Tags', tagsHint: 'Durch Komma getrennt; Tickets mit allen davon',
    text: 'Text', apply: 'Filter anwenden', reset: 'Zurücksetzen', refresh: 'Aktualisieren', subject: 'Betreff', from: 'Von', due: 'Fällig am',
    lastMessage: 'Letzte Nachricht', none: 'Keine passenden Tickets.', loadMore: 'Mehr laden', loading: 'Lädt …', newTicket: 'Neues Ticket',
    create: 'Ticket anlegen', cancel: 'Abbrechen', body: 'Nachricht', newTicketTitle: 'Neues Ticket', tickets: 'Tickets', user: 'Benutzer #{id}',
  },
};

/** All users, for admins (GET /users is admin-only); agents get an empty list and fall back to "me". */
export function useUsers(me: Me | null): User[] {
  const [users, setUsers] = useState<User[]>([]);
  useEffect(() => {
    if (me?.role !== 'admin') return;
    api<Page<User>>('GET', '/users?limit=200').then((r) => setUsers(r.items), () => setUsers([]));
  }, [me?.id, me?.role]);
  return users;
}

/** "Name" for a user id, from the user list, the session, or "User #7". */
export function userName(id: number | null, users: User[], me: Me | null, fallback: (id: number) => string): string {
  if (id === null) return '';
  if (me && me.id === id) return me.name;
  return users.find((u) => u.id === id)?.name ?? fallback(id);
}

export function senderOf(t: { from: string | null; fromName: string | null }): string {
  if (t.fromName && t.from) return `${t.fromName} <${t.from}>`;
  return t.fromName ?? t.from ?? '';
}

/** The ticket table of the inbox and the customer page. */
export function TicketTable({ tickets, users, me, lang }: { tickets: Ticket[]; users: User[]; me: Me | null; lang: Lang }) {
  const t = useT(TEXTS);
  const tt = useT(TICKET_TEXTS);
  const label = (key: string) => tt(key as keyof (typeof TICKET_TEXTS)['en']);
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">{t('subject')}</th>
          <th scope="col">{t('from')}</th>
          <th scope="col">{t('status')}</th>
          <th scope="col">{t('priority')}</th>
          <th scope="col">{t('assignee')}</th>
          <th scope="col">{t('due')}</th>
          <th scope="col">{t('lastMessage')}</th>
        </tr>
      </thead>
      <tbody>
        {tickets.map((ticket) => (
          <tr key={ticket.id} className="ticket-row">
            <td className="muted">{ticket.id}</td>
            <td>
              <Link to={`/tickets/${ticket.id}`}>{ticket.subject}</Link>
              {ticket.tags.length ? <div className="muted">{ticket.tags.join(', ')}</div> : null}
            </td>
            <td>{senderOf(ticket)}</td>
            <td>{label(ticket.status)}</td>
            <td>{label(ticket.priority)}</td>
            <td>{ticket.agentId === null ? <span className="muted">{t('unassigned')}</span> : userName(ticket.agentId, users, me, (id) => t('user', { id }))}</td>
            <td>{formatDate(ticket.dueBy, lang)}</td>
            <td>{formatDate(ticket.lastMessageAt, lang)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A list with "load more": the first page whenever `path` changes, further pages on request. */
export function usePagedList<T>(path: string, tick = 0) {
  const [list, setList] = useState<Page<T> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  useEffect(() => {
    let live = true;
    setError(null);
    api<Page<T>>('GET', path).then((r) => live && setList(r), (err: unknown) => live && setError(err));
    return () => {
      live = false;
    };
  }, [path, tick]);
  const loadMore = async () => {
    if (!list?.nextCursor) return;
    setLoadingMore(true);
    try {
      const sep = path.includes('?') ? '&' : '?';
      const next = await api<Page<T>>('GET', `${path}${sep}cursor=${encodeURIComponent(list.nextCursor)}`);
      setList({ items: [...list.items, ...next.items], nextCursor: next.nextCursor });
    } catch (err) {
      setError(err);
    } finally {
      setLoadingMore(false);
    }
  };
  return { list, error, loadingMore, loadMore };
}

interface EmailAccountOption { id: number; name: string; address: string }

export function Inbox() {
  const t = useT(TEXTS);
  const tt = useT(TICKET_TEXTS);
  const { lang } = useLang();
  const { me } = useSession();
  const { path, search } = useLocation();
  const users = useUsers(me);
  const [tick, setTick] = useState(0);
  const [creating, setCreating] = useState(false);

  // The filters live in the URL, so a reload or a shared link keeps them.
  const status = search.get('status') ?? '';
  const priority = search.get('priority') ?? '';
  const agentId = search.get('agentId') ?? '';
  const emailAccountId = search.get('emailAccountId') ?? '';
  const tags = search.getAll('tags');
  const text = search.get('q') ?? '';
  const urlKey = search.toString();

  const [draftText, setDraftText] = useState(text);
  const [draftTags, setDraftTags] = useState(tags.join(', '));
  useEffect(() => {
    setDraftText(text);
    setDraftTags(tags.join(', '));
  }, [urlKey]);

  const [accounts, setAccounts] = useState<EmailAccountOption[] | null>(null);
  useEffect(() => {
    if (me?.role !== 'admin') return;
    api<Page<EmailAccountOption>>('GET', '/email-accounts?limit=200').then((r) => setAccounts(r.items), () => setAccounts(null));
  }, [me?.role]);

  const setFilters = (changes: Record<string, string | string[]>) => {
    const next = new URLSearchParams(search);
    for (const [key, value] of Object.entries(changes)) {
      next.delete(key);
      for (const v of Array.isArray(value) ? value : [value]) if (v) next.append(key, v);
    }
    const qs = next.toString();
    navigate(`${path}${qs ? `?${qs}` : ''}`);
  };

  const apiPath = `/tickets${query({ status, priority, agentId, emailAccountId, tags, q: text, limit: 50 })}`;
  const { list, error, loadingMore, loadMore } = usePagedList<Ticket>(apiPath, tick);

  return (
    <section>
      <div className="row">
        <h1 style={{ marginRight: 'auto' }}>{t('title')}</h1>
        <button type="button" onClick={() => setTick((n) => n + 1)}>{t('refresh')}</button>
        <button type="button" className="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>{t('newTicket')}</button>
      </div>
      {creating ? <NewTicketForm onCancel={() => setCreating(false)} /> : null}
      <form
        className="card"
        aria-label={t('filters')}
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ q: draftText.trim(), tags: draftTags.split(',').map((s) => s.trim()).filter(Boolean) });
        }}
      >
        <div className="row" style={{ alignItems: 'flex-end' }}>
          <Field label={t('status')}>
            <select value={status} onChange={(e) => setFilters({ status: e.target.value })}>
              <option value="">{t('any')}</option>
              {STATUSES.map((s) => <option key={s} value={s}>{tt(s)}</option>)}
            </select>
          </Field>
          <Field label={t('priority')}>
            <select value={priority} onChange={(e) => setFilters({ priority: e.target.value })}>
              <option value="">{t('any')}</option>
              {PRIORITIES.map((p) => <option key={p} value={p}>{tt(p)}</option>)}
            </select>
          </Field>
          <Field label={t('assignee')}>
            <select value={agentId} onChange={(e) => setFilters({ agentId: e.target.value })}>
              <option value="">{t('any')}</option>
              <option value="none">{t('unassigned')}</option>
              {me ? <option value={String(me.id)}>{t('me')} ({me.name})</option> : null}
              {users.filter((u) => u.id !== me?.id && !u.service).map((u) => <option key={u.id} value={String(u.id)}>{u.name}</option>)}
            </select>
          </Field>
          {accounts ? (
            <Field label={t('account')}>
              <select value={emailAccountId} onChange={(e) => setFilters({ emailAccountId: e.target.value })}>
                <option value="">{t('any')}</option>
                {accounts.map((a) => <option key={a.id} value={String(a.id)}>{a.name} ({a.address})</option>)}
              </select>
            </Field>
          ) : (
            <Field label={t('accountId')}>
              <input type="number" min={1} style={{ width: 90 }} value={emailAccountId} onChange={(e) => setFilters({ emailAccountId: e.target.value })} />
            </Field>
          )}
          <Field label={t('tags')} hint={t('tagsHint')}>
            <input value={draftTags} onChange={(e) => setDraftTags(e.target.value)} />
          </Field>
          <Field label={t('text')}>
            <input type="search" value={draftText} onChange={(e) => setDraftText(e.target.value)} />
          </Field>
          <div className="row" style={{ marginBottom: 8 }}>
            <button type="submit">{t('apply')}</button>
            <button type="button" onClick={() => navigate(path)}>{t('reset')}</button>
          </div>
        </div>
      </form>
      <ErrorNote error={error} />
      {!list && !error ? <p className="muted">{t('loading')}</p> : null}
      {list ? (
        <>
          <TicketTable tickets={list.items} users={users} me={me} lang={lang} />
          {list.items.length === 0 ? <p className="muted">{t('none')}</p> : null}
          {list.nextCursor ? (
            <p><button type="button" disabled={loadingMore} onClick={() => void loadMore()}>{loadingMore ? t('loading') : t('loadMore')}</button></p>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

function NewTicketForm({ onCancel }: { onCancel: () => void }) {
  const t = useT(TEXTS);
  const [subject, setSubject] = useState('');
  const [from, setFrom] = useState('');
  const [body, setBody] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="card"
      aria-label={t('newTicketTitle')}
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          const created = await api<Ticket>('POST', '/tickets', {
            subject: subject.trim(),
            ...(from.trim() ? { from: from.trim() } : {}),
            ...(body.trim() ? { body, bodyPlain: body } : {}),
          });
          navigate(`/tickets/${created.id}`);
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>{t('newTicketTitle')}</h2>
      <Field label={t('subject')}><input required value={subject} onChange={(e) => setSubject(e.target.value)} /></Field>
      <Field label={t('from')}><input type="email" value={from} onChange={(e) => setFrom(e.target.value)} /></Field>
      <Field label={t('body')}><textarea value={body} onChange={(e) => setBody(e.target.value)} /></Field>
      <ErrorNote error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>{t('create')}</button>
        <button type="button" onClick={onCancel}>{t('cancel')}</button>
      </div>
    </form>
  );
}
