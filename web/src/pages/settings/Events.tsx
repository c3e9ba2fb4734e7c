import { Fragment, useEffect, useState } from 'react';
import { api, query } from '../../api.ts';
import { draftOf, draftProblem, executorOf, ExecutorEditor, type Executor, type ExecutorDraft } from '../../components/CodeEditor.tsx';
import { ErrorNote, Field, useLoad } from '../../components/ui.tsx';
import { useLang, useT, type Lang, type Texts } from '../../i18n.tsx';
import { Link, match, navigate, useLocation } from '../../router.tsx';

/** Settings → Integration of surrounding systems → Events: event hooks, their deliveries, replays and the event log (docs/events.md). */

// The catalogue of docs/events.md (the API has no route listing it).
const EVENT_TYPES = [
  'TicketCreated', 'TicketUpdated', 'TicketResponse', 'ConversationCreated', 'EmailSent', 'EmailFailed',
  'ContractLinked', 'WebhookFailed', 'WebhookQuarantined', 'ProfileCreated', 'ProfileUpdated', 'ProfileDeleted',
  'CronMinute', 'CronHour', 'CronDay', 'CronWeek',
] as const;
type EventType = (typeof EVENT_TYPES)[number];
const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'cancelled'] as const;
const DEFAULT_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000];

interface EventHook {
  id: number;
  name: string;
  events: EventType[];
  executor: Executor;
  enabled: boolean;
  orderingKey: 'none' | 'ticket';
  retryScheduleSeconds: number[];
  ownerUserId: number | null;
  disabledReason: 'manual' | 'gone' | 'failing' | null;
  disabledAt: string | null;
  failingSince: string | null;
  lastSuccessAt: string | null;
  maxInFlight?: number | null;
  ratePerSecond?: number | null;
  throttledMs?: number;
  createdAt: string;
  modifiedAt: string;
}

interface Attempt {
  attempt: number;
  outcome: 'succeeded' | 'failed' | 'throttled' | 'gone';
  status: number | null;
  durationMs: number;
  error: { code: string; message: string } | null;
  response: string | null;
  worker: string | null;
  startedAt: string;
}

interface Delivery {
  id: number;
  eventId: string;
  eventType: EventType;
  hookId: number;
  ticketId: number | null;
  status: (typeof DELIVERY_STATUSES)[number];
  attemptCount: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  replay: boolean;
  createdAt: string;
  completedAt: string | null;
  attempts: Attempt[];
}

interface DomainEvent { id: string; type: EventType; ticketId: number | null; userId: number | null; data: Record<string, unknown>; createdAt: string }
interface Page<T> { items: T[]; nextCursor: string | null }
interface SigningSecrets { signingSecret: string; previousSigningSecret: string | null; previousExpiresAt: string | null }

const HOOK_CODE = `import type { CustomCode } from 'deskhook';

const hook: CustomCode<{ id: string; type: string; timestamp: string; data: any }> = async (event, ctx) => {
  ctx.log(event.type, event.id);
  // Throwing fails the attempt; it is retried on the hook's schedule.
  return { seen: event.id };
};
export default hook;
`;

type Key =
  | 'title' | 'intro' | 'hooks' | 'newHook' | 'noHooks' | 'name' | 'eventTypes' | 'executor' | 'state' | 'lastSuccess' | 'enabled' | 'disabled'
  | 'reason_manual' | 'reason_gone' | 'reason_failing' | 'failingSince' | 'apiCallTo' | 'codeIn' | 'loading' | 'edit' | 'close'
  | 'maxInFlight' | 'ratePerSecond' | 'limitHint' | 'limitInvalid' | 'throttledFor'
  | 'createTitle' | 'editTitle' | 'enabledOnCreate' | 'orderingKey' | 'orderingNone' | 'orderingTicket' | 'retrySchedule' | 'retryHint'
  | 'retryInvalid' | 'signingSecretNew' | 'signingSecretNewHint' | 'create' | 'save' | 'saving' | 'saved' | 'delete' | 'deleteConfirm'
  | 'chooseType' | 'signingSecret' | 'reveal' | 'hide' | 'rotate' | 'rotateConfirm' | 'previousSecret' | 'validUntil'
  | 'disable' | 'disableConfirm' | 'disabledNote' | 'failingNote' | 'missed' | 'missedSince' | 'enableReplay' | 'enableOnly' | 'replayedN'
  | 'deliveries' | 'status' | 'all' | 'refresh' | 'loadMore' | 'noDeliveries' | 'delivery' | 'event' | 'attempts' | 'nextAttempt' | 'created'
  | 'lastError' | 'showAttempts' | 'hideAttempts' | 'attempt' | 'outcome' | 'httpStatus' | 'duration' | 'error' | 'response' | 'worker' | 'time'
  | 'noAttempts' | 'replayFlag' | 'st_pending' | 'st_succeeded' | 'st_failed' | 'st_cancelled'
  | 'rangeReplay' | 'rangeHint' | 'since' | 'until' | 'onlyMissed' | 'dryRun' | 'replay' | 'rangeCount' | 'rangeReplayed'
  | 'eventLog' | 'eventLogHint' | 'type' | 'ticket' | 'eventId' | 'details' | 'hideDetails' | 'noEvents' | 'data' | 'hook'
  | 'replayEvent' | 'eventReplayed' | 'noEventDeliveries' | 'ticketFilter' | 'userId';

const TEXTS: Texts<Key> = {
  en: {
    title: 'Events', intro: 'Every change writes an event. Event hooks receive them asynchronously: signed, retried, logged attempt by attempt.',
    hooks: 'Event hooks', newHook: 'New event hook', noHooks: 'No event hooks yet.', name: 'Name', eventTypes: 'Event types', executor: 'Executor',
    state: 'State', lastSuccess: 'Last success', enabled: 'Enabled', disabled: 'Disabled', reason_manual: 'switched off', reason_gone: 'receiver answered 410 Gone',
    reason_failing: 'failing for days', failingSince: 'failing since {when}', apiCallTo: '{method} {url}', codeIn: 'Code ({language})', loading: 'Loading …',
    edit: 'Open', close: 'Close',
    maxInFlight: 'Deliveries at once (at most)', ratePerSecond: 'Deliveries per second (at most)', limitHint: 'Empty: no limit. More wait, never fail.',
    limitInvalid: 'The limits must be positive numbers (or empty).', throttledFor: 'Throttled for {seconds} s in total',
    createTitle: 'New event hook', editTitle: 'Event hook “{name}”', enabledOnCreate: 'Enabled', orderingKey: 'Ordering',
    orderingNone: 'None: events may arrive in any order', orderingTicket: 'Per ticket: one ticket\'s events arrive one after another',
    retrySchedule: 'Retry schedule (seconds, comma-separated)', retryHint: 'Delays before each retry after the first attempt; empty: no retries.',
    retryInvalid: 'The retry schedule must be whole numbers separated by commas.', signingSecretNew: 'Signing secret (optional)',
    signingSecretNewHint: 'whsec_… to keep a secret your receiver already has; generated when empty.', create: 'Create', save: 'Save', saving: 'Saving …',
    saved: 'Saved.', delete: 'Delete hook', deleteConfirm: 'Delete this hook with its deliveries and their log?', chooseType: 'Choose at least one event type.',
    signingSecret: 'Signing secret', reveal: 'Reveal', hide: 'Hide', rotate: 'Rotate', rotateConfirm: 'Make a new signing secret? The old one keeps signing for 24 hours.',
    previousSecret: 'Previous secret', validUntil: 'valid until {when}',
    disable: 'Disable hook', disableConfirm: 'Disable this hook? Its queued deliveries are cancelled.',
    disabledNote: 'This hook is disabled ({reason}) since {when}.', failingNote: 'This hook has been failing since {when}.',
    missed: '{n} events missed', missedSince: 'since {when}', enableReplay: 'Enable and replay {n} missed events', enableOnly: 'Enable without replay',
    replayedN: 'Enabled; {n} events queued again.',
    deliveries: 'Deliveries', status: 'Status', all: 'All', refresh: 'Refresh', loadMore: 'Load more', noDeliveries: 'No deliveries.',
    delivery: 'Delivery', event: 'Event', attempts: 'Attempts', nextAttempt: 'Next attempt', created: 'Created', lastError: 'Last error',
    showAttempts: 'Show attempts of delivery {id}', hideAttempts: 'Hide attempts of delivery {id}', attempt: 'Attempt', outcome: 'Outcome',
    httpStatus: 'HTTP status', duration: 'Duration', error: 'Error', response: 'Response', worker: 'Worker', time: 'Time', noAttempts: 'No attempt yet.',
    replayFlag: 'replay', st_pending: 'pending', st_succeeded: 'succeeded', st_failed: 'failed', st_cancelled: 'cancelled',
    rangeReplay: 'Replay a time range', rangeHint: 'Delivers every event of the hook\'s types in the range again (receivers deduplicate by webhook-id).',
    since: 'Since', until: 'Until (optional)', onlyMissed: 'Only events the hook did not receive', dryRun: 'Dry run: only count', replay: 'Replay',
    rangeCount: '{n} events in the range; nothing queued (dry run).', rangeReplayed: '{n} events queued again.',
    eventLog: 'Event log', eventLogHint: 'Oldest first; “Load more” continues with newer events.', type: 'Type', ticket: 'Ticket', eventId: 'Event id',
    details: 'Show event {id}', hideDetails: 'Hide event {id}', noEvents: 'No events.', data: 'Data', hook: 'Hook',
    replayEvent: 'Replay to every subscribed hook', eventReplayed: 'Queued again for {n} hooks.', noEventDeliveries: 'No hook received this event.',
    ticketFilter: 'Ticket id', userId: 'User',
  },
  de: {
    title: 'Events', intro: 'Jede Änderung schreibt ein Event. Event-Hooks erhalten sie asynchron: signiert, wiederholt, Versuch für Versuch protokolliert.',
    hooks: 'Event-Hooks', newHook: 'Neuer Event-Hook', noHooks: 'Noch keine Event-Hooks.', name: 'Name', eventTypes: 'Event-Typen', executor: 'Ausführung',
    state: 'Zustand', lastSuccess: 'Letzter Erfolg', enabled: 'Aktiv', disabled: 'Deaktiviert', reason_manual: 'ausgeschaltet', reason_gone: 'Empfänger antwortete 410 Gone',
    reason_failing: 'schlägt seit Tagen fehl', failingSince: 'schlägt fehl seit {when}', apiCallTo: '{method} {url}', codeIn: 'Code ({language})', loading: 'Wird geladen …',
    edit: 'Öffnen', close: 'Schließen',
    maxInFlight: 'Zustellungen gleichzeitig (höchstens)', ratePerSecond: 'Zustellungen pro Sekunde (höchstens)', limitHint: 'Leer: keine Grenze. Mehr wartet, scheitert nie.',
    limitInvalid: 'Die Grenzen müssen positive Zahlen sein (oder leer).', throttledFor: 'Insgesamt {seconds} s gedrosselt',
    createTitle: 'Neuer Event-Hook', editTitle: 'Event-Hook „{name}“', enabledOnCreate: 'Aktiv', orderingKey: 'Reihenfolge',
    orderingNone: 'Keine: Events dürfen in beliebiger Reihenfolge ankommen', orderingTicket: 'Pro Ticket: die Events eines Tickets kommen nacheinander an',
    retrySchedule: 'Wiederholungsplan (Sekunden, durch Kommas getrennt)', retryHint: 'Wartezeiten vor jeder Wiederholung nach dem ersten Versuch; leer: keine Wiederholung.',
    retryInvalid: 'Der Wiederholungsplan muss aus ganzen Zahlen mit Kommas bestehen.', signingSecretNew: 'Signatur-Secret (optional)',
    signingSecretNewHint: 'whsec_…, um ein Secret zu behalten, das Ihr Empfänger schon kennt; leer: wird erzeugt.', create: 'Anlegen', save: 'Speichern', saving: 'Wird gespeichert …',
    saved: 'Gespeichert.', delete: 'Hook löschen', deleteConfirm: 'Diesen Hook mit seinen Zustellungen und deren Protokoll löschen?', chooseType: 'Wählen Sie mindestens einen Event-Typ.',
    signingSecret: 'Signatur-Secret', reveal: 'Anzeigen', hide: 'Verbergen', rotate: 'Erneuern', rotateConfirm: 'Neues Signatur-Secret erzeugen? Das alte signiert noch 24 Stunden mit.',
    previousSecret: 'Bisheriges Secret', validUntil: 'gültig bis {when}',
    disable: 'Hook deaktivieren', disableConfirm: 'Diesen Hook deaktivieren? Seine wartenden Zustellungen werden abgebrochen.',
    disabledNote: 'Dieser Hook ist deaktiviert ({reason}) seit {when}.', failingNote: 'Dieser Hook schlägt fehl seit {when}.',
    missed: '{n} Events verpasst', missedSince: 'seit {when}', enableReplay: 'Aktivieren und {n} verpasste Events nachliefern', enableOnly: 'Aktivieren ohne Nachlieferung',
    replayedN: 'Aktiviert; {n} Events werden erneut zugestellt.',
    deliveries: 'Zustellungen', status: 'Status', all: 'Alle', refresh: 'Aktualisieren', loadMore: 'Mehr laden', noDeliveries: 'Keine Zustellungen.',
    delivery: 'Zustellung', event: 'Event', attempts: 'Versuche', nextAttempt: 'Nächster Versuch', created: 'Erstellt', lastError: 'Letzter Fehler',
    showAttempts: 'Versuche von Zustellung {id} zeigen', hideAttempts: 'Versuche von Zustellung {id} verbergen', attempt: 'Versuch', outcome: 'Ergebnis',
    httpStatus: 'HTTP-Status', duration: 'Dauer', error: 'Fehler', response: 'Antwort', worker: 'Worker', time: 'Zeit', noAttempts: 'Noch kein Versuch.',
    replayFlag: 'Wiederholung', st_pending: 'wartend', st_succeeded: 'erfolgreich', st_failed: 'fehlgeschlagen', st_cancelled: 'abgebrochen',
    rangeReplay: 'Zeitraum erneut zustellen', rangeHint: 'Stellt jedes Event der Typen des Hooks im Zeitraum erneut zu (Empfänger erkennen Duplikate an webhook-id).',
    since: 'Von', until: 'Bis (optional)', onlyMissed: 'Nur Events, die der Hook nicht erhalten hat', dryRun: 'Probelauf: nur zählen', replay: 'Erneut zustellen',
    rangeCount: '{n} Events im Zeitraum; nichts eingereiht (Probelauf).', rangeReplayed: '{n} Events werden erneut zugestellt.',
    eventLog: 'Event-Protokoll', eventLogHint: 'Älteste zuerst; „Mehr laden“ setzt mit neueren Events fort.', type: 'Typ', ticket: 'Ticket', eventId: 'Event-ID',
    details: 'Event {id} zeigen', hideDetails: 'Event {id} verbergen', noEvents: 'Keine Events.', data: 'Daten', hook: 'Hook',
    replayEvent: 'An alle abonnierten Hooks erneut zustellen', eventReplayed: 'Für {n} Hooks erneut eingereiht.', noEventDeliveries: 'Kein Hook hat dieses Event erhalten.',
    ticketFilter: 'Ticket-Nr.', userId: 'Benutzer',
  },
};

type T = ReturnType<typeof useT<Key>>;

function when(iso: string | null | undefined, lang: Lang): string {
  if (!iso) return '–';
  return new Date(iso).toLocaleString(lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium' });
}

const executorSummary = (ex: Executor, t: T) =>
  ex.type === 'apiCall' ? t('apiCallTo', { method: ex.method ?? 'POST', url: ex.url }) : t('codeIn', { language: ex.language === 'typescript' ? 'TypeScript' : 'JavaScript' });

export function EventsPage() {
  const t = useT(TEXTS);
  const { lang } = useLang();
  const { path } = useLocation();
  const m = match('/settings/event-hooks/:id', path);
  const selected: 'new' | number | null = m ? (m.id === 'new' ? 'new' : Number(m.id) || null) : null;
  const hooks = useLoad(() => api<Page<EventHook>>('GET', '/event-hooks?limit=200'));
  const list = hooks.data?.items ?? [];

  return (
    <section>
      <h1>{t('title')}</h1>
      <p className="muted">{t('intro')}</p>

      <section aria-labelledby="event-hooks-heading">
        <div className="row" style={{ justifyContent: 'space-between' }}>
          <h2 id="event-hooks-heading">{t('hooks')}</h2>
          <button type="button" className="primary" onClick={() => navigate('/settings/event-hooks/new')}>{t('newHook')}</button>
        </div>
        <ErrorNote error={hooks.error} />
        {hooks.data && list.length === 0 ? <p className="muted">{t('noHooks')}</p> : null}
        {list.length ? (
          <table aria-label={t('hooks')}>
            <thead>
              <tr><th>{t('name')}</th><th>{t('eventTypes')}</th><th>{t('executor')}</th><th>{t('state')}</th><th>{t('lastSuccess')}</th></tr>
            </thead>
            <tbody>
              {list.map((h) => (
                <tr key={h.id} style={selected === h.id ? { background: '#e6eefb' } : undefined}>
                  <td><Link to={`/settings/event-hooks/${h.id}`}>{h.name}</Link></td>
                  <td style={{ fontSize: 12 }}>{h.events.join(', ')}</td>
                  <td style={{ fontSize: 12, wordBreak: 'break-all' }}>{executorSummary(h.executor, t)}</td>
                  <td>
                    {h.enabled ? t('enabled') : <>{t('disabled')}{h.disabledReason ? ` (${t(`reason_${h.disabledReason}`)})` : ''}</>}
                    {h.enabled && h.failingSince ? <div className="hint">{t('failingSince', { when: when(h.failingSince, lang) })}</div> : null}
                  </td>
                  <td>{when(h.lastSuccessAt, lang)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}

        {selected === 'new' ? (
          <div className="card">
            <div className="row" style={{ justifyContent: 'space-between' }}>
              <h3 style={{ margin: 0 }}>{t('createTitle')}</h3>
              <button type="button" onClick={() => navigate('/settings/events')}>{t('close')}</button>
            </div>
            <HookForm key="new" hook={null} t={t} onSaved={(h) => { hooks.reload(); navigate(`/settings/event-hooks/${h.id}`); }} />
          </div>
        ) : null}
        {typeof selected === 'number' ? <HookDetail key={selected} id={selected} t={t} lang={lang} onChanged={hooks.reload} /> : null}
      </section>

      <EventLog t={t} lang={lang} hooks={list} />
    </section>
  );
}

function HookForm({ hook, t, onSaved }: { hook: EventHook | null; t: T; onSaved: (h: EventHook) => void }) {
  const { lang } = useLang();
  const [name, setName] = useState(hook?.name ?? '');
  const [events, setEvents] = useState<EventType[]>(hook?.events ?? []);
  const [draft, setDraft] = useState<ExecutorDraft>(() => {
    const d = draftOf(hook?.executor, HOOK_CODE);
    return d.type === 'none' ? { ...d, type: 'apiCall' } : d;
  });
  const [enabled, setEnabled] = useState(true);
  const [orderingKey, setOrderingKey] = useState<'none' | 'ticket'>(hook?.orderingKey ?? 'none');
  const [retry, setRetry] = useState((hook?.retryScheduleSeconds ?? DEFAULT_RETRY_SCHEDULE).join(', '));
  const [maxInFlight, setMaxInFlight] = useState(hook?.maxInFlight == null ? '' : String(hook.maxInFlight));
  const [ratePerSecond, setRatePerSecond] = useState(hook?.ratePerSecond == null ? '' : String(hook.ratePerSecond));
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setError(null);
    setSaved('');
    const parts = retry.split(/[\s,;]+/).filter(Boolean);
    if (parts.some((p) => !/^\d+$/.test(p))) return setError(new Error(t('retryInvalid')));
    if (!events.length) return setError(new Error(t('chooseType')));
    const problem = draftProblem(draft, lang);
    if (problem) return setError(new Error(problem));
    const executor = executorOf(draft)!;
    const limit = (text: string): number | null => (text.trim() === '' ? null : Number(text.trim()));
    if ([maxInFlight, ratePerSecond].some((v) => v.trim() !== '' && !(Number(v) > 0))) return setError(new Error(t('limitInvalid')));
    const body: Record<string, unknown> = {
      name: name.trim(), events, executor, orderingKey, retryScheduleSeconds: parts.map(Number),
      maxInFlight: limit(maxInFlight), ratePerSecond: limit(ratePerSecond),
    };
    if (!hook) {
      body.enabled = enabled;
      if (secret.trim()) body.signingSecret = secret.trim();
    }
    setBusy(true);
    try {
      const h = await api<EventHook>(hook ? 'PATCH' : 'POST', hook ? `/event-hooks/${hook.id}` : '/event-hooks', body);
      setSaved(t('saved'));
      onSaved(h);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
      <Field label={t('name')}><input required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} style={{ maxWidth: 420 }} /></Field>
      <fieldset style={{ border: '1px solid #e3e6eb', borderRadius: 4, padding: '6px 10px', margin: '6px 0' }}>
        <legend>{t('eventTypes')}</legend>
        <div style={{ display: 'grid', gridTemplateColumns: 'repeat(auto-fill, minmax(190px, 1fr))', gap: 2 }}>
          {EVENT_TYPES.map((type) => (
            <label key={type} className="row" style={{ gap: 4 }}>
              <input type="checkbox" checked={events.includes(type)}
                onChange={(e) => setEvents(e.target.checked ? [...events, type] : events.filter((x) => x !== type))} />
              {type}
            </label>
          ))}
        </div>
      </fieldset>
      <ExecutorEditor label={t('executor')} value={draft} onChange={setDraft} />
      <div className="row" style={{ alignItems: 'flex-start', gap: 16 }}>
        <Field label={t('orderingKey')}>
          <select value={orderingKey} onChange={(e) => setOrderingKey(e.target.value as 'none' | 'ticket')}>
            <option value="none">{t('orderingNone')}</option>
            <option value="ticket">{t('orderingTicket')}</option>
          </select>
        </Field>
        <div style={{ flex: 1 }}>
          <Field label={t('retrySchedule')} hint={t('retryHint')}>
            <input value={retry} onChange={(e) => setRetry(e.target.value)} />
          </Field>
        </div>
      </div>
      <div className="row" style={{ alignItems: 'flex-start', gap: 16 }}>
        <Field label={t('maxInFlight')} hint={t('limitHint')}>
          <input inputMode="numeric" value={maxInFlight} onChange={(e) => setMaxInFlight(e.target.value)} style={{ maxWidth: 120 }} />
        </Field>
        <Field label={t('ratePerSecond')} hint={t('limitHint')}>
          <input inputMode="decimal" value={ratePerSecond} onChange={(e) => setRatePerSecond(e.target.value)} style={{ maxWidth: 120 }} />
        </Field>
        {hook?.throttledMs ? <span className="muted" style={{ alignSelf: 'center' }}>{t('throttledFor', { seconds: Math.round(hook.throttledMs / 100) / 10 })}</span> : null}
      </div>
      {!hook ? (
        <>
          <label className="row"><input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> {t('enabledOnCreate')}</label>
          <Field label={t('signingSecretNew')} hint={t('signingSecretNewHint')}>
            <input value={secret} autoComplete="off" spellCheck={false} onChange={(e) => setSecret(e.target.value)} style={{ maxWidth: 520 }} />
          </Field>
        </>
      ) : null}
      <ErrorNote error={error} />
      <div className="row" style={{ marginTop: 8 }}>
        <button type="submit" className="primary" disabled={busy}>{busy ? t('saving') : hook ? t('save') : t('create')}</button>
        <span role="status" className={saved ? 'ok' : undefined}>{saved}</span>
      </div>
    </form>
  );
}

function HookDetail({ id, t, lang, onChanged }: { id: number; t: T; lang: Lang; onChanged: () => void }) {
  const hook = useLoad(() => api<EventHook>('GET', `/event-hooks/${id}`), [id]);
  const [deliveriesTick, setDeliveriesTick] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const h = hook.data;
  const changed = () => { hook.reload(); onChanged(); setDeliveriesTick((n) => n + 1); };
  return (
    <section className="card" aria-labelledby={`hook-${id}-title`}>
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <h3 id={`hook-${id}-title`} style={{ margin: 0 }}>{h ? t('editTitle', { name: h.name }) : t('loading')}</h3>
        <button type="button" onClick={() => navigate('/settings/events')}>{t('close')}</button>
      </div>
      <ErrorNote error={hook.error ?? error} />
      {h ? (
        <>
          <EnablePanel hook={h} t={t} lang={lang} onChanged={changed} />
          <HookForm key={h.id} hook={h} t={t} onSaved={changed} />
          <SecretPanel id={id} t={t} lang={lang} />
          <Deliveries hookId={id} t={t} lang={lang} tick={deliveriesTick} />
          <RangeReplay hook={h} t={t} onDone={() => setDeliveriesTick((n) => n + 1)} />
          <div className="row" style={{ marginTop: 12 }}>
            {h.enabled ? (
              <button type="button" onClick={async () => {
                if (!window.confirm(t('disableConfirm'))) return;
                setError(null);
                try {
                  await api('PATCH', `/event-hooks/${id}`, { enabled: false });
                  changed();
                } catch (err) {
                  setError(err);
                }
              }}>{t('disable')}</button>
            ) : null}
            <button type="button" className="danger" onClick={async () => {
              if (!window.confirm(t('deleteConfirm'))) return;
              setError(null);
              try {
                await api('DELETE', `/event-hooks/${id}`);
                onChanged();
                navigate('/settings/events');
              } catch (err) {
                setError(err);
              }
            }}>{t('delete')}</button>
          </div>
        </>
      ) : null}
    </section>
  );
}

/** For a disabled or failing hook: what it missed, and switching it on with or without a replay. */
function EnablePanel({ hook, t, lang, onChanged }: { hook: EventHook; t: T; lang: Lang; onChanged: () => void }) {
  const show = !hook.enabled || !!hook.failingSince;
  const missed = useLoad(() => (show ? api<{ since: string | null; count: number }>('GET', `/event-hooks/${hook.id}/missed`) : Promise.resolve(null)), [hook.id, hook.modifiedAt, show]);
  const [result, setResult] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (!show) return result ? <p role="status" className="ok">{result}</p> : null;
  const n = missed.data?.count ?? 0;
  const enable = async (replayMissed: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ hook: EventHook; replayed: number }>('POST', `/event-hooks/${hook.id}/enable`, { replayMissed });
      setResult(t('replayedN', { n: r.replayed }));
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="warning" style={{ margin: '8px 0' }}>
      <p style={{ margin: '0 0 4px' }}>
        {hook.enabled
          ? t('failingNote', { when: when(hook.failingSince, lang) })
          : t('disabledNote', { reason: hook.disabledReason ? t(`reason_${hook.disabledReason}`) : t('disabled'), when: when(hook.disabledAt, lang) })}
        {' '}
        {missed.data ? <strong>{t('missed', { n })}</strong> : null}
        {missed.data?.since ? <> {t('missedSince', { when: when(missed.data.since, lang) })}</> : null}
      </p>
      <ErrorNote error={missed.error ?? error} />
      <div className="row">
        <button type="button" className="primary" disabled={busy || !missed.data} onClick={() => void enable(true)}>{t('enableReplay', { n })}</button>
        {!hook.enabled ? <button type="button" disabled={busy} onClick={() => void enable(false)}>{t('enableOnly')}</button> : null}
        <span role="status">{result}</span>
      </div>
    </div>
  );
}

function SecretPanel({ id, t, lang }: { id: number; t: T; lang: Lang }) {
  const [secrets, setSecrets] = useState<SigningSecrets | null>(null);
  const [error, setError] = useState<unknown>(null);
  const call = async (method: 'GET' | 'POST', path: string) => {
    setError(null);
    try {
      setSecrets(await api<SigningSecrets>(method, path));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <fieldset style={{ border: '1px solid #e3e6eb', borderRadius: 4, padding: '6px 10px', margin: '10px 0' }}>
      <legend>{t('signingSecret')}</legend>
      <div className="row">
        {secrets ? (
          <button type="button" onClick={() => setSecrets(null)}>{t('hide')}</button>
        ) : (
          <button type="button" onClick={() => void call('GET', `/event-hooks/${id}/signing-secret`)}>{t('reveal')}</button>
        )}
        <button type="button" onClick={() => { if (window.confirm(t('rotateConfirm'))) void call('POST', `/event-hooks/${id}/signing-secret/rotate`); }}>{t('rotate')}</button>
      </div>
      {secrets ? (
        <div style={{ marginTop: 6 }}>
          <code aria-label={t('signingSecret')} style={{ userSelect: 'all', wordBreak: 'break-all' }}>{secrets.signingSecret}</code>
          {secrets.previousSigningSecret ? (
            <div className="hint">
              {t('previousSecret')}: <code style={{ wordBreak: 'break-all' }}>{secrets.previousSigningSecret}</code> ({t('validUntil', { when: when(secrets.previousExpiresAt, lang) })})
            </div>
          ) : null}
        </div>
      ) : null}
      <ErrorNote error={error} />
    </fieldset>
  );
}

function AttemptsTable({ attempts, t, lang }: { attempts: Attempt[]; t: T; lang: Lang }) {
  if (!attempts.length) return <p className="muted" style={{ margin: 4 }}>{t('noAttempts')}</p>;
  return (
    <table aria-label={t('attempts')} style={{ fontSize: 12 }}>
      <thead>
        <tr>
          <th>{t('attempt')}</th><th>{t('outcome')}</th><th>{t('httpStatus')}</th><th>{t('duration')}</th><th>{t('error')}</th>
          <th>{t('response')}</th><th>{t('worker')}</th><th>{t('time')}</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={a.attempt}>
            <td>{a.attempt}</td>
            <td>{a.outcome}</td>
            <td>{a.status ?? '–'}</td>
            <td>{Math.round(a.durationMs)} ms</td>
            <td>{a.error ? <><code>{a.error.code}</code>: {a.error.message}</> : '–'}</td>
            <td>{a.response ? <code style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-all' }}>{a.response}</code> : '–'}</td>
            <td>{a.worker ?? '–'}</td>
            <td>{when(a.startedAt, lang)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const statusClass = (s: Delivery['status']) => (s === 'succeeded' ? 'ok' : s === 'failed' ? 'error' : s === 'pending' ? 'warning' : 'muted');

/** Delivery rows with their attempts behind a toggle; `hookName` adds a hook column (the event log). */
function DeliveryTable({ deliveries, t, lang, hookName }: { deliveries: Delivery[]; t: T; lang: Lang; hookName?: (id: number) => string }) {
  const [open, setOpen] = useState<Set<number>>(new Set());
  const toggle = (id: number) => setOpen((s) => {
    const n = new Set(s);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    return n;
  });
  return (
    <table aria-label={t('deliveries')}>
      <thead>
        <tr>
          <th>{t('delivery')}</th>
          {hookName ? <th>{t('hook')}</th> : <th>{t('event')}</th>}
          <th>{t('status')}</th><th>{t('attempts')}</th><th>{t('nextAttempt')}</th><th>{t('created')}</th><th>{t('lastError')}</th><th><span className="sr-only">{t('attempts')}</span></th>
        </tr>
      </thead>
      <tbody>
        {deliveries.map((d) => (
          <Fragment key={d.id}>
            <tr>
              <td>#{d.id}{d.replay ? <span className="muted"> ({t('replayFlag')})</span> : null}</td>
              {hookName ? <td>{hookName(d.hookId)}</td> : <td><div>{d.eventType}</div><code style={{ fontSize: 11 }}>{d.eventId}</code>{d.ticketId ? <div className="hint">{t('ticket')} #{d.ticketId}</div> : null}</td>}
              <td><span className={statusClass(d.status)} style={{ padding: '0 4px' }}>{t(`st_${d.status}`)}</span></td>
              <td>{d.attemptCount}</td>
              <td>{when(d.nextAttemptAt, lang)}</td>
              <td>{when(d.createdAt, lang)}</td>
              <td style={{ fontSize: 12, maxWidth: 240, wordBreak: 'break-word' }}>{d.lastError ?? '–'}</td>
              <td>
                <button type="button" aria-expanded={open.has(d.id)} aria-label={open.has(d.id) ? t('hideAttempts', { id: d.id }) : t('showAttempts', { id: d.id })} style={{ whiteSpace: 'nowrap' }} onClick={() => toggle(d.id)}>
                  {open.has(d.id) ? '▾' : '▸'} {t('attempts')}
                </button>
              </td>
            </tr>
            {open.has(d.id) ? (
              <tr><td colSpan={8} style={{ background: '#f8f9fb' }}><AttemptsTable attempts={d.attempts} t={t} lang={lang} /></td></tr>
            ) : null}
          </Fragment>
        ))}
      </tbody>
    </table>
  );
}

function Deliveries({ hookId, t, lang, tick }: { hookId: number; t: T; lang: Lang; tick: number }) {
  const [status, setStatus] = useState('');
  const [items, setItems] = useState<Delivery[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);
  const fetchPage = (cursor: string | null) => api<Page<Delivery>>('GET', `/event-hooks/${hookId}/deliveries${query({ status, cursor, limit: 50 })}`);
  useEffect(() => {
    let live = true;
    setBusy(true);
    setError(null);
    fetchPage(null).then(
      (p) => { if (live) { setItems(p.items); setNext(p.nextCursor); } },
      (err: unknown) => live && setError(err),
    ).finally(() => live && setBusy(false));
    return () => { live = false; };
  }, [hookId, status, tick, reload]);
  return (
    <section aria-labelledby={`deliveries-${hookId}`} style={{ marginTop: 12 }}>
      <div className="row">
        <h4 id={`deliveries-${hookId}`} style={{ margin: 0 }}>{t('deliveries')}</h4>
        <label className="row" style={{ gap: 4 }}>
          {t('status')}
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">{t('all')}</option>
            {DELIVERY_STATUSES.map((s) => <option key={s} value={s}>{t(`st_${s}`)}</option>)}
          </select>
        </label>
        <button type="button" onClick={() => setReload((n) => n + 1)} disabled={busy}>{t('refresh')}</button>
      </div>
      <ErrorNote error={error} />
      {!busy && !error && items.length === 0 ? <p className="muted">{t('noDeliveries')}</p> : null}
      {items.length ? <DeliveryTable deliveries={items} t={t} lang={lang} /> : null}
      {next ? (
        <button type="button" style={{ marginTop: 6 }} disabled={busy} onClick={async () => {
          setBusy(true);
          try {
            const p = await fetchPage(next);
            setItems((xs) => [...xs, ...p.items]);
            setNext(p.nextCursor);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}>{t('loadMore')}</button>
      ) : null}
    </section>
  );
}

/** `datetime-local` value (local time) → ISO 8601 UTC. */
const isoOf = (local: string) => new Date(local).toISOString();

function RangeReplay({ hook, t, onDone }: { hook: EventHook; t: T; onDone: () => void }) {
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [onlyMissed, setOnlyMissed] = useState(false);
  const [dryRun, setDryRun] = useState(true);
  const [result, setResult] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      aria-labelledby={`range-${hook.id}`}
      style={{ marginTop: 12 }}
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        setResult('');
        setBusy(true);
        try {
          const r = await api<{ count: number; replayed: number }>('POST', `/event-hooks/${hook.id}/replay`, {
            since: isoOf(since), ...(until ? { until: isoOf(until) } : {}), ...(onlyMissed ? { onlyMissed } : {}), dryRun,
          });
          setResult(dryRun ? t('rangeCount', { n: r.count }) : t('rangeReplayed', { n: r.replayed }));
          if (!dryRun) onDone();
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h4 id={`range-${hook.id}`} style={{ margin: '4px 0' }}>{t('rangeReplay')}</h4>
      <p className="hint" style={{ marginTop: 0 }}>{t('rangeHint')}</p>
      <div className="row" style={{ alignItems: 'flex-end' }}>
        <Field label={t('since')}><input type="datetime-local" step={1} required value={since} onChange={(e) => setSince(e.target.value)} /></Field>
        <Field label={t('until')}><input type="datetime-local" step={1} value={until} onChange={(e) => setUntil(e.target.value)} /></Field>
        <label className="row" style={{ gap: 4 }}><input type="checkbox" checked={onlyMissed} onChange={(e) => setOnlyMissed(e.target.checked)} /> {t('onlyMissed')}</label>
        <label className="row" style={{ gap: 4 }}><input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} /> {t('dryRun')}</label>
        <button type="submit" disabled={busy || !since}>{t('replay')}</button>
      </div>
      <ErrorNote error={error} />
      <p role="status" className={result ? 'ok' : undefined} style={result ? undefined : { margin: 0 }}>{result}</p>
    </form>
  );
}

function EventLog({ t, lang, hooks }: { t: T; lang: Lang; hooks: EventHook[] }) {
  const [type, setType] = useState('');
  const [ticketId, setTicketId] = useState('');
  const [items, setItems] = useState<DomainEvent[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);
  const [open, setOpen] = useState<string | null>(null);
  const ticket = /^\d+$/.test(ticketId.trim()) ? Number(ticketId.trim()) : undefined;
  const fetchPage = (cursor: string | null) => api<Page<DomainEvent>>('GET', `/events${query({ type: type || undefined, ticketId: ticket, cursor, limit: 50 })}`);
  useEffect(() => {
    let live = true;
    setBusy(true);
    setError(null);
    fetchPage(null).then(
      (p) => { if (live) { setItems(p.items); setNext(p.nextCursor); } },
      (err: unknown) => live && setError(err),
    ).finally(() => live && setBusy(false));
    return () => { live = false; };
  }, [type, ticket, reload]);
  const hookName = (id: number) => hooks.find((h) => h.id === id)?.name ?? `#${id}`;
  return (
    <section aria-labelledby="event-log-heading" style={{ marginTop: 24 }}>
      <h2 id="event-log-heading">{t('eventLog')}</h2>
      <p className="hint">{t('eventLogHint')}</p>
      <div className="row">
        <label className="row" style={{ gap: 4 }}>
          {t('type')}
          <select value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">{t('all')}</option>
            {EVENT_TYPES.map((x) => <option key={x} value={x}>{x}</option>)}
          </select>
        </label>
        <label className="row" style={{ gap: 4 }}>
          {t('ticketFilter')}
          <input inputMode="numeric" style={{ width: 90 }} value={ticketId} onChange={(e) => setTicketId(e.target.value)} />
        </label>
        <button type="button" onClick={() => setReload((n) => n + 1)} disabled={busy}>{t('refresh')}</button>
      </div>
      <ErrorNote error={error} />
      {!busy && !error && items.length === 0 ? <p className="muted">{t('noEvents')}</p> : null}
      {items.length ? (
        <table aria-label={t('eventLog')} style={{ marginTop: 6 }}>
          <thead>
            <tr><th>{t('time')}</th><th>{t('type')}</th><th>{t('ticket')}</th><th>{t('userId')}</th><th>{t('eventId')}</th><th><span className="sr-only">{t('details', { id: '' })}</span></th></tr>
          </thead>
          <tbody>
            {items.map((ev) => (
              <Fragment key={ev.id}>
                <tr>
                  <td>{when(ev.createdAt, lang)}</td>
                  <td>{ev.type}</td>
                  <td>{ev.ticketId ? <Link to={`/tickets/${ev.ticketId}`}>#{ev.ticketId}</Link> : '–'}</td>
                  <td>{ev.userId ?? '–'}</td>
                  <td><code style={{ fontSize: 11 }}>{ev.id}</code></td>
                  <td>
                    <button type="button" aria-expanded={open === ev.id} aria-label={open === ev.id ? t('hideDetails', { id: ev.id }) : t('details', { id: ev.id })}
                      style={{ whiteSpace: 'nowrap' }} onClick={() => setOpen(open === ev.id ? null : ev.id)}>{open === ev.id ? '▾' : '▸'} {t('data')}</button>
                  </td>
                </tr>
                {open === ev.id ? (
                  <tr><td colSpan={6} style={{ background: '#f8f9fb' }}><EventDetail id={ev.id} t={t} lang={lang} hookName={hookName} /></td></tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      ) : null}
      {next ? (
        <button type="button" style={{ marginTop: 6 }} disabled={busy} onClick={async () => {
          setBusy(true);
          try {
            const p = await fetchPage(next);
            setItems((xs) => [...xs, ...p.items]);
            setNext(p.nextCursor);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}>{t('loadMore')}</button>
      ) : null}
    </section>
  );
}

function EventDetail({ id, t, lang, hookName }: { id: string; t: T; lang: Lang; hookName: (id: number) => string }) {
  const ev = useLoad(() => api<DomainEvent & { deliveries: Delivery[] }>('GET', `/events/${encodeURIComponent(id)}`), [id]);
  const [result, setResult] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div aria-label={t('event')} role="group">
      <ErrorNote error={ev.error ?? error} />
      {ev.data ? (
        <>
          <h5 style={{ margin: '4px 0' }}>{t('data')}</h5>
          <pre aria-label={`${t('data')}: ${id}`}>{JSON.stringify(ev.data.data, null, 2)}</pre>
          <h5 style={{ margin: '4px 0' }}>{t('deliveries')}</h5>
          {ev.data.deliveries.length ? <DeliveryTable deliveries={ev.data.deliveries} t={t} lang={lang} hookName={hookName} /> : <p className="muted">{t('noEventDeliveries')}</p>}
          <div className="row" style={{ marginTop: 6 }}>
            <button type="button" disabled={busy} onClick={async () => {
              setBusy(true);
              setError(null);
              setResult('');
              try {
                const r = await api<{ hooks: number[]; replayed: number }>('POST', `/events/${encodeURIComponent(id)}/replay`, {});
                setResult(t('eventReplayed', { n: r.hooks.length }));
                ev.reload();
              } catch (err) {
                setError(err);
              } finally {
                setBusy(false);
              }
            }}>{t('replayEvent')}</button>
            <span role="status" className={result ? 'ok' : undefined}>{result}</span>
          </div>
        </>
      ) : <p className="muted">{t('loading')}</p>}
    </div>
  );
}
