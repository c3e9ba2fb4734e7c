import { useEffect, useState, type ReactNode } from 'react';
import { api, ApiError, query } from '../../api.ts';
import { CreateSecretInline } from '../../components/CreateSecret.tsx';
import { HookHealthLine, ShadowSummaryLine } from '../../components/HookHealth.tsx';
import { ErrorNote, Field, useLoad } from '../../components/ui.tsx';
import { formatDate, useLang, useT, type Texts } from '../../i18n.tsx';
import { Link, navigate } from '../../router.tsx';

const TEXTS: Texts<
  | 'titleNew' | 'titleEdit' | 'back' | 'loading' | 'general' | 'name' | 'address' | 'save' | 'saving' | 'saved' | 'created' | 'delete' | 'confirmDelete'
  | 'inbound' | 'inboundType' | 'inSmtp' | 'inImap' | 'inSmtpHint' | 'host' | 'port' | 'secure' | 'secureHint' | 'user' | 'password' | 'folder'
  | 'outbound' | 'outboundType' | 'outNone' | 'outSmtp' | 'senderName' | 'pwSet' | 'pwNone' | 'pwReplace' | 'pwRemove' | 'pwKeep' | 'pwWillRemove' | 'pwNew'
  | 'webhooks' | 'switch' | 'switchHint' | 'hookNewEmails' | 'hookTicketUpdates' | 'hookNewEmailsHint' | 'hookTicketUpdatesHint' | 'hookType'
  | 'none' | 'apiCall' | 'code' | 'url' | 'method' | 'headers' | 'headerName' | 'headerValue' | 'addHeader' | 'removeHeader' | 'headersHint'
  | 'language' | 'codeHint' | 'test' | 'testing' | 'testSaveFirst' | 'testUnsaved' | 'testedForm' | 'testedSaved' | 'timeout' | 'timeoutHint' | 'policy' | 'policyNotify' | 'policyBlock' | 'policyHint'
  | 'result' | 'outcome' | 'status' | 'duration' | 'answer' | 'output' | 'error' | 'logs' | 'invocation' | 'noLogs'
  | 'signing' | 'signingHint' | 'reveal' | 'hide' | 'rotate' | 'confirmRotate' | 'rotated' | 'previous' | 'previousUntil' | 'secretLabel'
  | 'lateAttempt' | 'lateDelivery' | 'memoized' | 'shadow' | 'log' | 'logHint' | 'filterHook' | 'filterOutcome' | 'filterTicket' | 'all' | 'refresh' | 'time' | 'trigger' | 'ticket' | 'details' | 'hideDetails'
  | 'runAgain' | 'running' | 'retried' | 'noInvocations' | 'next' | 'prev' | 'input' | 'fixFields'
  | 'errUrl' | 'errHeader' | 'errCode' | 'errPort' | 'errTimeout' | 'errRequired'
> = {
  en: {
    titleNew: 'New email account', titleEdit: 'Email account: {name}', back: '← All email accounts', loading: 'Loading …', general: 'Account',
    name: 'Name', address: 'Address', save: 'Save', saving: 'Saving …', saved: 'Saved.', created: 'Account created. You can now test its webhooks.',
    delete: 'Delete account', confirmDelete: 'Delete the email account {name}? Its tickets are kept.',
    inbound: 'Inbound mail', inboundType: 'Receive mail by', inSmtp: 'SMTP: delivered to deskhook', inImap: 'IMAP: deskhook fetches it',
    inSmtpHint: 'Mail for this address is delivered to deskhook\'s own SMTP server.', host: 'Host', port: 'Port', secure: 'TLS from the start (secure)',
    secureHint: 'On for ports 465 and 993; off for STARTTLS.', user: 'User', password: 'Password', folder: 'Folder',
    outbound: 'Outbound mail', outboundType: 'Send replies through', outNone: 'None (replies are not sent)', outSmtp: 'SMTP server', senderName: 'Sender name',
    pwSet: 'Password: set', pwNone: 'Password: not set', pwReplace: 'Replace password', pwRemove: 'Remove password', pwKeep: 'Keep current password',
    pwWillRemove: 'The password will be removed when you save.', pwNew: 'New password',
    webhooks: 'Synchronous webhooks', switch: 'Webhooks', switchHint: 'The switch: hooks fire only while it is on. Test works with it off.',
    hookNewEmails: 'Webhook for new emails', hookTicketUpdates: 'Webhook for ticket updates',
    hookNewEmailsHint: 'Called for every incoming and outgoing email and every internal note (newEmails).',
    hookTicketUpdatesHint: 'Called when properties of a ticket change (ticketUpdates).', hookType: 'Runs',
    none: 'None', apiCall: 'API call', code: 'Code', url: 'URL', method: 'Method', headers: 'Headers', headerName: 'Header name {n}', headerValue: 'Header value {n}',
    addHeader: 'Add header', removeHeader: 'Remove header {n}', headersHint: 'Values may use {{secret.KEY}}; deskhook adds the signature headers itself.',
    language: 'Language', codeHint: 'export default async (input, ctx) => ({}) — the return value is the answer.',
    test: 'Test', testing: 'Testing …', testSaveFirst: 'Save the account first to test it.', testUnsaved: 'Unsaved changes: Test runs the form as shown, before it is saved.', testedForm: 'Tested: the form as shown (not saved yet).', testedSaved: 'Tested: the saved settings.',
    timeout: 'Timeout (ms)', timeoutHint: '100 to 30000; the user waits at most this long.', policy: 'Failure policy', policyNotify: 'notify: go on and warn the user',
    policyBlock: 'block: stop the step', policyHint: 'For steps a user takes; inbound mail is never blocked.',
    result: 'Test result', outcome: 'Outcome', status: 'HTTP status', duration: 'Duration', answer: 'Answer', output: 'Output', error: 'Error', logs: 'Logs',
    invocation: 'Invocation', noLogs: 'no log lines',
    signing: 'Signing secret', signingHint: 'Receivers verify the webhook-signature header with it (Standard Webhooks).', reveal: 'Reveal', hide: 'Hide',
    rotate: 'Rotate', confirmRotate: 'Make a new signing secret? The current one stays valid for 24 hours.', rotated: 'New secret made; the previous one stays valid until {at}.',
    previous: 'Previous secret', previousUntil: 'valid until {at}', secretLabel: 'Signing secret (masked until revealed)',
    lateAttempt: 'late', memoized: 'from memory', shadow: 'shadow: {verdict}', lateDelivery: 'late delivery: {status} after {attempts} attempts',
    log: 'Invocation log', logHint: 'Every call of the hooks, newest first.', filterHook: 'Hook', filterOutcome: 'Outcome', filterTicket: 'Ticket number', all: 'all',
    refresh: 'Refresh', time: 'Time', trigger: 'Trigger', ticket: 'Ticket', details: 'Details', hideDetails: 'Hide details',
    runAgain: 'Run again', running: 'Running …', retried: 'Ran again: {outcome}', noInvocations: 'No invocations.', next: 'Next page', prev: 'Previous page',
    input: 'Input', fixFields: 'Please correct the marked fields.',
    errUrl: 'must be an http:// or https:// URL', errHeader: 'header names use letters, digits and !#$%&\'*+.^_`|~-', errCode: 'code is required',
    errPort: 'must be a number from 1 to 65535', errTimeout: 'must be a whole number from 100 to 30000', errRequired: 'required',
  },
  de: {
    titleNew: 'Neues E-Mail-Konto', titleEdit: 'E-Mail-Konto: {name}', back: '← Alle E-Mail-Konten', loading: 'Lädt …', general: 'Konto',
    name: 'Name', address: 'Adresse', save: 'Speichern', saving: 'Speichert …', saved: 'Gespeichert.', created: 'Konto angelegt. Jetzt können Sie seine Webhooks testen.',
    delete: 'Konto löschen', confirmDelete: 'E-Mail-Konto {name} löschen? Seine Tickets bleiben erhalten.',
    inbound: 'Eingehende E-Mails', inboundType: 'Empfang über', inSmtp: 'SMTP: Zustellung an deskhook', inImap: 'IMAP: deskhook holt sie ab',
    inSmtpHint: 'E-Mails an diese Adresse werden an den SMTP-Server von deskhook zugestellt.', host: 'Host', port: 'Port', secure: 'TLS von Anfang an (secure)',
    secureHint: 'An für Port 465 und 993; aus für STARTTLS.', user: 'Benutzer', password: 'Passwort', folder: 'Ordner',
    outbound: 'Ausgehende E-Mails', outboundType: 'Antworten senden über', outNone: 'Keinen (Antworten werden nicht gesendet)', outSmtp: 'SMTP-Server', senderName: 'Absendername',
    pwSet: 'Passwort: gesetzt', pwNone: 'Passwort: nicht gesetzt', pwReplace: 'Passwort ersetzen', pwRemove: 'Passwort entfernen', pwKeep: 'Bisheriges Passwort behalten',
    pwWillRemove: 'Das Passwort wird beim Speichern entfernt.', pwNew: 'Neues Passwort',
    webhooks: 'Synchrone Webhooks', switch: 'Webhooks', switchHint: 'Der Schalter: Hooks werden nur aufgerufen, solange er an ist. Der Test geht auch ausgeschaltet.',
    hookNewEmails: 'Webhook für neue E-Mails', hookTicketUpdates: 'Webhook für Ticket-Änderungen',
    hookNewEmailsHint: 'Aufgerufen für jede ein- und ausgehende E-Mail und jede interne Notiz (newEmails).',
    hookTicketUpdatesHint: 'Aufgerufen, wenn sich Eigenschaften eines Tickets ändern (ticketUpdates).', hookType: 'Ausführung',
    none: 'Keine', apiCall: 'API-Aufruf', code: 'Code', url: 'URL', method: 'Methode', headers: 'Header', headerName: 'Header-Name {n}', headerValue: 'Header-Wert {n}',
    addHeader: 'Header hinzufügen', removeHeader: 'Header {n} entfernen', headersHint: 'Werte dürfen {{secret.KEY}} enthalten; die Signatur-Header setzt deskhook selbst.',
    language: 'Sprache', codeHint: 'export default async (input, ctx) => ({}) — der Rückgabewert ist die Antwort.',
    test: 'Testen', testing: 'Teste …', testSaveFirst: 'Speichern Sie das Konto zuerst, um es zu testen.', testUnsaved: 'Ungespeicherte Änderungen: Der Test führt das Formular so aus, wie es gezeigt wird, noch ungespeichert.', testedForm: 'Getestet: das Formular, wie gezeigt (noch nicht gespeichert).', testedSaved: 'Getestet: die gespeicherten Einstellungen.',
    timeout: 'Timeout (ms)', timeoutHint: '100 bis 30000; so lange wartet der Benutzer höchstens.', policy: 'Verhalten bei Fehlern', policyNotify: 'notify: weitermachen und Benutzer warnen',
    policyBlock: 'block: Schritt abbrechen', policyHint: 'Für Schritte eines Benutzers; eingehende E-Mails werden nie blockiert.',
    result: 'Testergebnis', outcome: 'Ergebnis', status: 'HTTP-Status', duration: 'Dauer', answer: 'Antwort', output: 'Ausgabe', error: 'Fehler', logs: 'Logs',
    invocation: 'Aufruf', noLogs: 'keine Logzeilen',
    signing: 'Signaturschlüssel', signingHint: 'Empfänger prüfen damit den Header webhook-signature (Standard Webhooks).', reveal: 'Anzeigen', hide: 'Verbergen',
    rotate: 'Erneuern', confirmRotate: 'Neuen Signaturschlüssel erzeugen? Der bisherige bleibt 24 Stunden gültig.', rotated: 'Neuer Schlüssel erzeugt; der bisherige gilt bis {at}.',
    previous: 'Bisheriger Schlüssel', previousUntil: 'gültig bis {at}', secretLabel: 'Signaturschlüssel (verdeckt bis zum Anzeigen)',
    log: 'Aufrufprotokoll', logHint: 'Jeder Aufruf der Hooks, neueste zuerst.', filterHook: 'Hook', filterOutcome: 'Ergebnis', filterTicket: 'Ticketnummer', all: 'alle',
    lateAttempt: 'verspätet', memoized: 'aus dem Gedächtnis', shadow: 'Schatten: {verdict}', lateDelivery: 'verspätete Zustellung: {status} nach {attempts} Versuchen',
    refresh: 'Aktualisieren', time: 'Zeit', trigger: 'Auslöser', ticket: 'Ticket', details: 'Details', hideDetails: 'Details verbergen',
    runAgain: 'Erneut ausführen', running: 'Läuft …', retried: 'Erneut ausgeführt: {outcome}', noInvocations: 'Keine Aufrufe.', next: 'Nächste Seite', prev: 'Vorige Seite',
    input: 'Eingabe', fixFields: 'Bitte korrigieren Sie die markierten Felder.',
    errUrl: 'muss eine http://- oder https://-URL sein', errHeader: 'Header-Namen bestehen aus Buchstaben, Ziffern und !#$%&\'*+.^_`|~-', errCode: 'Code fehlt',
    errPort: 'muss eine Zahl von 1 bis 65535 sein', errTimeout: 'muss eine ganze Zahl von 100 bis 30000 sein', errRequired: 'Pflichtfeld',
  },
};

type T = (key: keyof (typeof TEXTS)['en'], vars?: Record<string, string | number>) => string;

// ---------------------------------------------------------------------------------------------
// API shapes
// ---------------------------------------------------------------------------------------------

const HOOKS = ['newEmails', 'ticketUpdates'] as const;
type Hook = (typeof HOOKS)[number];
const METHODS = ['POST', 'PUT', 'PATCH', 'GET', 'DELETE'] as const;
type Method = (typeof METHODS)[number];
type Language = 'typescript' | 'javascript';

type Executor =
  | { type: 'apiCall'; url: string; method: Method; headers: Record<string, string> }
  | { type: 'sourceCode'; language: Language; code: string };

interface Account {
  id: number;
  name: string;
  address: string;
  inbound: { type: 'smtp' } | { type: 'imap'; host: string; port: number; secure: boolean; user: string; folder: string; hasPassword: boolean };
  outbound: { host: string; port: number; secure: boolean; user: string | null; senderName: string | null; hasPassword: boolean } | null;
  webhooks: { enabled: boolean; ticketUpdates: Executor | null; newEmails: Executor | null; timeoutMs: number; failurePolicy: 'notify' | 'block' };
}

interface SigningSecrets { signingSecret: string; previousSigningSecret: string | null; previousExpiresAt: string | null }

interface Invocation {
  id: string; emailAccountId: number; ticketId: number | null; conversationId: number | null; hook: Hook; trigger: string; userId: number | null;
  outcome: 'ok' | 'aborted' | 'failed'; policyApplied: 'notify' | 'block' | null; status: number | null; durationMs: number;
  input: unknown; output: unknown; error: { code: string; message: string } | null; logs: unknown; createdAt: string;
  retryOf?: string | null; late?: boolean; memoized?: boolean; hookVersion?: number | null; shadow?: boolean;
  comparison?: { verdict: 'agree' | 'differ' | 'failed' | 'liveFailed'; wouldChange: Array<{ field: string; live: unknown; shadow: unknown }> } | null;
  lateDelivery?: { status: 'pending' | 'succeeded' | 'failed'; attempts: number; nextAttemptAt: string | null; lastError: string | null } | null;
}

interface TestAnswer { tested: 'saved' | 'given'; invocationId: string | null; outcome: string; answer: unknown; error: { code: string; message: string } | null }

// ---------------------------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------------------------

interface Password { has: boolean; mode: 'keep' | 'set' | 'clear'; value: string }
interface HookForm { kind: 'none' | 'apiCall' | 'sourceCode'; url: string; method: Method; headers: Array<{ name: string; value: string }>; language: Language; code: string }
interface Form {
  name: string;
  address: string;
  inboundType: 'smtp' | 'imap';
  imap: { host: string; port: string; secure: boolean; user: string; folder: string; password: Password };
  outboundOn: boolean;
  smtp: { host: string; port: string; secure: boolean; user: string; senderName: string; password: Password };
  enabled: boolean;
  timeoutMs: string;
  failurePolicy: 'notify' | 'block';
  hooks: Record<Hook, HookForm>;
}

const CODE_TEMPLATE = `import type { CustomCode } from 'deskhook';

const hook: CustomCode = async (input: any, ctx) => {
  ctx.log('called for ticket', input.ticketId);
  return {};
};
export default hook;
`;

const noPassword = (): Password => ({ has: false, mode: 'set', value: '' });
const storedPassword = (has: boolean): Password => (has ? { has: true, mode: 'keep', value: '' } : noPassword());

function hookForm(ex: Executor | null): HookForm {
  const base: HookForm = { kind: 'none', url: '', method: 'POST', headers: [], language: 'typescript', code: CODE_TEMPLATE };
  if (!ex) return base;
  if (ex.type === 'apiCall') return { ...base, kind: 'apiCall', url: ex.url, method: ex.method, headers: Object.entries(ex.headers ?? {}).map(([name, value]) => ({ name, value })) };
  return { ...base, kind: 'sourceCode', language: ex.language, code: ex.code };
}

function emptyForm(): Form {
  return {
    name: '', address: '', inboundType: 'smtp',
    imap: { host: '', port: '993', secure: true, user: '', folder: 'INBOX', password: noPassword() },
    outboundOn: false,
    smtp: { host: '', port: '587', secure: false, user: '', senderName: '', password: noPassword() },
    enabled: false, timeoutMs: '10000', failurePolicy: 'notify',
    hooks: { newEmails: hookForm(null), ticketUpdates: hookForm(null) },
  };
}

function toForm(a: Account): Form {
  const f = emptyForm();
  return {
    ...f,
    name: a.name,
    address: a.address,
    inboundType: a.inbound.type,
    imap: a.inbound.type === 'imap'
      ? { host: a.inbound.host, port: String(a.inbound.port), secure: a.inbound.secure, user: a.inbound.user, folder: a.inbound.folder, password: storedPassword(a.inbound.hasPassword) }
      : f.imap,
    outboundOn: a.outbound !== null,
    smtp: a.outbound
      ? { host: a.outbound.host, port: String(a.outbound.port), secure: a.outbound.secure, user: a.outbound.user ?? '', senderName: a.outbound.senderName ?? '', password: storedPassword(a.outbound.hasPassword) }
      : f.smtp,
    enabled: a.webhooks.enabled,
    timeoutMs: String(a.webhooks.timeoutMs),
    failurePolicy: a.webhooks.failurePolicy,
    hooks: { newEmails: hookForm(a.webhooks.newEmails), ticketUpdates: hookForm(a.webhooks.ticketUpdates) },
  };
}

function executorOf(h: HookForm): Executor | null {
  if (h.kind === 'none') return null;
  if (h.kind === 'sourceCode') return { type: 'sourceCode', language: h.language, code: h.code };
  const headers: Record<string, string> = {};
  for (const row of h.headers) if (row.name.trim() !== '') headers[row.name.trim()] = row.value;
  return { type: 'apiCall', url: h.url.trim(), method: h.method, headers };
}

/** undefined keeps the stored password, null removes it. */
function passwordOf(p: Password): string | null | undefined {
  if (p.mode === 'clear') return null;
  if (p.mode === 'set' && p.value !== '') return p.value;
  return undefined;
}

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

interface FieldProblem { field: string; message: string; code?: string; secret?: string }

/** What the server would refuse with a confusing message (unions report every branch), caught here with the field named. */
function checkForm(f: Form, t: T): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const port = (field: string, v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < 1 || n > 65535) problems.push({ field, message: t('errPort') });
  };
  if (f.inboundType === 'imap') {
    if (!f.imap.host.trim()) problems.push({ field: 'inbound.host', message: t('errRequired') });
    if (!f.imap.user.trim()) problems.push({ field: 'inbound.user', message: t('errRequired') });
    port('inbound.port', f.imap.port);
  }
  if (f.outboundOn) {
    if (!f.smtp.host.trim()) problems.push({ field: 'outbound.host', message: t('errRequired') });
    port('outbound.port', f.smtp.port);
  }
  const timeout = Number(f.timeoutMs);
  if (!/^\d+$/.test(f.timeoutMs.trim()) || timeout < 100 || timeout > 30_000) problems.push({ field: 'webhooks.timeoutMs', message: t('errTimeout') });
  for (const hook of HOOKS) {
    const h = f.hooks[hook];
    if (h.kind === 'apiCall') {
      let ok = /^https?:\/\//i.test(h.url.trim());
      try { new URL(h.url.trim()); } catch { ok = false; }
      if (!ok) problems.push({ field: `webhooks.${hook}.url`, message: t('errUrl') });
      h.headers.forEach((row, i) => {
        if (row.name.trim() !== '' && !HEADER_NAME.test(row.name.trim())) problems.push({ field: `webhooks.${hook}.headers.${i}`, message: `${row.name}: ${t('errHeader')}` });
      });
    }
    if (h.kind === 'sourceCode' && !h.code.trim()) problems.push({ field: `webhooks.${hook}.code`, message: t('errCode') });
  }
  return problems;
}

function bodyOf(f: Form) {
  const inbound = f.inboundType === 'smtp'
    ? { type: 'smtp' as const }
    : (() => {
      const password = passwordOf(f.imap.password);
      return {
        type: 'imap' as const, host: f.imap.host.trim(), port: Number(f.imap.port), secure: f.imap.secure, user: f.imap.user,
        folder: f.imap.folder.trim() || 'INBOX', ...(password !== undefined ? { password } : {}),
      };
    })();
  const outbound = !f.outboundOn
    ? null
    : (() => {
      const password = passwordOf(f.smtp.password);
      return {
        host: f.smtp.host.trim(), port: Number(f.smtp.port), secure: f.smtp.secure, user: f.smtp.user.trim() || null,
        senderName: f.smtp.senderName.trim() || null, ...(password !== undefined ? { password } : {}),
      };
    })();
  return {
    name: f.name, address: f.address.trim(), inbound, outbound,
    webhooks: {
      enabled: f.enabled, timeoutMs: Number(f.timeoutMs), failurePolicy: f.failurePolicy,
      newEmails: executorOf(f.hooks.newEmails), ticketUpdates: executorOf(f.hooks.ticketUpdates),
    },
  };
}

/** The field problems a request answered with (`body.errors[]`), or none. */
function problemsOf(err: unknown): FieldProblem[] {
  if (!(err instanceof ApiError)) return [];
  const errors = (err.body as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) ? (errors as FieldProblem[]).filter((e) => typeof e?.field === 'string') : [];
}

/** The messages for one field (and, with `nested`, everything below it). */
function messagesFor(problems: FieldProblem[], field: string, nested = false): FieldProblem[] {
  return problems.filter((p) => p.field === field || (nested && p.field.startsWith(`${field}.`)));
}

function FieldErrors({ problems, id }: { problems: FieldProblem[]; id?: string }) {
  if (problems.length === 0) return null;
  return (
    <ul className="field-errors" id={id} style={{ margin: '2px 0', paddingLeft: 0, listStyle: 'none' }}>
      {problems.map((p, i) => (
        <li key={i} className="error" style={{ padding: '2px 6px' }}>
          {p.field}: {p.message}
          {p.code === 'secret_missing' && p.secret && <CreateSecretInline secretKey={p.secret} />}
        </li>
      ))}
    </ul>
  );
}

/** A labelled input with the server's (or the form's) complaints about its field under it. */
function FormField({ label, field, problems, hint, nested, children }: { label: string; field: string; problems: FieldProblem[]; hint?: string; nested?: boolean; children: ReactNode }) {
  const mine = messagesFor(problems, field, nested);
  return (
    <div data-field={field}>
      <Field label={label} {...(hint ? { hint } : {})}>{children}</Field>
      <FieldErrors problems={mine} />
    </div>
  );
}

const pretty = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));

function logLines(logs: unknown): string[] {
  if (!Array.isArray(logs)) return logs === null || logs === undefined ? [] : [pretty(logs)];
  return logs.map((l) => (typeof l === 'string' ? l : typeof l === 'object' && l !== null && 'message' in l ? `${(l as { level?: string }).level ?? ''} ${String((l as { message: unknown }).message)}`.trim() : JSON.stringify(l)));
}

// ---------------------------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------------------------

function PasswordInput({ label, value, onChange, problems, field, t }: { label: string; value: Password; onChange: (p: Password) => void; problems: FieldProblem[]; field: string; t: T }) {
  if (value.has && value.mode === 'keep') {
    return (
      <div className="row" data-field={field}>
        <span><strong>{t('pwSet')}</strong></span>
        <button type="button" onClick={() => onChange({ ...value, mode: 'set', value: '' })}>{t('pwReplace')}</button>
        <button type="button" className="danger" onClick={() => onChange({ ...value, mode: 'clear' })}>{t('pwRemove')}</button>
      </div>
    );
  }
  if (value.mode === 'clear') {
    return (
      <div className="row" data-field={field}>
        <span className="warning">{t('pwWillRemove')}</span>
        <button type="button" onClick={() => onChange({ ...value, mode: 'keep' })}>{t('pwKeep')}</button>
      </div>
    );
  }
  return (
    <div className="row" style={{ alignItems: 'flex-end' }}>
      <FormField label={value.has ? t('pwNew') : label} field={field} problems={problems} {...(value.has ? {} : { hint: t('pwNone') })}>
        <input type="password" autoComplete="new-password" value={value.value} onChange={(e) => onChange({ ...value, value: e.target.value })} />
      </FormField>
      {value.has ? <button type="button" onClick={() => onChange({ ...value, mode: 'keep', value: '' })}>{t('pwKeep')}</button> : null}
    </div>
  );
}

function TestResult({ result, invocation, unsaved, t }: { result: TestAnswer; invocation: Invocation | null; unsaved: boolean; t: T }) {
  const cls = result.outcome === 'ok' ? 'ok' : result.outcome === 'aborted' ? 'warning' : 'error';
  const logs = invocation ? logLines(invocation.logs) : [];
  return (
    <section className="card" aria-label={t('result')} data-testid="test-result">
      <p className={cls} role="status">
        <strong>{t('outcome')}: {result.outcome}</strong>
        {invocation?.status !== null && invocation?.status !== undefined ? <> · {t('status')}: {invocation.status}</> : null}
        {invocation ? <> · {t('duration')}: {Math.round(invocation.durationMs * 10) / 10} ms</> : null}
        {result.invocationId ? <span className="muted"> · {t('invocation')}: {result.invocationId}</span> : null}
      </p>
      <p className="hint" data-testid="tested-which">{unsaved ? t('testedForm') : t('testedSaved')}</p>
      {result.error ? <p className="error">{t('error')}: {result.error.code}: {result.error.message}</p> : null}
      {result.answer !== null && result.answer !== undefined ? (
        <>
          <h4>{t('answer')}</h4>
          <pre>{pretty(result.answer)}</pre>
        </>
      ) : null}
      {invocation && invocation.output !== null && invocation.output !== undefined ? (
        <>
          <h4>{t('output')}</h4>
          <pre>{pretty(invocation.output)}</pre>
        </>
      ) : null}
      {invocation ? (
        <>
          <h4>{t('logs')}</h4>
          {logs.length ? <pre>{logs.join('\n')}</pre> : <p className="muted">{t('noLogs')}</p>}
        </>
      ) : null}
    </section>
  );
}

function HookEditor(props: {
  hook: Hook; value: HookForm; saved: Executor | null; accountId: number | null; problems: FieldProblem[];
  onChange: (h: HookForm) => void; onTested: () => void; t: T;
}) {
  const { hook, value, onChange, t, problems, accountId } = props;
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<{ answer: TestAnswer; invocation: Invocation | null; unsaved: boolean } | null>(null);
  const [testError, setTestError] = useState<unknown>(null);
  const prefix = `webhooks.${hook}`;
  const title = hook === 'newEmails' ? t('hookNewEmails') : t('hookTicketUpdates');
  const name = `hook-kind-${hook}`;
  const dirty = JSON.stringify(executorOf(value)) !== JSON.stringify(props.saved);
  const set = (patch: Partial<HookForm>) => onChange({ ...value, ...patch });
  const setHeader = (i: number, patch: Partial<{ name: string; value: string }>) => set({ headers: value.headers.map((h, j) => (j === i ? { ...h, ...patch } : h)) });
  const own = problems.filter((p) => p.field === prefix || (p.field.startsWith(`${prefix}.`) && !/\.(url|method|headers|language|code)(\.|$)/.test(p.field.slice(prefix.length))));

  const runTest = async () => {
    if (accountId === null) return;
    setTesting(true);
    setTestError(null);
    setResult(null);
    try {
      // What the form shows, saved or not (as the ERP's Test does); the answer says it ran that.
      const unsaved = dirty;
      const answer = await api<TestAnswer>('POST', `/email-accounts/${accountId}/webhooks/${hook}/test`, { executor: executorOf(value) });
      let invocation: Invocation | null = null;
      if (answer.invocationId) {
        // The test answer has the parsed answer; status, raw output, duration and logs are in the log.
        const page = await api<{ items: Invocation[] }>('GET', `/email-accounts/${accountId}/invocations${query({ hook, limit: 20 })}`).catch(() => ({ items: [] as Invocation[] }));
        invocation = page.items.find((i) => i.id === answer.invocationId) ?? null;
      }
      setResult({ answer, invocation, unsaved });
      props.onTested();
    } catch (err) {
      setTestError(err);
    } finally {
      setTesting(false);
    }
  };

  return (
    <fieldset className="card" data-hook={hook}>
      <legend><strong>{title}</strong></legend>
      <p className="hint" style={{ marginTop: 0 }}>{hook === 'newEmails' ? t('hookNewEmailsHint') : t('hookTicketUpdatesHint')}</p>
      {accountId !== null && props.saved ? <HookHealthLine accountId={accountId} hook={hook} refresh={result ? 1 : 0} /> : null}
      {accountId !== null && props.saved ? <ShadowSummaryLine accountId={accountId} hook={hook} refresh={result ? 1 : 0} /> : null}
      <div className="row" role="radiogroup" aria-label={`${title}: ${t('hookType')}`}>
        {(['none', 'apiCall', 'sourceCode'] as const).map((kind) => (
          <label key={kind} className="row" style={{ gap: 4 }}>
            <input type="radio" name={name} value={kind} checked={value.kind === kind} onChange={() => set({ kind })} />
            {kind === 'none' ? t('none') : kind === 'apiCall' ? t('apiCall') : t('code')}
          </label>
        ))}
      </div>
      <FieldErrors problems={own} />
      {value.kind === 'apiCall' ? (
        <>
          <div className="row" style={{ alignItems: 'flex-start' }}>
            <div style={{ flex: 1 }}>
              <FormField label={t('url')} field={`${prefix}.url`} problems={problems}>
                <input type="url" value={value.url} placeholder="https://hooks.example.com/deskhook" onChange={(e) => set({ url: e.target.value })} style={{ width: '100%' }} />
              </FormField>
            </div>
            <FormField label={t('method')} field={`${prefix}.method`} problems={problems}>
              <select value={value.method} onChange={(e) => set({ method: e.target.value as Method })}>
                {METHODS.map((m) => <option key={m} value={m}>{m}</option>)}
              </select>
            </FormField>
          </div>
          <div data-field={`${prefix}.headers`}>
            <span className="field-label">{t('headers')}</span>
            {value.headers.map((h, i) => (
              <div className="row" key={i} style={{ margin: '4px 0' }}>
                <input aria-label={t('headerName', { n: i + 1 })} placeholder="Authorization" value={h.name} onChange={(e) => setHeader(i, { name: e.target.value })} />
                <input aria-label={t('headerValue', { n: i + 1 })} placeholder="Bearer {{secret.HOOK_TOKEN}}" value={h.value} onChange={(e) => setHeader(i, { value: e.target.value })} style={{ flex: 1, minWidth: 280 }} />
                <button type="button" aria-label={t('removeHeader', { n: i + 1 })} onClick={() => set({ headers: value.headers.filter((_, j) => j !== i) })}>✕</button>
              </div>
            ))}
            <div className="row">
              <button type="button" onClick={() => set({ headers: [...value.headers, { name: '', value: '' }] })}>{t('addHeader')}</button>
              <span className="hint">{t('headersHint')}</span>
            </div>
            <FieldErrors problems={messagesFor(problems, `${prefix}.headers`, true)} />
          </div>
        </>
      ) : null}
      {value.kind === 'sourceCode' ? (
        <>
          <FormField label={t('language')} field={`${prefix}.language`} problems={problems}>
            <select value={value.language} onChange={(e) => set({ language: e.target.value as Language })} style={{ width: 200 }}>
              <option value="typescript">TypeScript</option>
              <option value="javascript">JavaScript</option>
            </select>
          </FormField>
          <FormField label={t('code')} field={`${prefix}.code`} problems={problems} hint={t('codeHint')}>
            <textarea value={value.code} spellCheck={false} rows={14} onChange={(e) => set({ code: e.target.value })} style={{ fontFamily: 'ui-monospace, monospace', fontSize: 13 }} />
          </FormField>
        </>
      ) : null}
      <div className="row" style={{ marginTop: 8 }}>
        <button type="button" onClick={() => void runTest()} disabled={testing || accountId === null} aria-label={`${t('test')}: ${title}`}>
          {testing ? t('testing') : t('test')}
        </button>
        {accountId === null ? <span className="hint">{t('testSaveFirst')}</span> : dirty ? <span className="hint">{t('testUnsaved')}</span> : null}
      </div>
      <ErrorNote error={testError} />
      {result ? <TestResult result={result.answer} invocation={result.invocation} unsaved={result.unsaved} t={t} /> : null}
    </fieldset>
  );
}

function SigningSecretPanel({ accountId, t }: { accountId: number; t: T }) {
  const { lang } = useLang();
  const [secrets, setSecrets] = useState<SigningSecrets | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    setNote(null);
    try { await fn(); } catch (err) { setError(err); } finally { setBusy(false); }
  };
  const masked = 'whsec_' + '•'.repeat(32);
  return (
    <section className="card" aria-labelledby="signing-secret-title">
      <h3 id="signing-secret-title" style={{ marginTop: 0 }}>{t('signing')}</h3>
      <p className="hint">{t('signingHint')}</p>
      <div className="row">
        <input readOnly aria-label={t('secretLabel')} value={secrets ? secrets.signingSecret : masked} style={{ width: 460, fontFamily: 'ui-monospace, monospace' }} onFocus={(e) => e.target.select()} />
        {secrets
          ? <button type="button" onClick={() => setSecrets(null)}>{t('hide')}</button>
          : <button type="button" disabled={busy} onClick={() => void act(async () => setSecrets(await api<SigningSecrets>('GET', `/email-accounts/${accountId}/webhooks/signing-secret`)))}>{t('reveal')}</button>}
        <button
          type="button" disabled={busy}
          onClick={() => {
            if (!window.confirm(t('confirmRotate'))) return;
            void act(async () => {
              const s = await api<SigningSecrets>('POST', `/email-accounts/${accountId}/webhooks/signing-secret/rotate`);
              setSecrets(s);
              setNote(t('rotated', { at: formatDate(s.previousExpiresAt, lang) }));
            });
          }}
        >{t('rotate')}</button>
      </div>
      {secrets?.previousSigningSecret ? (
        <p className="muted">
          {t('previous')}: <code>{secrets.previousSigningSecret}</code> ({t('previousUntil', { at: formatDate(secrets.previousExpiresAt, lang) })})
        </p>
      ) : null}
      {note ? <p className="ok" role="status">{note}</p> : null}
      <ErrorNote error={error} />
    </section>
  );
}

function InvocationLog({ accountId, tick, t }: { accountId: number; tick: number; t: T }) {
  const { lang } = useLang();
  const [hook, setHook] = useState<'' | Hook>('');
  const [outcome, setOutcome] = useState<'' | 'ok' | 'aborted' | 'failed'>('');
  const [ticketId, setTicketId] = useState('');
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const [ownTick, setOwnTick] = useState(0);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [retrying, setRetrying] = useState<string | null>(null);
  const [retryNote, setRetryNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [retryError, setRetryError] = useState<unknown>(null);
  const cursor = cursors[cursors.length - 1] ?? null;
  const ticketFilter = /^\d+$/.test(ticketId.trim()) && Number(ticketId) > 0 ? Number(ticketId) : null;
  const { data, error, loading } = useLoad(
    () => api<{ items: Invocation[]; nextCursor: string | null }>('GET', `/email-accounts/${accountId}/invocations${query({ hook, outcome, ticketId: ticketFilter, limit: 20, cursor })}`),
    [accountId, hook, outcome, ticketFilter, cursor, tick, ownTick],
  );
  const resetPaging = () => setCursors([null]);
  const toggle = (id: string) => setOpen((s) => {
    const next = new Set(s);
    if (next.has(id)) next.delete(id); else next.add(id);
    return next;
  });
  const retry = async (inv: Invocation) => {
    setRetrying(inv.id);
    setRetryNote(null);
    setRetryError(null);
    try {
      const r = await api<{ invocationId: string | null; outcome: string; error: { code: string; message: string } | null }>('POST', `/email-accounts/${accountId}/invocations/${inv.id}/retry`);
      setRetryNote({ ok: r.outcome === 'ok', text: `${t('retried', { outcome: r.outcome })}${r.error ? ` (${r.error.code}: ${r.error.message})` : ''}${r.invocationId ? ` · ${r.invocationId}` : ''}` });
      resetPaging();
      setOwnTick((n) => n + 1);
    } catch (err) {
      setRetryError(err);
    } finally {
      setRetrying(null);
    }
  };
  const hookName = (h: Hook) => (h === 'newEmails' ? t('hookNewEmails') : t('hookTicketUpdates'));
  return (
    <section aria-labelledby="invocation-log-title">
      <h2 id="invocation-log-title">{t('log')}</h2>
      <p className="hint">{t('logHint')}</p>
      <div className="row" style={{ alignItems: 'flex-end' }}>
        <Field label={t('filterHook')}>
          <select value={hook} onChange={(e) => { setHook(e.target.value as '' | Hook); resetPaging(); }}>
            <option value="">{t('all')}</option>
            {HOOKS.map((h) => <option key={h} value={h}>{h}</option>)}
          </select>
        </Field>
        <Field label={t('filterOutcome')}>
          <select value={outcome} onChange={(e) => { setOutcome(e.target.value as '' | 'ok'); resetPaging(); }}>
            <option value="">{t('all')}</option>
            <option value="ok">ok</option>
            <option value="aborted">aborted</option>
            <option value="failed">failed</option>
          </select>
        </Field>
        <Field label={t('filterTicket')}>
          <input type="number" min={1} inputMode="numeric" value={ticketId} onChange={(e) => { setTicketId(e.target.value); resetPaging(); }} style={{ width: 120 }} />
        </Field>
        <button type="button" onClick={() => { resetPaging(); setOwnTick((n) => n + 1); }} style={{ marginBottom: 6 }}>{t('refresh')}</button>
      </div>
      {retryNote ? <p className={retryNote.ok ? 'ok' : 'error'} role="status">{retryNote.text}</p> : null}
      <ErrorNote error={retryError} />
      <ErrorNote error={error} />
      {loading && !data ? <p>{t('loading')}</p> : null}
      {data && data.items.length === 0 ? <p className="muted">{t('noInvocations')}</p> : null}
      {data && data.items.length > 0 ? (
        <table aria-label={t('log')}>
          <thead>
            <tr>
              <th scope="col">{t('time')}</th>
              <th scope="col">{t('filterHook')}</th>
              <th scope="col">{t('trigger')}</th>
              <th scope="col">{t('ticket')}</th>
              <th scope="col">{t('outcome')}</th>
              <th scope="col">{t('status')}</th>
              <th scope="col">{t('duration')}</th>
              <th scope="col">{t('error')}</th>
              <th scope="col"><span className="sr-only">{t('details')}</span></th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((inv) => (
              <InvocationRows
                key={inv.id} inv={inv} open={open.has(inv.id)} onToggle={() => toggle(inv.id)} lang={lang} t={t} hookName={hookName(inv.hook)}
                canRetry={inv.outcome === 'failed' && inv.trigger === 'inboundEmail'} retrying={retrying === inv.id} onRetry={() => void retry(inv)}
              />
            ))}
          </tbody>
        </table>
      ) : null}
      <div className="row" style={{ marginTop: 8 }}>
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>{t('prev')}</button>
        <button type="button" disabled={!data?.nextCursor} onClick={() => data?.nextCursor && setCursors((c) => [...c, data.nextCursor])}>{t('next')}</button>
      </div>
    </section>
  );
}

function InvocationRows(props: {
  inv: Invocation; open: boolean; onToggle: () => void; lang: 'en' | 'de'; t: T; hookName: string; canRetry: boolean; retrying: boolean; onRetry: () => void;
}) {
  const { inv, t } = props;
  const cls = inv.outcome === 'ok' ? undefined : inv.outcome === 'failed' ? 'error' : 'warning';
  const logs = logLines(inv.logs);
  return (
    <>
      <tr data-invocation={inv.id}>
        <td>{formatDate(inv.createdAt, props.lang)}</td>
        <td title={props.hookName}>{inv.hook}{inv.hookVersion ? <span className="muted"> v{inv.hookVersion}</span> : null}</td>
        <td>
          {inv.trigger}
          {inv.late ? <span className="muted" title={inv.retryOf ?? undefined}> · {t('lateAttempt')}</span> : null}
          {inv.memoized ? <span className="muted" title={inv.retryOf ?? undefined}> · {t('memoized')}</span> : null}
          {inv.shadow ? (
            <span className={inv.comparison?.verdict === 'agree' ? 'muted' : 'warning'} title={(inv.comparison?.wouldChange ?? []).map((d) => `${d.field}: ${JSON.stringify(d.live)} → ${JSON.stringify(d.shadow)}`).join('\n') || undefined}>
              {' · '}{t('shadow', { verdict: inv.comparison?.verdict ?? '?' })}
            </span>
          ) : null}
        </td>
        <td>{inv.ticketId !== null ? <Link to={`/tickets/${inv.ticketId}`}>#{inv.ticketId}</Link> : <span className="muted">–</span>}</td>
        <td><span className={cls} style={cls ? { padding: '0 4px' } : undefined}>{inv.outcome}</span>{inv.policyApplied ? <span className="muted"> ({inv.policyApplied})</span> : null}
          {inv.lateDelivery ? <div className="muted">{t('lateDelivery', { status: inv.lateDelivery.status, attempts: inv.lateDelivery.attempts })}</div> : null}</td>
        <td>{inv.status ?? '–'}</td>
        <td>{Math.round(inv.durationMs * 10) / 10} ms</td>
        <td style={{ maxWidth: 320, wordBreak: 'break-word' }}>{inv.error ? `${inv.error.code}: ${inv.error.message}` : ''}</td>
        <td>
          <div className="row" style={{ flexWrap: 'nowrap' }}>
            <button type="button" aria-expanded={props.open} onClick={props.onToggle}>{props.open ? t('hideDetails') : t('details')}</button>
            {props.canRetry ? <button type="button" disabled={props.retrying} onClick={props.onRetry}>{props.retrying ? t('running') : t('runAgain')}</button> : null}
          </div>
        </td>
      </tr>
      {props.open ? (
        <tr>
          <td colSpan={9}>
            <div className="muted">{t('invocation')}: {inv.id}</div>
            <div className="row" style={{ alignItems: 'flex-start', flexWrap: 'nowrap' }}>
              <div style={{ flex: 1, minWidth: 0 }}><h4>{t('input')}</h4><pre>{pretty(inv.input)}</pre></div>
              <div style={{ flex: 1, minWidth: 0 }}>
                <h4>{t('output')}</h4><pre>{pretty(inv.output)}</pre>
                <h4>{t('logs')}</h4>{logs.length ? <pre>{logs.join('\n')}</pre> : <p className="muted">{t('noLogs')}</p>}
              </div>
            </div>
          </td>
        </tr>
      ) : null}
    </>
  );
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

/** Set just before navigating to a new account, so its page can say it was created. */
let justCreated: number | null = null;

/** Settings → Communication channels → Email accounts → one account: mail settings, the Webhooks switch, the hooks, their log. */
export function EmailAccountEdit({ id }: { id: number | null }) {
  const t = useT(TEXTS);
  const loaded = useLoad(() => (id === null ? Promise.resolve(null) : api<Account>('GET', `/email-accounts/${id}`)), [id]);
  const [saved, setSaved] = useState<Account | null>(null);
  const [form, setForm] = useState<Form>(emptyForm);
  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [logTick, setLogTick] = useState(0);

  useEffect(() => {
    if (!loaded.data) return;
    setSaved(loaded.data);
    setForm(toForm(loaded.data));
    if (justCreated === loaded.data.id) {
      setNotice(t('created'));
      justCreated = null;
    }
  }, [loaded.data]);

  const set = (patch: Partial<Form>) => setForm((f) => ({ ...f, ...patch }));
  const setImap = (patch: Partial<Form['imap']>) => setForm((f) => ({ ...f, imap: { ...f.imap, ...patch } }));
  const setSmtp = (patch: Partial<Form['smtp']>) => setForm((f) => ({ ...f, smtp: { ...f.smtp, ...patch } }));
  const setHook = (hook: Hook, h: HookForm) => setForm((f) => ({ ...f, hooks: { ...f.hooks, [hook]: h } }));

  const save = async () => {
    setError(null);
    setNotice(null);
    const local = checkForm(form, t);
    setProblems(local);
    if (local.length) {
      setError(new Error(`${t('fixFields')} (${local.map((p) => p.field).join(', ')})`));
      return;
    }
    setBusy(true);
    try {
      if (id === null) {
        const created = await api<Account>('POST', '/email-accounts', bodyOf(form));
        justCreated = created.id;
        navigate(`/settings/email-accounts/${created.id}`);
        return;
      }
      const updated = await api<Account>('PATCH', `/email-accounts/${id}`, bodyOf(form));
      setSaved(updated);
      setForm(toForm(updated));
      setNotice(t('saved'));
    } catch (err) {
      setError(err);
      setProblems(problemsOf(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (id === null || !window.confirm(t('confirmDelete', { name: saved?.name ?? '' }))) return;
    setError(null);
    try {
      await api('DELETE', `/email-accounts/${id}`);
      navigate('/settings/email-accounts');
    } catch (err) {
      setError(err);
    }
  };

  if (id !== null && !saved) {
    return (
      <section>
        <p><Link to="/settings/email-accounts">{t('back')}</Link></p>
        <ErrorNote error={loaded.error} />
        {loaded.loading ? <p>{t('loading')}</p> : null}
      </section>
    );
  }

  const f = form;
  return (
    <section>
      <p style={{ margin: '0 0 4px' }}><Link to="/settings/email-accounts">{t('back')}</Link></p>
      <h1>{id === null ? t('titleNew') : t('titleEdit', { name: saved?.name ?? '' })}</h1>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <fieldset className="card">
          <legend><strong>{t('general')}</strong></legend>
          <div className="row" style={{ alignItems: 'flex-start' }}>
            <div style={{ flex: 1 }}>
              <FormField label={t('name')} field="name" problems={problems}>
                <input value={f.name} onChange={(e) => set({ name: e.target.value })} />
              </FormField>
            </div>
            <div style={{ flex: 1 }}>
              <FormField label={t('address')} field="address" problems={problems}>
                <input type="email" value={f.address} placeholder="kundenservice@stadtwerke.example" onChange={(e) => set({ address: e.target.value })} />
              </FormField>
            </div>
          </div>
        </fieldset>

        <div className="row" style={{ alignItems: 'stretch', flexWrap: 'nowrap' }}>
          <fieldset className="card" style={{ flex: 1, minWidth: 0 }}>
            <legend><strong>{t('inbound')}</strong></legend>
            <FormField label={t('inboundType')} field="inbound" problems={problems}>
              <select value={f.inboundType} onChange={(e) => set({ inboundType: e.target.value as 'smtp' | 'imap' })}>
                <option value="smtp">{t('inSmtp')}</option>
                <option value="imap">{t('inImap')}</option>
              </select>
            </FormField>
            {f.inboundType === 'smtp' ? <p className="hint">{t('inSmtpHint')}</p> : (
              <>
                <div className="row" style={{ alignItems: 'flex-start' }}>
                  <div style={{ flex: 1 }}>
                    <FormField label={t('host')} field="inbound.host" problems={problems}>
                      <input value={f.imap.host} placeholder="imap.example.com" onChange={(e) => setImap({ host: e.target.value })} />
                    </FormField>
                  </div>
                  <FormField label={t('port')} field="inbound.port" problems={problems}>
                    <input inputMode="numeric" value={f.imap.port} onChange={(e) => setImap({ port: e.target.value })} style={{ width: 90 }} />
                  </FormField>
                </div>
                <label className="row" style={{ gap: 4 }}>
                  <input type="checkbox" checked={f.imap.secure} onChange={(e) => setImap({ secure: e.target.checked })} /> {t('secure')}
                </label>
                <FormField label={t('user')} field="inbound.user" problems={problems}>
                  <input autoComplete="off" value={f.imap.user} onChange={(e) => setImap({ user: e.target.value })} />
                </FormField>
                <PasswordInput label={t('password')} field="inbound.password" value={f.imap.password} onChange={(password) => setImap({ password })} problems={problems} t={t} />
                <FormField label={t('folder')} field="inbound.folder" problems={problems}>
                  <input value={f.imap.folder} onChange={(e) => setImap({ folder: e.target.value })} />
                </FormField>
              </>
            )}
          </fieldset>

          <fieldset className="card" style={{ flex: 1, minWidth: 0 }}>
            <legend><strong>{t('outbound')}</strong></legend>
            <FormField label={t('outboundType')} field="outbound" problems={problems}>
              <select value={f.outboundOn ? 'smtp' : 'none'} onChange={(e) => set({ outboundOn: e.target.value === 'smtp' })}>
                <option value="none">{t('outNone')}</option>
                <option value="smtp">{t('outSmtp')}</option>
              </select>
            </FormField>
            {f.outboundOn ? (
              <>
                <div className="row" style={{ alignItems: 'flex-start' }}>
                  <div style={{ flex: 1 }}>
                    <FormField label={t('host')} field="outbound.host" problems={problems}>
                      <input value={f.smtp.host} placeholder="smtp.example.com" onChange={(e) => setSmtp({ host: e.target.value })} />
                    </FormField>
                  </div>
                  <FormField label={t('port')} field="outbound.port" problems={problems}>
                    <input inputMode="numeric" value={f.smtp.port} onChange={(e) => setSmtp({ port: e.target.value })} style={{ width: 90 }} />
                  </FormField>
                </div>
                <label className="row" style={{ gap: 4 }}>
                  <input type="checkbox" checked={f.smtp.secure} onChange={(e) => setSmtp({ secure: e.target.checked })} /> {t('secure')}
                </label>
                <FormField label={t('user')} field="outbound.user" problems={problems}>
                  <input autoComplete="off" value={f.smtp.user} onChange={(e) => setSmtp({ user: e.target.value })} />
                </FormField>
                <PasswordInput label={t('password')} field="outbound.password" value={f.smtp.password} onChange={(password) => setSmtp({ password })} problems={problems} t={t} />
                <FormField label={t('senderName')} field="outbound.senderName" problems={problems}>
                  <input value={f.smtp.senderName} placeholder="Stadtwerke Kundenservice" onChange={(e) => setSmtp({ senderName: e.target.value })} />
                </FormField>
              </>
            ) : null}
          </fieldset>
        </div>

        <section className="card" aria-labelledby="webhooks-title">
          <h2 id="webhooks-title" style={{ marginTop: 0 }}>{t('webhooks')}</h2>
          <div data-field="webhooks.enabled">
            <label className="row" style={{ gap: 6, fontSize: 15 }}>
              <input type="checkbox" role="switch" aria-checked={f.enabled} checked={f.enabled} onChange={(e) => set({ enabled: e.target.checked })} style={{ width: 18, height: 18 }} />
              <strong>{t('switch')}</strong>
            </label>
            <span className="hint">{t('switchHint')}</span>
            <FieldErrors problems={messagesFor(problems, 'webhooks.enabled')} />
          </div>
          {HOOKS.map((hook) => (
            <HookEditor
              key={hook} hook={hook} value={f.hooks[hook]} saved={saved?.webhooks[hook] ?? null} accountId={id} problems={problems} t={t}
              onChange={(h) => setHook(hook, h)} onTested={() => setLogTick((n) => n + 1)}
            />
          ))}
          <div className="row" style={{ alignItems: 'flex-start' }}>
            <FormField label={t('timeout')} field="webhooks.timeoutMs" problems={problems} hint={t('timeoutHint')}>
              <input inputMode="numeric" value={f.timeoutMs} onChange={(e) => set({ timeoutMs: e.target.value })} style={{ width: 120 }} />
            </FormField>
            <FormField label={t('policy')} field="webhooks.failurePolicy" problems={problems} hint={t('policyHint')}>
              <select value={f.failurePolicy} onChange={(e) => set({ failurePolicy: e.target.value as 'notify' | 'block' })}>
                <option value="notify">{t('policyNotify')}</option>
                <option value="block">{t('policyBlock')}</option>
              </select>
            </FormField>
          </div>
          <FieldErrors problems={problems.filter((p) => p.field === 'webhooks')} />
        </section>

        <ErrorNote error={error} />
        {notice ? <p className="ok" role="status">{notice}</p> : null}
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>{busy ? t('saving') : t('save')}</button>
          {id !== null ? <button type="button" className="danger" onClick={() => void remove()} style={{ marginLeft: 'auto' }}>{t('delete')}</button> : null}
        </div>
      </form>

      {id !== null ? (
        <>
          <SigningSecretPanel accountId={id} t={t} />
          <InvocationLog accountId={id} tick={logTick} t={t} />
        </>
      ) : null}
    </section>
  );
}
