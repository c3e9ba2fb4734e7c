import { useState } from 'react';
import { api, ApiError, query } from '../../api.ts';
import { ErrorNote, Field, useLoad } from '../../components/ui.tsx';
import { formatDate, useLang, useT, type Texts } from '../../i18n.tsx';
import { useSession } from '../../session.tsx';

const TEXTS: Texts<
  | 'title' | 'users' | 'loading' | 'name' | 'email' | 'role' | 'roleOf' | 'admin' | 'agent' | 'kind' | 'person' | 'service' | 'status' | 'active' | 'disabled'
  | 'actions' | 'disable' | 'enable' | 'disableLabel' | 'enableLabel' | 'confirmDisable' | 'you' | 'updated'
  | 'newUser' | 'password' | 'passwordHint' | 'serviceUser' | 'serviceHint' | 'create' | 'creating' | 'createdUser'
  | 'keys' | 'keysIntro' | 'newKey' | 'keyName' | 'keyNameHint' | 'createKey' | 'keyCreated' | 'keyOnce' | 'copy' | 'copied' | 'copyFailed' | 'dismiss'
  | 'keyValue' | 'prefix' | 'created' | 'lastUsed' | 'never' | 'revoke' | 'revokeLabel' | 'confirmRevoke' | 'revoked' | 'noKeys' | 'chooseUser'
  | 'keyOwner' | 'scope' | 'scopeRead' | 'scopeAgent' | 'scopeAdmin' | 'scopeDefault' | 'scopeHint' | 'expires' | 'expiresHint' | 'expiresNever' | 'expired'
> = {
  en: {
    title: 'Users and API keys', users: 'Users', loading: 'Loading …', name: 'Name', email: 'E-mail', role: 'Role', roleOf: 'Role of {name}',
    admin: 'Admin', agent: 'Agent', kind: 'Kind', person: 'person', service: 'service user', status: 'Status', active: 'active', disabled: 'disabled',
    actions: 'Actions', disable: 'Disable', enable: 'Enable', disableLabel: 'Disable {name}', enableLabel: 'Enable {name}',
    confirmDisable: 'Disable {name}? They are logged out and their API keys stop working.', you: '(you)', updated: '{name} updated.',
    newUser: 'New user', password: 'Password', passwordHint: 'At least 10 characters and hard to guess: several unrelated words, or a generated password.', serviceUser: 'Service user (for integrations: no password, cannot log in)',
    serviceHint: 'Give it an API key below.', create: 'Create user', creating: 'Creating …', createdUser: 'User {name} created.',
    keys: 'API keys', keysIntro: 'Integrations call /api/v1 with an API key (Authorization: Bearer dhk_…); it acts as its user.', newKey: 'New API key',
    keyName: 'Key name', keyNameHint: 'What it is for, e.g. "ERP sync".', createKey: 'Create API key',
    keyCreated: 'API key "{name}" created for {user}.', keyOnce: 'Copy the key now: it is shown only this once; deskhook stores only its digest.',
    copy: 'Copy', copied: 'Copied to the clipboard.', copyFailed: 'Copying failed: select the key and copy it by hand.', dismiss: 'Done, I have copied it',
    keyValue: 'New API key (shown once)', prefix: 'Prefix', created: 'Created', lastUsed: 'Last used', never: 'never', revoke: 'Revoke', revokeLabel: 'Revoke {name}',
    confirmRevoke: 'Revoke the API key {name}? Integrations using it stop working at once.', revoked: 'API key {name} revoked.', noKeys: 'No API keys.',
    chooseUser: 'Choose a user',
    keyOwner: 'Key owner', scope: 'Scope', scopeRead: 'read only', scopeAgent: 'agent', scopeAdmin: 'admin', scopeDefault: 'as the owner\'s role',
    scopeHint: 'Read only: GET requests. Never more than the owner may.', expires: 'Expires', expiresHint: 'Optional; empty: never.', expiresNever: 'never', expired: 'expired',
  },
  de: {
    title: 'Benutzer und API-Schlüssel', users: 'Benutzer', loading: 'Lädt …', name: 'Name', email: 'E-Mail', role: 'Rolle', roleOf: 'Rolle von {name}',
    admin: 'Admin', agent: 'Agent', kind: 'Art', person: 'Person', service: 'Dienstbenutzer', status: 'Status', active: 'aktiv', disabled: 'deaktiviert',
    actions: 'Aktionen', disable: 'Deaktivieren', enable: 'Aktivieren', disableLabel: 'Deaktivieren: {name}', enableLabel: 'Aktivieren: {name}',
    confirmDisable: '{name} deaktivieren? Die Person wird abgemeldet und ihre API-Schlüssel funktionieren nicht mehr.', you: '(Sie)', updated: '{name} geändert.',
    newUser: 'Neuer Benutzer', password: 'Passwort', passwordHint: 'Mindestens 10 Zeichen und schwer zu erraten: mehrere unzusammenhängende Wörter oder ein erzeugtes Passwort.', serviceUser: 'Dienstbenutzer (für Integrationen: kein Passwort, keine Anmeldung)',
    serviceHint: 'Geben Sie ihm unten einen API-Schlüssel.', create: 'Benutzer anlegen', creating: 'Legt an …', createdUser: 'Benutzer {name} angelegt.',
    keys: 'API-Schlüssel', keysIntro: 'Integrationen rufen /api/v1 mit einem API-Schlüssel auf (Authorization: Bearer dhk_…); er handelt als sein Benutzer.', newKey: 'Neuer API-Schlüssel',
    keyName: 'Name des Schlüssels', keyNameHint: 'Wofür er ist, z. B. „ERP-Abgleich“.', createKey: 'API-Schlüssel anlegen',
    keyCreated: 'API-Schlüssel „{name}“ für {user} angelegt.', keyOnce: 'Kopieren Sie den Schlüssel jetzt: Er wird nur dieses eine Mal angezeigt; deskhook speichert nur seinen Hash.',
    copy: 'Kopieren', copied: 'In die Zwischenablage kopiert.', copyFailed: 'Kopieren fehlgeschlagen: Schlüssel markieren und von Hand kopieren.', dismiss: 'Erledigt, ich habe ihn kopiert',
    keyValue: 'Neuer API-Schlüssel (einmalig angezeigt)', prefix: 'Präfix', created: 'Angelegt', lastUsed: 'Zuletzt benutzt', never: 'nie', revoke: 'Widerrufen', revokeLabel: 'Widerrufen: {name}',
    confirmRevoke: 'API-Schlüssel {name} widerrufen? Integrationen, die ihn verwenden, funktionieren sofort nicht mehr.', revoked: 'API-Schlüssel {name} widerrufen.', noKeys: 'Keine API-Schlüssel.',
    chooseUser: 'Benutzer wählen',
    keyOwner: 'Inhaber des Schlüssels', scope: 'Umfang', scopeRead: 'nur lesen', scopeAgent: 'Agent', scopeAdmin: 'Admin', scopeDefault: 'wie die Rolle des Inhabers',
    scopeHint: 'Nur lesen: GET-Anfragen. Nie mehr, als der Inhaber darf.', expires: 'Läuft ab', expiresHint: 'Optional; leer: nie.', expiresNever: 'nie', expired: 'abgelaufen',
  },
};

type Role = 'admin' | 'agent';
interface User { id: number; email: string; name: string; role: Role; service: boolean; disabled: boolean; createdAt: string }
type Scope = 'read' | 'agent' | 'admin';
interface ApiKey { id: number; userId: number; name: string; prefix: string; scope: Scope; createdAt: string; expiresAt: string | null; lastUsedAt: string | null }
interface FieldProblem { field: string; message: string }

async function loadAll<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 20; i++) {
    const page: { items: T[]; nextCursor: string | null } = await api('GET', `${path}${query({ limit: 200, cursor })}`);
    items.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return items;
}

function problemsOf(err: unknown): FieldProblem[] {
  if (!(err instanceof ApiError)) return [];
  const errors = (err.body as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) ? (errors as FieldProblem[]) : [];
}

function FieldErrors({ problems, field }: { problems: FieldProblem[]; field: string }) {
  const mine = problems.filter((p) => p.field === field);
  if (!mine.length) return null;
  return <span className="error" style={{ padding: '2px 6px' }}>{mine.map((p) => `${p.field}: ${p.message}`).join('; ')}</span>;
}

/** Settings → Users and API keys. */
export function UsersPage() {
  const t = useT(TEXTS);
  const { lang } = useLang();
  const { me } = useSession();
  const users = useLoad(() => loadAll<User>('/users'));
  const keys = useLoad(() => loadAll<ApiKey>('/api-keys'));
  const [rowError, setRowError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);

  // New user
  const [nu, setNu] = useState({ name: '', email: '', role: 'agent' as Role, password: '', service: false });
  const [nuBusy, setNuBusy] = useState(false);
  const [nuError, setNuError] = useState<unknown>(null);

  // New API key
  const [nk, setNk] = useState({ userId: '', name: '', scope: '' as Scope | '', expires: '' });
  const [nkBusy, setNkBusy] = useState(false);
  const [nkError, setNkError] = useState<unknown>(null);
  const [shown, setShown] = useState<{ key: string; name: string; user: string } | null>(null);
  const [copyNote, setCopyNote] = useState<string | null>(null);

  const userName = (id: number) => users.data?.find((u) => u.id === id)?.name ?? `#${id}`;

  const patchUser = async (u: User, patch: Partial<Pick<User, 'role' | 'disabled'>>) => {
    setRowError(null);
    setNotice(null);
    try {
      await api('PATCH', `/users/${u.id}`, patch);
      setNotice(t('updated', { name: u.name }));
    } catch (err) {
      setRowError(err);
    }
    users.reload();
  };

  const createUser = async () => {
    setNuBusy(true);
    setNuError(null);
    setNotice(null);
    try {
      const body = { name: nu.name, email: nu.email.trim(), role: nu.role, ...(nu.service ? { service: true } : { password: nu.password }) };
      const created = await api<User>('POST', '/users', body);
      setNotice(t('createdUser', { name: created.name }));
      setNu({ name: '', email: '', role: 'agent', password: '', service: false });
      users.reload();
    } catch (err) {
      setNuError(err);
    } finally {
      setNuBusy(false);
    }
  };

  const createKey = async () => {
    setNkBusy(true);
    setNkError(null);
    setShown(null);
    setCopyNote(null);
    try {
      // The date input gives a day; the key works through the end of that day (local time).
      const expiresAt = nk.expires ? new Date(`${nk.expires}T23:59:59`).toISOString() : undefined;
      const body = { userId: Number(nk.userId), name: nk.name, ...(nk.scope ? { scope: nk.scope } : {}), ...(expiresAt ? { expiresAt } : {}) };
      const r = await api<{ key: string; apiKey: ApiKey }>('POST', '/api-keys', body);
      setShown({ key: r.key, name: r.apiKey.name, user: userName(r.apiKey.userId) });
      setNk({ userId: nk.userId, name: '', scope: nk.scope, expires: '' });
      keys.reload();
    } catch (err) {
      setNkError(err);
    } finally {
      setNkBusy(false);
    }
  };

  const revoke = async (k: ApiKey) => {
    if (!window.confirm(t('confirmRevoke', { name: k.name }))) return;
    setRowError(null);
    setNotice(null);
    try {
      await api('DELETE', `/api-keys/${k.id}`);
      setNotice(t('revoked', { name: k.name }));
    } catch (err) {
      setRowError(err);
    }
    keys.reload();
  };

  const copy = async (key: string) => {
    try {
      await navigator.clipboard.writeText(key);
      setCopyNote(t('copied'));
    } catch {
      setCopyNote(t('copyFailed'));
    }
  };

  const nuProblems = problemsOf(nuError);
  const nkProblems = problemsOf(nkError);
  const activeUsers = (users.data ?? []).filter((u) => !u.disabled);
  const scopeLabel = (scope: Scope) => t(scope === 'read' ? 'scopeRead' : scope === 'agent' ? 'scopeAgent' : 'scopeAdmin');
  const keyOwner = activeUsers.find((u) => String(u.id) === nk.userId);

  return (
    <section>
      <h1>{t('title')}</h1>
      {notice ? <p className="ok" role="status">{notice}</p> : null}
      <ErrorNote error={rowError} />

      <h2>{t('users')}</h2>
      <ErrorNote error={users.error} />
      {users.loading && !users.data ? <p>{t('loading')}</p> : null}
      {users.data ? (
        <table aria-label={t('users')}>
          <thead>
            <tr>
              <th scope="col">{t('name')}</th>
              <th scope="col">{t('email')}</th>
              <th scope="col">{t('role')}</th>
              <th scope="col">{t('kind')}</th>
              <th scope="col">{t('status')}</th>
              <th scope="col">{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {users.data.map((u) => (
              <tr key={u.id} className={u.disabled ? 'muted' : undefined}>
                <td>{u.name} {me?.id === u.id ? <span className="muted">{t('you')}</span> : null}</td>
                <td>{u.email}</td>
                <td>
                  <select aria-label={t('roleOf', { name: u.name })} value={u.role} onChange={(e) => void patchUser(u, { role: e.target.value as Role })}>
                    <option value="agent">{t('agent')}</option>
                    <option value="admin">{t('admin')}</option>
                  </select>
                </td>
                <td>{u.service ? t('service') : t('person')}</td>
                <td>{u.disabled ? <strong>{t('disabled')}</strong> : t('active')}</td>
                <td>
                  {u.disabled ? (
                    <button type="button" aria-label={t('enableLabel', { name: u.name })} onClick={() => void patchUser(u, { disabled: false })}>{t('enable')}</button>
                  ) : (
                    <button
                      type="button" className="danger" aria-label={t('disableLabel', { name: u.name })}
                      onClick={() => { if (window.confirm(t('confirmDisable', { name: u.name }))) void patchUser(u, { disabled: true }); }}
                    >{t('disable')}</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}

      <form
        className="card" noValidate aria-labelledby="new-user-title"
        onSubmit={(e) => {
          e.preventDefault();
          void createUser();
        }}
      >
        <h3 id="new-user-title" style={{ marginTop: 0 }}>{t('newUser')}</h3>
        <div className="row" style={{ alignItems: 'flex-start' }}>
          <div style={{ flex: 1 }}>
            <Field label={t('name')}><input value={nu.name} autoComplete="off" onChange={(e) => setNu({ ...nu, name: e.target.value })} /></Field>
            <FieldErrors problems={nuProblems} field="name" />
          </div>
          <div style={{ flex: 1 }}>
            <Field label={t('email')}><input type="email" autoComplete="off" value={nu.email} onChange={(e) => setNu({ ...nu, email: e.target.value })} /></Field>
            <FieldErrors problems={nuProblems} field="email" />
          </div>
          <div>
            <Field label={t('role')}>
              <select value={nu.role} onChange={(e) => setNu({ ...nu, role: e.target.value as Role })}>
                <option value="agent">{t('agent')}</option>
                <option value="admin">{t('admin')}</option>
              </select>
            </Field>
          </div>
        </div>
        <label className="row" style={{ gap: 6, margin: '6px 0' }}>
          <input type="checkbox" checked={nu.service} onChange={(e) => setNu({ ...nu, service: e.target.checked })} />
          {t('serviceUser')}
        </label>
        {nu.service ? <p className="hint">{t('serviceHint')}</p> : (
          <div style={{ maxWidth: 360 }}>
            <Field label={t('password')} hint={t('passwordHint')}>
              <input type="password" autoComplete="new-password" value={nu.password} onChange={(e) => setNu({ ...nu, password: e.target.value })} />
            </Field>
            <FieldErrors problems={nuProblems} field="password" />
          </div>
        )}
        <ErrorNote error={nuError} />
        <button type="submit" className="primary" disabled={nuBusy}>{nuBusy ? t('creating') : t('create')}</button>
      </form>

      <h2>{t('keys')}</h2>
      <p className="muted">{t('keysIntro')}</p>
      {shown ? (
        <div className="card warning" role="region" aria-label={t('keyValue')}>
          <p style={{ marginTop: 0 }}><strong>{t('keyCreated', { name: shown.name, user: shown.user })}</strong></p>
          <p>{t('keyOnce')}</p>
          <div className="row">
            <input readOnly aria-label={t('keyValue')} value={shown.key} onFocus={(e) => e.target.select()} style={{ width: 520, fontFamily: 'ui-monospace, monospace' }} />
            <button type="button" onClick={() => void copy(shown.key)}>{t('copy')}</button>
            <button type="button" onClick={() => { setShown(null); setCopyNote(null); }}>{t('dismiss')}</button>
          </div>
          {copyNote ? <p role="status">{copyNote}</p> : null}
        </div>
      ) : null}
      <form
        className="card" noValidate aria-labelledby="new-key-title"
        onSubmit={(e) => {
          e.preventDefault();
          void createKey();
        }}
      >
        <h3 id="new-key-title" style={{ marginTop: 0 }}>{t('newKey')}</h3>
        <div className="row" style={{ alignItems: 'flex-start' }}>
          <div>
            <Field label={t('keyOwner')}>
              <select value={nk.userId} onChange={(e) => setNk({ ...nk, userId: e.target.value })}>
                <option value="">{t('chooseUser')}</option>
                {activeUsers.map((u) => <option key={u.id} value={String(u.id)}>{u.name} ({u.email})</option>)}
              </select>
            </Field>
            <FieldErrors problems={nkProblems} field="userId" />
          </div>
          <div style={{ flex: 1 }}>
            <Field label={t('keyName')} hint={t('keyNameHint')}>
              <input value={nk.name} autoComplete="off" onChange={(e) => setNk({ ...nk, name: e.target.value })} />
            </Field>
            <FieldErrors problems={nkProblems} field="name" />
          </div>
          <div>
            <Field label={t('scope')} hint={t('scopeHint')}>
              <select value={nk.scope} onChange={(e) => setNk({ ...nk, scope: e.target.value as Scope | '' })}>
                <option value="">{t('scopeDefault')}</option>
                <option value="read">{t('scopeRead')}</option>
                <option value="agent">{t('scopeAgent')}</option>
                {keyOwner?.role === 'agent' ? null : <option value="admin">{t('scopeAdmin')}</option>}
              </select>
            </Field>
            <FieldErrors problems={nkProblems} field="scope" />
          </div>
          <div>
            <Field label={t('expires')} hint={t('expiresHint')}>
              <input type="date" value={nk.expires} onChange={(e) => setNk({ ...nk, expires: e.target.value })} />
            </Field>
            <FieldErrors problems={nkProblems} field="expiresAt" />
          </div>
        </div>
        <ErrorNote error={nkError} />
        <button type="submit" className="primary" disabled={nkBusy}>{t('createKey')}</button>
      </form>

      <ErrorNote error={keys.error} />
      {keys.loading && !keys.data ? <p>{t('loading')}</p> : null}
      {keys.data && keys.data.length === 0 ? <p className="muted">{t('noKeys')}</p> : null}
      {keys.data && keys.data.length > 0 ? (
        <table aria-label={t('keys')}>
          <thead>
            <tr>
              <th scope="col">{t('keyName')}</th>
              <th scope="col">{t('keyOwner')}</th>
              <th scope="col">{t('prefix')}</th>
              <th scope="col">{t('scope')}</th>
              <th scope="col">{t('created')}</th>
              <th scope="col">{t('expires')}</th>
              <th scope="col">{t('lastUsed')}</th>
              <th scope="col">{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>{userName(k.userId)}</td>
                <td><code>{k.prefix}…</code></td>
                <td>{scopeLabel(k.scope)}</td>
                <td>{formatDate(k.createdAt, lang)}</td>
                <td>
                  {k.expiresAt ? formatDate(k.expiresAt, lang) : <span className="muted">{t('expiresNever')}</span>}
                  {k.expiresAt && Date.parse(k.expiresAt) <= Date.now() ? <> <strong>{t('expired')}</strong></> : null}
                </td>
                <td>{k.lastUsedAt ? formatDate(k.lastUsedAt, lang) : <span className="muted">{t('never')}</span>}</td>
                <td><button type="button" className="danger" aria-label={t('revokeLabel', { name: k.name })} onClick={() => void revoke(k)}>{t('revoke')}</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
