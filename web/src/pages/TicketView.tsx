import { useEffect, useState, type ReactNode } from 'react';
import { api, ApiError, getToken, query } from '../api.ts';
import { customerName } from '../components/SearchBar.tsx';
import { ErrorNote, Field } from '../components/ui.tsx';
import { formatDate, useLang, useT, type Texts } from '../i18n.tsx';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { PRIORITIES, senderOf, STATUSES, TICKET_TEXTS, userName, useUsers, type Attachment, type Page, type Ticket, type User } from './Inbox.tsx';

interface Conversation {
  id: number;
  direction: 'in' | 'out' | 'internal';
  fromEmail: string | null;
  toEmail: string[];
  ccEmails: string[];
  subject: string;
  body: string;
  bodyPlain: string;
  attachments: Attachment[];
  agentId: number | null;
  deliveryStatus: 'queued' | 'sent' | 'failed' | 'blocked' | null;
  deliveryError: string | null;
  flags: MessageFlags;
  createdAt: string;
}

/** SPF/DKIM/DMARC of an inbound email as checked at intake (`flags.authentication`). */
interface MailAuthentication {
  spf: { result: string };
  dkim: Array<{ result: string; domain: string | null }>;
  dmarc: { result: string };
  authenticated: boolean;
  note: string | null;
}

interface MailAddress { address: string; name: string }

interface MessageFlags { autoReply?: string; spam?: boolean; authentication?: MailAuthentication; replyTo?: MailAddress[] }

type Actor = { type: 'user'; userId: number } | { type: 'system'; reason: string } | { type: 'webhook'; hook: string; invocationId: string };

interface ActivityEntry {
  id: number;
  field: string;
  from: unknown;
  to: unknown;
  actor: Actor;
  at: string;
  meta: Record<string, unknown> | null;
}

interface Recognition {
  characteristics?: Record<string, string>;
  detectionLog?: Array<{ step: string; message: string }>;
  erpCalls?: Array<{ operation: string; cache: string; durationMs: number }>;
  criteria?: string[];
}

interface Warning { code: string; hook: string; invocationId: string; message: string }
type WithWarnings<T> = T & { warnings?: Warning[] };

/** A contract or customer as the ERP (or the local records) gives it: a few known fields, any others kept. */
export interface ErpRecord { id: string; firstname?: unknown; lastname?: unknown; company?: unknown; [field: string]: unknown }
interface PreviewItem { label: string; value: string | number; tooltip?: string; url?: string }
interface ErpUrl { url: string; icon?: string }

const TEXTS: Texts<
  | 'loading' | 'back' | 'from' | 'replyTo' | 'to' | 'cc' | 'refresh' | 'thread' | 'customerMessage' | 'reply' | 'note' | 'delivery' | 'queued' | 'sent'
  | 'failed' | 'blocked' | 'attachments' | 'composer' | 'message' | 'sendReply' | 'addNote' | 'replySent' | 'noteAdded' | 'properties'
  | 'status' | 'priority' | 'dueBy' | 'dueHint' | 'assignee' | 'unassigned' | 'save' | 'saved' | 'tags' | 'addTag' | 'add' | 'removeTag'
  | 'noTags' | 'customer' | 'unknown' | 'unknownHint' | 'levelConfirmed' | 'levelLegitimised' | 'levelRecognised' | 'reviewHint' | 'ok'
  | 'review' | 'unlink' | 'change' | 'customerNumber' | 'contract' | 'contracts' | 'openCustomer' | 'searchCustomer' | 'search' | 'noCustomer'
  | 'link' | 'linked' | 'confirmed' | 'unlinked' | 'erpLink' | 'activity' | 'time' | 'actor' | 'change2' | 'webhook' | 'recognition'
  | 'erpCalls' | 'detectionLog' | 'criteria' | 'noActivity' | 'user' | 'system' | 'hookActor' | 'created' | 'messageAdded' | 'webhookWarning'
  | 'close' | 'customerSearch' | 'stale' | 'attachmentTooLarge' | 'spam' | 'autoReply' | 'recognitionNone' | 'senderVerified' | 'senderUnverified'
> = {
  en: {
    loading: 'Loading …', back: 'Inbox', from: 'From', replyTo: 'Reply-To', to: 'To', cc: 'Cc', refresh: 'Refresh', thread: 'Conversation', customerMessage: 'Customer',
    reply: 'Reply', note: 'Internal note', delivery: 'Delivery', queued: 'queued', sent: 'sent', failed: 'failed', blocked: 'blocked',
    attachments: 'Attachments', composer: 'Write', message: 'Message', sendReply: 'Send reply', addNote: 'Add internal note',
    replySent: 'Reply queued for sending.', noteAdded: 'Note added.', properties: 'Properties', status: 'Status', priority: 'Priority',
    dueBy: 'Due by', dueHint: '"Pending" needs a due date in the future.', assignee: 'Assignee', unassigned: 'Unassigned', save: 'Save', saved: 'Saved.',
    tags: 'Tags', addTag: 'New tag', add: 'Add', removeTag: 'Remove tag {tag}', noTags: 'No tags', customer: 'Customer', unknown: 'Unknown',
    unknownHint: 'No contract is linked. Search for the customer to link one.', levelConfirmed: 'confirmed', levelLegitimised: 'legitimised',
    levelRecognised: 'recognised, not legitimised', reviewHint: 'Please check that this is the right customer.', ok: 'Ok', review: 'Review',
    unlink: 'Unlink', change: 'Change', customerNumber: 'Customer number', contract: 'Contract', contracts: 'Contracts', openCustomer: 'Open customer',
    searchCustomer: 'Search customer', search: 'Search', noCustomer: 'No customer found', link: 'Link contract {id}', linked: 'Contract linked.',
    confirmed: 'Contract confirmed.', unlinked: 'Contract unlinked.', erpLink: 'Open in ERP', activity: 'Activity', time: 'Time', actor: 'By',
    change2: 'Change', webhook: 'Webhook', recognition: 'Customer recognition', erpCalls: 'ERP calls', detectionLog: 'Detection log',
    criteria: 'Criteria met', noActivity: 'No activity yet.', user: 'User #{id}', system: 'System ({reason})', hookActor: 'Webhook {hook}',
    created: 'Ticket created', messageAdded: 'Message #{id} added ({direction})', webhookWarning: 'Webhook problem', close: 'Dismiss', customerSearch: 'Customer search',
    stale: 'from the cache; the ERP did not answer', attachmentTooLarge: 'Attachment not available', spam: 'spam', autoReply: 'automatic reply',
    recognitionNone: 'no contract found', senderVerified: 'sender verified', senderUnverified: 'sender not verified',
  },
  de: {
    loading: 'Lädt …', back: 'Posteingang', from: 'Von', replyTo: 'Antwort an', to: 'An', cc: 'Cc', refresh: 'Aktualisieren', thread: 'Verlauf', customerMessage: 'Kunde',
    reply: 'Antwort', note: 'Interne Notiz', delivery: 'Zustellung', queued: 'in Warteschlange', sent: 'gesendet', failed: 'fehlgeschlagen', blocked: 'blockiert',
    attachments: 'Anhänge', composer: 'Schreiben', message: 'Nachricht', sendReply: 'Antwort senden', addNote: 'Interne Notiz speichern',
    replySent: 'Antwort zum Versand eingereiht.', noteAdded: 'Notiz gespeichert.', properties: 'Eigenschaften', status: 'Status', priority: 'Priorität',
    dueBy: 'Fällig am', dueHint: '„Zurückgestellt“ braucht ein Fälligkeitsdatum in der Zukunft.', assignee: 'Zuständig', unassigned: 'Nicht zugewiesen', save: 'Speichern', saved: 'Gespeichert.',
    tags: 'Tags', addTag: 'Neuer Tag', add: 'Hinzufügen', removeTag: 'Tag {tag} entfernen', noTags: 'Keine Tags', customer: 'Kunde', unknown: 'Unbekannt',
    unknownHint: 'Kein Vertrag verknüpft. Suchen Sie den Kunden, um einen zu verknüpfen.', levelConfirmed: 'bestätigt', levelLegitimised: 'legitimiert',
    levelRecognised: 'erkannt, nicht legitimiert', reviewHint: 'Bitte prüfen Sie, ob das der richtige Kunde ist.', ok: 'Ok', review: 'Prüfen',
    unlink: 'Verknüpfung lösen', change: 'Ändern', customerNumber: 'Kundennummer', contract: 'Vertrag', contracts: 'Verträge', openCustomer: 'Kunde öffnen',
    searchCustomer: 'Kunde suchen', search: 'Suchen', noCustomer: 'Kein Kunde gefunden', link: 'Vertrag {id} verknüpfen', linked: 'Vertrag verknüpft.',
    confirmed: 'Vertrag bestätigt.', unlinked: 'Verknüpfung gelöst.', erpLink: 'Im ERP öffnen', activity: 'Aktivität', time: 'Zeit', actor: 'Durch',
    change2: 'Änderung', webhook: 'Webhook', recognition: 'Kundenerkennung', erpCalls: 'ERP-Aufrufe', detectionLog: 'Erkennungsprotokoll',
    criteria: 'Erfüllte Kriterien', noActivity: 'Noch keine Aktivität.', user: 'Benutzer #{id}', system: 'System ({reason})', hookActor: 'Webhook {hook}',
    created: 'Ticket angelegt', messageAdded: 'Nachricht #{id} hinzugefügt ({direction})', webhookWarning: 'Webhook-Problem', close: 'Schließen', customerSearch: 'Kundensuche',
    stale: 'aus dem Cache; das ERP hat nicht geantwortet', attachmentTooLarge: 'Anhang nicht verfügbar', spam: 'Spam', autoReply: 'automatische Antwort',
    recognitionNone: 'kein Vertrag gefunden', senderVerified: 'Absender bestätigt', senderUnverified: 'Absender nicht bestätigt',
  },
};

/** Every page of a list, up to a sane bound. */
async function allPages<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await api<Page<T>>('GET', `${path}${query({ limit: 200, cursor })}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && items.length < 5000);
  return items;
}

const withoutWarnings = <T extends object>(value: WithWarnings<T>): T => {
  const { warnings: _w, ...rest } = value;
  return rest as T;
};

/** What an action tells the user: the API's refusal, a webhook's warnings, or a short confirmation. */
type Notice = { kind: 'error'; error: unknown } | { kind: 'warnings'; messages: string[] } | { kind: 'ok'; text: string } | null;

function useAction() {
  const [notice, setNotice] = useState<Notice>(null);
  const [busy, setBusy] = useState(false);
  /** Runs `fn`; its result's `warnings` (webhook failures under policy notify) are shown at once. */
  const run = async (fn: () => Promise<{ warnings?: Warning[] } | void>, okText?: string): Promise<boolean> => {
    setBusy(true);
    setNotice(null);
    try {
      const result = await fn();
      const warnings = result?.warnings ?? [];
      if (warnings.length) setNotice({ kind: 'warnings', messages: warnings.map((w) => w.message) });
      else setNotice(okText ? { kind: 'ok', text: okText } : null);
      return true;
    } catch (err) {
      setNotice({ kind: 'error', error: err });
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { notice, busy, run, clear: () => setNotice(null) };
}

function NoticeView({ notice }: { notice: Notice }) {
  const t = useT(TEXTS);
  if (!notice) return null;
  if (notice.kind === 'error') return <ErrorNote error={notice.error} />;
  if (notice.kind === 'warnings') {
    return (
      <div role="alert" className="warning">
        <strong>{t('webhookWarning')}: </strong>
        {notice.messages.map((m, i) => <div key={i}>{m}</div>)}
      </div>
    );
  }
  return <p role="status" className="ok">{notice.text}</p>;
}

/** Only http(s) links from ERP data become links; anything else is shown as text. */
const safeUrl = (url: unknown): string | null => (typeof url === 'string' && /^https?:\/\//i.test(url) ? url : null);

/** Downloads need the Authorization header: fetch the file with the token, then save it. */
async function download(attachment: Attachment): Promise<void> {
  const token = getToken();
  const res = await fetch(`/api/v1/attachments/${encodeURIComponent(attachment.id)}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!res.ok) {
    const problem = await res.json().catch(() => null) as { code?: string; detail?: string } | null;
    throw new ApiError(res.status, problem?.code ?? 'error', problem?.detail ?? `${res.status} ${res.statusText}`, problem);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = attachment.name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function Attachments({ items }: { items: Attachment[] }) {
  const t = useT(TEXTS);
  const [error, setError] = useState<unknown>(null);
  if (!items.length) return null;
  return (
    <div className="attachments">
      <span className="muted">{t('attachments')}: </span>
      {items.map((a) => (
        <span key={a.id} style={{ marginRight: 12 }}>
          <a
            href={`/api/v1/attachments/${encodeURIComponent(a.id)}`}
            onClick={(e) => {
              e.preventDefault();
              setError(null);
              download(a).catch(setError);
            }}
          >
            {a.name}
          </a>
          <span className="muted"> ({Math.max(1, Math.round(a.size / 1024))} KB)</span>
        </span>
      ))}
      <ErrorNote error={error} />
    </div>
  );
}

/** Mail is shown as text, never rendered as HTML. */
function plainText(bodyPlain: string, body: string): string {
  if (bodyPlain.trim()) return bodyPlain;
  if (!/<[a-z!/]/i.test(body)) return body;
  return new window.DOMParser().parseFromString(body, 'text/html').body.textContent ?? '';
}

function MessageCard(props: { kind: 'in' | 'out' | 'internal'; title: string; from?: string | null; replyTo?: MailAddress[]; to?: string[]; cc?: string[]; at: string; text: string; attachments: Attachment[]; footer?: ReactNode }) {
  const t = useT(TEXTS);
  const { lang } = useLang();
  return (
    <article className={`message ${props.kind}`} aria-label={`${props.title} ${formatDate(props.at, lang)}`}>
      <header className="row muted" style={{ fontSize: 12 }}>
        <strong>{props.title}</strong>
        {props.from ? <span>{t('from')}: {props.from}</span> : null}
        {/* Reply-To (RFC 5322 §3.6.2) when it names someone else: replies go there. */}
        {props.replyTo?.length && props.replyTo.some((a) => !props.from?.toLowerCase().includes(a.address.toLowerCase())) ? (
          <span data-testid="reply-to">{t('replyTo')}: {props.replyTo.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ')}</span>
        ) : null}
        {props.to?.length ? <span>{t('to')}: {props.to.join(', ')}</span> : null}
        {props.cc?.length ? <span>{t('cc')}: {props.cc.join(', ')}</span> : null}
        <span style={{ marginLeft: 'auto' }}>{formatDate(props.at, lang)}</span>
      </header>
      <div style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere', marginTop: 6 }}>{props.text}</div>
      <Attachments items={props.attachments} />
      {props.footer}
    </article>
  );
}

function Thread({ ticket, thread, users }: { ticket: Ticket; thread: Conversation[]; users: User[] }) {
  const t = useT(TEXTS);
  const { me } = useSession();
  const author = (c: Conversation) => (c.agentId !== null ? userName(c.agentId, users, me, (id) => t('user', { id })) : null);
  const flags = (f: { spam?: boolean; autoReply?: string }) => [f.spam ? t('spam') : null, f.autoReply ? `${t('autoReply')}: ${f.autoReply}` : null].filter(Boolean).join(' · ');
  // Small: whether the From address is vouched for by its domain (SPF/DKIM/DMARC), details on hover.
  const authBadge = (f: MessageFlags) => {
    const a = f.authentication;
    if (!a) return null;
    const detail = `SPF ${a.spf.result} · DKIM ${a.dkim.map((d) => `${d.result}${d.domain ? ` (${d.domain})` : ''}`).join(', ') || 'none'} · DMARC ${a.dmarc.result}${a.note ? ` — ${a.note}` : ''}`;
    return (
      <span className={a.authenticated ? 'auth-badge auth-ok' : 'auth-badge auth-unverified'} title={detail} data-testid="sender-authentication">
        {a.authenticated ? `✓ ${t('senderVerified')}` : `⚠ ${t('senderUnverified')}`}
      </span>
    );
  };
  return (
    <section aria-label={t('thread')}>
      <MessageCard
        kind="in" title={t('customerMessage')} from={senderOf(ticket)} replyTo={(ticket.flags as MessageFlags).replyTo} to={ticket.to} at={ticket.createdAt}
        text={plainText(ticket.bodyPlain, ticket.body)} attachments={ticket.attachments}
        footer={flags(ticket.flags) || (ticket.flags as MessageFlags).authentication ? <p className="muted">{authBadge(ticket.flags)} {flags(ticket.flags)}</p> : null}
      />
      {thread.map((c) => {
        const title = c.direction === 'in' ? t('customerMessage') : c.direction === 'out' ? t('reply') : t('note');
        const by = author(c);
        return (
          <MessageCard
            key={c.id} kind={c.direction} title={by ? `${title} · ${by}` : title} from={c.direction === 'internal' ? null : c.fromEmail} replyTo={c.flags.replyTo}
            to={c.direction === 'internal' ? [] : c.toEmail} cc={c.ccEmails} at={c.createdAt} text={plainText(c.bodyPlain, c.body)} attachments={c.attachments}
            footer={(
              <>
                {c.direction === 'out' && c.deliveryStatus ? (
                  <p className={c.deliveryStatus === 'failed' || c.deliveryStatus === 'blocked' ? 'error' : 'muted'} data-testid="delivery-status">
                    {t('delivery')}: {t(c.deliveryStatus)}{c.deliveryError ? ` — ${c.deliveryError}` : ''}
                  </p>
                ) : null}
                {flags(c.flags) || c.flags.authentication ? <p className="muted">{authBadge(c.flags)} {flags(c.flags)}</p> : null}
              </>
            )}
          />
        );
      })}
    </section>
  );
}

function Composer({ ticket, onDone }: { ticket: Ticket; onDone: () => void }) {
  const t = useT(TEXTS);
  const action = useAction();
  const [text, setText] = useState('');
  // Replies go to the customer's Reply-To when the email had one (as the server does by default).
  const replyTo = (ticket.flags as MessageFlags).replyTo ?? [];
  const [to, setTo] = useState(replyTo.length ? replyTo.map((a) => a.address).join(', ') : ticket.from ?? '');
  const send = async (direction: 'out' | 'internal') => {
    const recipients = to.split(',').map((s) => s.trim()).filter(Boolean);
    const ok = await action.run(
      () => api<WithWarnings<Conversation>>('POST', `/tickets/${ticket.id}/conversations`, {
        direction, body: text, bodyPlain: text, ...(direction === 'out' && recipients.length ? { to: recipients } : {}),
      }),
      direction === 'out' ? t('replySent') : t('noteAdded'),
    );
    if (ok) setText('');
    // Also after a refusal: a blocked reply stays in the thread (deliveryStatus "blocked").
    onDone();
  };
  return (
    <form className="card" aria-label={t('composer')} onSubmit={(e) => { e.preventDefault(); void send('out'); }}>
      <Field label={t('to')}><input value={to} onChange={(e) => setTo(e.target.value)} /></Field>
      <Field label={t('message')}><textarea required value={text} onChange={(e) => setText(e.target.value)} /></Field>
      <NoticeView notice={action.notice} />
      <div className="row">
        <button type="submit" className="primary" disabled={action.busy || !text.trim()}>{t('sendReply')}</button>
        <button type="button" disabled={action.busy || !text.trim()} onClick={() => void send('internal')}>{t('addNote')}</button>
      </div>
    </form>
  );
}

/** ISO ↔ the value of a datetime-local input (local time, minutes). */
function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const fromLocalInput = (value: string): string | null => (value ? new Date(value).toISOString() : null);

function Properties({ ticket, users, onTicket }: { ticket: Ticket; users: User[]; onTicket: (t: Ticket) => void }) {
  const t = useT(TEXTS);
  const tt = useT(TICKET_TEXTS);
  const { me } = useSession();
  const action = useAction();
  const initial = () => ({ status: ticket.status, priority: ticket.priority, dueBy: toLocalInput(ticket.dueBy), agentId: ticket.agentId === null ? '' : String(ticket.agentId) });
  const [draft, setDraft] = useState(initial);
  useEffect(() => setDraft(initial()), [ticket.modifiedAt]);

  const patch: Record<string, unknown> = {};
  if (draft.status !== ticket.status) patch.status = draft.status;
  if (draft.priority !== ticket.priority) patch.priority = draft.priority;
  if (draft.dueBy !== toLocalInput(ticket.dueBy)) patch.dueBy = fromLocalInput(draft.dueBy);
  if (draft.agentId !== (ticket.agentId === null ? '' : String(ticket.agentId))) patch.agentId = draft.agentId ? Number(draft.agentId) : null;
  const changed = Object.keys(patch).length > 0;

  // Admins choose from all active users; agents (GET /users is admin-only) from themselves.
  const candidates = users.filter((u) => !u.service && !u.disabled);
  const options: Array<{ id: number; name: string }> = candidates.length ? candidates : me ? [{ id: me.id, name: me.name }] : [];
  if (ticket.agentId !== null && !options.some((o) => o.id === ticket.agentId)) options.push({ id: ticket.agentId, name: userName(ticket.agentId, users, me, (id) => t('user', { id })) });

  return (
    <form
      className="card"
      aria-label={t('properties')}
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          const result = await api<WithWarnings<Ticket>>('PATCH', `/tickets/${ticket.id}`, patch);
          onTicket(withoutWarnings(result));
          return result;
        }, t('saved'));
      }}
    >
      <h2 style={{ marginTop: 0 }}>{t('properties')}</h2>
      <Field label={t('status')}>
        <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value })}>
          {STATUSES.map((s) => <option key={s} value={s}>{tt(s)}</option>)}
        </select>
      </Field>
      <Field label={t('priority')}>
        <select value={draft.priority} onChange={(e) => setDraft({ ...draft, priority: e.target.value })}>
          {PRIORITIES.map((p) => <option key={p} value={p}>{tt(p)}</option>)}
        </select>
      </Field>
      <Field label={t('dueBy')} hint={draft.status === 'pending' ? t('dueHint') : undefined}>
        <input type="datetime-local" value={draft.dueBy} onChange={(e) => setDraft({ ...draft, dueBy: e.target.value })} />
      </Field>
      <Field label={t('assignee')}>
        <select value={draft.agentId} onChange={(e) => setDraft({ ...draft, agentId: e.target.value })}>
          <option value="">{t('unassigned')}</option>
          {options.map((o) => <option key={o.id} value={String(o.id)}>{o.name}</option>)}
        </select>
      </Field>
      <NoticeView notice={action.notice} />
      <button type="submit" className="primary" disabled={!changed || action.busy}>{t('save')}</button>
    </form>
  );
}

function Tags({ ticket, onTicket }: { ticket: Ticket; onTicket: (t: Ticket) => void }) {
  const t = useT(TEXTS);
  const action = useAction();
  const [tag, setTag] = useState('');
  const change = (body: { addTags?: string[]; removeTags?: string[] }) => action.run(async () => {
    const result = await api<WithWarnings<Ticket>>('PATCH', `/tickets/${ticket.id}`, body);
    onTicket(withoutWarnings(result));
    return result;
  });
  return (
    <section className="card" aria-label={t('tags')}>
      <h2 style={{ marginTop: 0 }}>{t('tags')}</h2>
      <ul className="row" style={{ listStyle: 'none', padding: 0, margin: '0 0 8px' }}>
        {ticket.tags.length === 0 ? <li className="muted">{t('noTags')}</li> : null}
        {ticket.tags.map((name) => (
          <li key={name} className="tag" style={{ background: '#eef1f5', borderRadius: 10, padding: '0 4px 0 8px' }}>
            {name}{' '}
            <button type="button" className="link" aria-label={t('removeTag', { tag: name })} disabled={action.busy} onClick={() => void change({ removeTags: [name] })}>×</button>
          </li>
        ))}
      </ul>
      <form
        className="row"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!tag.trim()) return;
          if (await change({ addTags: [tag.trim()] })) setTag('');
        }}
      >
        <input aria-label={t('addTag')} placeholder={t('addTag')} value={tag} onChange={(e) => setTag(e.target.value)} />
        <button type="submit" disabled={action.busy || !tag.trim()}>{t('add')}</button>
      </form>
      <NoticeView notice={action.notice} />
    </section>
  );
}

/** Label: value items of a contract (`agentPreview`), with tooltip and link where given. */
export function AgentPreview({ items }: { items: unknown }) {
  if (!Array.isArray(items) || items.length === 0) return null;
  return (
    <dl className="agent-preview" style={{ display: 'grid', gridTemplateColumns: 'auto 1fr', gap: '2px 8px', margin: '8px 0' }}>
      {(items as PreviewItem[]).map((p, i) => {
        const url = safeUrl(p.url);
        return (
          <div key={i} style={{ display: 'contents' }}>
            <dt className="muted">{p.label}</dt>
            <dd style={{ margin: 0, ...(p.tooltip ? { textDecoration: 'underline dotted', cursor: 'help' } : {}) }} title={p.tooltip}>
              {url ? <a href={url} target="_blank" rel="noreferrer">{String(p.value)}</a> : String(p.value)}
            </dd>
          </div>
        );
      })}
    </dl>
  );
}

/** Quick links into the ERP (`erpUrls`). */
export function ErpLinks({ items }: { items: unknown }) {
  const t = useT(TEXTS);
  if (!Array.isArray(items) || items.length === 0) return null;
  const links = (items as ErpUrl[]).map((u) => ({ url: safeUrl(u.url), icon: u.icon })).filter((u): u is { url: string; icon: string | undefined } => u.url !== null);
  return (
    <ul style={{ paddingLeft: 16, margin: '4px 0' }}>
      {links.map((u, i) => (
        <li key={i}><a href={u.url} target="_blank" rel="noreferrer">{t('erpLink')}{u.icon ? ` (${u.icon})` : ''}</a></li>
      ))}
    </ul>
  );
}

/** The customer search of the panel: customers with their contracts, each contract linkable. */
function CustomerSearch({ onLink, busy }: { onLink: (contractId: string) => void; busy: boolean }) {
  const t = useT(TEXTS);
  const [q, setQ] = useState('');
  const [results, setResults] = useState<Array<ErpRecord & { contracts?: ErpRecord[] }> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [searching, setSearching] = useState(false);
  return (
    <div>
      <form
        className="row"
        role="search"
        aria-label={t('customerSearch')}
        onSubmit={async (e) => {
          e.preventDefault();
          if (!q.trim()) return;
          setSearching(true);
          setError(null);
          try {
            setResults((await api<{ items: Array<ErpRecord & { contracts?: ErpRecord[] }> }>('GET', `/customers/search${query({ q: q.trim() })}`)).items);
          } catch (err) {
            setError(err);
          } finally {
            setSearching(false);
          }
        }}
      >
        <input type="search" aria-label={t('searchCustomer')} placeholder={t('searchCustomer')} value={q} onChange={(e) => setQ(e.target.value)} />
        <button type="submit" disabled={searching}>{t('search')}</button>
      </form>
      <ErrorNote error={error} />
      {results?.length === 0 ? <p className="muted">{t('noCustomer')}</p> : null}
      {results?.length ? (
        <ul style={{ paddingLeft: 16 }}>
          {results.map((c) => (
            <li key={c.id}>
              <strong>{customerName(c)}</strong> <span className="muted">{c.id}</span>
              <ul style={{ paddingLeft: 12, listStyle: 'none' }}>
                {(c.contracts ?? []).map((k) => (
                  <li key={k.id}>
                    <button type="button" className="link" disabled={busy} onClick={() => onLink(k.id)}>{t('link', { id: k.id })}</button>
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/**
 * The customer panel: green for a legitimised (20) or confirmed (30) contract, yellow for one that
 * was only recognised (10) with Ok / Review, grey "Unknown" with a search when none is linked.
 */
function CustomerPanel({ ticket, onTicket }: { ticket: Ticket; onTicket: (t: Ticket) => void }) {
  const t = useT(TEXTS);
  const action = useAction();
  const [contract, setContract] = useState<ErpRecord | null>(null);
  const [customer, setCustomer] = useState<ErpRecord | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [searching, setSearching] = useState(false);
  const customerId = ticket.customerId ?? (contract?.customerId as string | undefined) ?? null;

  useEffect(() => {
    setContract(null);
    setLoadError(null);
    setSearching(false);
    if (!ticket.contractId) return;
    let live = true;
    api<ErpRecord>('GET', `/contracts/${encodeURIComponent(ticket.contractId)}`).then((c) => live && setContract(c), (err: unknown) => live && setLoadError(err));
    return () => {
      live = false;
    };
  }, [ticket.contractId]);

  useEffect(() => {
    setCustomer(null);
    if (!ticket.contractId || !customerId) return;
    let live = true;
    api<ErpRecord>('GET', `/customers/${encodeURIComponent(customerId)}`).then((c) => live && setCustomer(c), (err: unknown) => live && setLoadError(err));
    return () => {
      live = false;
    };
  }, [ticket.contractId, customerId]);

  const change = (method: string, path: string, body: unknown, okText: string) => action.run(async () => {
    const result = await api<WithWarnings<Ticket>>(method, path, body);
    onTicket(withoutWarnings(result));
    setSearching(false);
    return result;
  }, okText);
  const link = (contractId: string) => void change('POST', `/tickets/${ticket.id}/contract`, { contractId }, t('linked'));
  const search = <CustomerSearch onLink={link} busy={action.busy} />;

  if (!ticket.contractId) {
    return (
      <section className="card panel-grey" aria-label={t('customer')} data-testid="customer-panel">
        <h2 style={{ marginTop: 0 }}>{t('customer')}: {t('unknown')}</h2>
        <p className="muted">{t('unknownHint')}</p>
        {search}
        <NoticeView notice={action.notice} />
      </section>
    );
  }

  const level = ticket.legitimationLevel;
  const green = level >= 20;
  const person = customer ?? contract;
  const contractIds = Array.isArray(customer?.contractIds) ? (customer.contractIds as string[]) : [ticket.contractId];
  return (
    <section className={`card ${green ? 'panel-green' : 'panel-yellow'}`} aria-label={t('customer')} data-testid="customer-panel">
      <h2 style={{ marginTop: 0 }}>
        {person ? customerName(person) || t('customer') : t('customer')}{' '}
        <span className="muted" style={{ fontSize: 12, fontWeight: 400 }} data-testid="legitimation">
          {level >= 30 ? t('levelConfirmed') : level >= 20 ? t('levelLegitimised') : t('levelRecognised')}
        </span>
      </h2>
      <ErrorNote error={loadError} />
      {!green ? <p className="warning">{t('reviewHint')}</p> : null}
      <dl style={{ display: 'grid', gridTemplateColumns: 'auto 1fr', gap: '2px 8px', margin: '8px 0' }}>
        <dt className="muted">{t('customerNumber')}</dt>
        <dd style={{ margin: 0 }}>{customerId ? <Link to={`/customers/${encodeURIComponent(customerId)}`} aria-label={`${t('openCustomer')} ${customerId}`}>{customerId}</Link> : '—'}</dd>
        <dt className="muted">{t('contract')}</dt>
        <dd style={{ margin: 0 }}>{ticket.contractId}</dd>
        <dt className="muted">{t('contracts')}</dt>
        <dd style={{ margin: 0 }}>{contractIds.join(', ')}</dd>
        {person?.email ? <><dt className="muted">E-mail</dt><dd style={{ margin: 0 }}>{String(person.email)}</dd></> : null}
      </dl>
      {contract?.stale ? <p className="muted">{t('stale')}</p> : null}
      <AgentPreview items={contract?.agentPreview} />
      <ErpLinks items={contract?.erpUrls} />
      <div className="row">
        {!green ? (
          <>
            <button type="button" className="primary" disabled={action.busy} onClick={() => void change('POST', `/tickets/${ticket.id}/contract/confirm`, undefined, t('confirmed'))}>{t('ok')}</button>
            <button type="button" aria-expanded={searching} onClick={() => setSearching(!searching)}>{t('review')}</button>
          </>
        ) : (
          <button type="button" aria-expanded={searching} onClick={() => setSearching(!searching)}>{t('change')}</button>
        )}
        <button type="button" className="danger" disabled={action.busy} onClick={() => void change('DELETE', `/tickets/${ticket.id}/contract`, undefined, t('unlinked'))}>{t('unlink')}</button>
      </div>
      {searching ? search : null}
      <NoticeView notice={action.notice} />
    </section>
  );
}

const FIELD_TEXTS: Texts<'status' | 'priority' | 'dueBy' | 'firstResponseDueBy' | 'agentId' | 'tags' | 'contractId' | 'customerId' | 'legitimationLevel' | 'subject' | 'externalTicketId'> = {
  en: {
    status: 'Status', priority: 'Priority', dueBy: 'Due by', firstResponseDueBy: 'First response due', agentId: 'Assignee', tags: 'Tags',
    contractId: 'Contract', customerId: 'Customer', legitimationLevel: 'Legitimation', subject: 'Subject', externalTicketId: 'External id',
  },
  de: {
    status: 'Status', priority: 'Priorität', dueBy: 'Fällig am', firstResponseDueBy: 'Erstantwort fällig', agentId: 'Zuständig', tags: 'Tags',
    contractId: 'Vertrag', customerId: 'Kunde', legitimationLevel: 'Legitimation', subject: 'Betreff', externalTicketId: 'Externe ID',
  },
};

function Activity({ entries, users }: { entries: ActivityEntry[]; users: User[] }) {
  const t = useT(TEXTS);
  const ft = useT(FIELD_TEXTS);
  const tt = useT(TICKET_TEXTS);
  const { lang } = useLang();
  const { me } = useSession();
  const name = (id: number) => userName(id, users, me, (n) => t('user', { id: n }));
  const actor = (a: Actor) => (a.type === 'user' ? name(a.userId) : a.type === 'system' ? t('system', { reason: a.reason }) : t('hookActor', { hook: a.hook }));

  const value = (field: string, v: unknown): string => {
    if (v === null || v === undefined || v === '') return '—';
    if (field === 'agentId' && typeof v === 'number') return name(v);
    if ((field === 'dueBy' || field === 'firstResponseDueBy') && typeof v === 'string') return formatDate(v, lang);
    if ((field === 'status' || field === 'priority') && typeof v === 'string') return tt(v as keyof (typeof TICKET_TEXTS)['en']);
    if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  };

  // Recognition's log rides on each field it changed (contractId, customerId, legitimationLevel): show it once.
  const shown = new Set<string>();
  const rows = [...entries].reverse();
  return (
    <section aria-label={t('activity')}>
      <h2>{t('activity')}</h2>
      {rows.length === 0 ? <p className="muted">{t('noActivity')}</p> : (
        <table className="activity">
          <thead><tr><th scope="col">{t('time')}</th><th scope="col">{t('actor')}</th><th scope="col">{t('change2')}</th></tr></thead>
          <tbody>
            {rows.map((e) => {
              const recognition = e.meta?.recognition as Recognition | undefined;
              const showRecognition = recognition && !shown.has(e.at) ? (shown.add(e.at), true) : false;
              return (
                <tr key={e.id} data-field={e.field}>
                  <td style={{ whiteSpace: 'nowrap' }}>{formatDate(e.at, lang)}</td>
                  <td>{actor(e.actor)}</td>
                  <td>
                    {e.field === 'webhook' ? <WebhookEntry entry={e} />
                      : e.field === 'ticket' ? <span>{t('created')}</span>
                      : e.field === 'conversation' ? <span>{t('messageAdded', { id: String(e.to), direction: String(e.meta?.direction ?? '') })}</span>
                      : e.field === 'recognition' ? <span><strong>{t('recognition')}</strong>: {e.to === 'no contract' ? t('recognitionNone') : value(e.field, e.to)}</span>
                      : (
                        <span>
                          <strong>{e.field in FIELD_TEXTS.en ? ft(e.field as keyof (typeof FIELD_TEXTS)['en']) : e.field}</strong>: {value(e.field, e.from)} → {value(e.field, e.to)}
                          {e.meta?.autoOpenedDueToDueDate ? <span className="muted"> (dueBy)</span> : null}
                        </span>
                      )}
                    {showRecognition ? <RecognitionDetails recognition={recognition!} /> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** A webhook invocation (or an answer that could not be applied): outcome, duration, status, error. */
function WebhookEntry({ entry }: { entry: ActivityEntry }) {
  const t = useT(TEXTS);
  const m = (entry.meta ?? {}) as { hook?: string; trigger?: string; durationMs?: number; status?: number | null; error?: string; policy?: string; message?: string; reason?: string };
  const outcome = String(entry.to);
  const bad = outcome === 'failed' || outcome === 'aborted' || outcome === 'answer not applied';
  return (
    <span className="webhook-entry">
      <strong>{t('webhook')}{m.hook ? ` ${m.hook}` : ''}</strong>
      {m.trigger ? <span className="muted"> ({m.trigger})</span> : null}
      {': '}
      <span className={bad ? 'error' : 'ok'} style={{ padding: '0 4px' }}>{outcome}</span>
      {typeof m.durationMs === 'number' ? <span> · {Math.round(m.durationMs)} ms</span> : null}
      {m.status ? <span> · HTTP {m.status}</span> : null}
      {m.policy ? <span> · policy {m.policy}</span> : null}
      {m.error ? <div className="muted">{m.error}</div> : null}
      {m.message ? <div>“{m.message}”</div> : null}
      {m.reason ? <div className="muted">{m.reason}</div> : null}
    </span>
  );
}

function RecognitionDetails({ recognition }: { recognition: Recognition }) {
  const t = useT(TEXTS);
  const calls = recognition.erpCalls ?? [];
  const total = calls.reduce((sum, c) => sum + (c.durationMs || 0), 0);
  return (
    <div className="recognition" style={{ marginTop: 4 }}>
      <strong>{t('erpCalls')}</strong> ({calls.length}, {total.toFixed(1)} ms)
      <ul style={{ margin: '2px 0', paddingLeft: 20 }}>
        {calls.map((c, i) => (
          <li key={i} className={c.cache === 'failed' ? 'error' : undefined}>{c.operation} · {c.cache} · {c.durationMs.toFixed(1)} ms</li>
        ))}
      </ul>
      {recognition.criteria?.length ? <div><strong>{t('criteria')}</strong>: {recognition.criteria.join(', ')}</div> : null}
      {recognition.detectionLog?.length ? (
        <details>
          <summary>{t('detectionLog')} ({recognition.detectionLog.length})</summary>
          <ol style={{ margin: '4px 0', paddingLeft: 20 }}>
            {recognition.detectionLog.map((s, i) => <li key={i}><span className="muted">{s.step}</span> {s.message}</li>)}
          </ol>
        </details>
      ) : null}
    </div>
  );
}

export function TicketView({ id }: { id: number }) {
  const t = useT(TEXTS);
  const tt = useT(TICKET_TEXTS);
  const { me } = useSession();
  const users = useUsers(me);
  const [ticket, setTicket] = useState<Ticket | null>(null);
  const [thread, setThread] = useState<Conversation[]>([]);
  const [activity, setActivity] = useState<ActivityEntry[]>([]);
  const [error, setError] = useState<unknown>(null);

  const loadTicket = () => api<Ticket>('GET', `/tickets/${id}`).then(setTicket, setError);
  const loadThread = () => allPages<Conversation>(`/tickets/${id}/conversations`).then(setThread, setError);
  const loadActivity = () => allPages<ActivityEntry>(`/tickets/${id}/activity`).then(setActivity, setError);
  const reloadAll = () => {
    setError(null);
    void loadTicket();
    void loadThread();
    void loadActivity();
  };
  useEffect(reloadAll, [id]);

  /** A change answered with the ticket: show it, and the activity it wrote. */
  const onTicket = (next: Ticket) => {
    setTicket(next);
    void loadActivity();
  };

  if (!ticket) {
    return (
      <section>
        <p><Link to="/">← {t('back')}</Link></p>
        {error ? <ErrorNote error={error} /> : <p className="muted">{t('loading')}</p>}
      </section>
    );
  }
  return (
    <section>
      <p style={{ margin: '0 0 4px' }}><Link to="/">← {t('back')}</Link></p>
      <header className="row" style={{ alignItems: 'baseline' }}>
        <h1 style={{ margin: '4px 0', overflowWrap: 'anywhere' }}>{ticket.subject} <span className="muted" style={{ fontSize: 14 }}>#{ticket.id}</span></h1>
        <span className="muted">{t('from')}: {senderOf(ticket) || '—'}</span>
        <span className="muted">· {tt(ticket.status as keyof (typeof TICKET_TEXTS)['en'])} · {tt(ticket.priority as keyof (typeof TICKET_TEXTS)['en'])}</span>
        <button type="button" style={{ marginLeft: 'auto' }} onClick={reloadAll}>{t('refresh')}</button>
      </header>
      <ErrorNote error={error} />
      <div style={{ display: 'grid', gridTemplateColumns: 'minmax(0, 1fr) 330px', gap: 16, alignItems: 'start' }}>
        <div>
          <Thread ticket={ticket} thread={thread} users={users} />
          <Composer
            key={ticket.id}
            ticket={ticket}
            onDone={() => {
              void loadThread();
              void loadTicket();
              void loadActivity();
            }}
          />
          <Activity entries={activity} users={users} />
        </div>
        <aside>
          <CustomerPanel ticket={ticket} onTicket={onTicket} />
          <Properties ticket={ticket} users={users} onTicket={onTicket} />
          <Tags ticket={ticket} onTicket={onTicket} />
        </aside>
      </div>
    </section>
  );
}
