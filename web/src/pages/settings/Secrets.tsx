import { useRef, useState } from 'react';
import { api, ApiError } from '../../api.ts';
import { ErrorNote, Field, useLoad } from '../../components/ui.tsx';
import { formatDate, useLang, useT, type Texts } from '../../i18n.tsx';

const TEXTS: Texts<
  | 'title' | 'intro' | 'setTitle' | 'key' | 'keyHint' | 'value' | 'valueHint' | 'set' | 'setting' | 'saved' | 'list' | 'none' | 'loading'
  | 'created' | 'modified' | 'actions' | 'replace' | 'replaceShort' | 'delete' | 'deleteShort' | 'confirmDelete' | 'deleted' | 'badKey' | 'usage'
> = {
  en: {
    title: 'Secrets', intro: 'Values for custom code and webhook headers (tokens, passwords). They are stored encrypted and can never be read back, only replaced.',
    setTitle: 'Set a secret', key: 'Key', keyHint: 'Letters, digits, _ . - (at most 100). An existing key is overwritten.', value: 'Value',
    valueHint: 'Write-only: it is not shown again after saving.', set: 'Save secret', setting: 'Saving …', saved: 'Secret {key} saved. Its value cannot be shown again.',
    list: 'Stored secrets', none: 'No secrets yet.', loading: 'Loading …', created: 'Created', modified: 'Changed', actions: 'Actions', replace: 'Replace value of {key}', replaceShort: 'Replace value',
    delete: 'Delete {key}', deleteShort: 'Delete', confirmDelete: 'Delete the secret {key}? Hooks and code that use it will fail.', deleted: 'Secret {key} deleted.',
    badKey: 'key: use letters, digits, _ . - (at most 100 characters)', usage: 'Use in header values as {{secret.KEY}}, in code as ctx.secrets.get("KEY").',
  },
  de: {
    title: 'Secrets', intro: 'Werte für eigenen Code und Webhook-Header (Tokens, Passwörter). Sie werden verschlüsselt gespeichert und können nie wieder gelesen, nur ersetzt werden.',
    setTitle: 'Secret setzen', key: 'Schlüssel', keyHint: 'Buchstaben, Ziffern, _ . - (höchstens 100). Ein vorhandener Schlüssel wird überschrieben.', value: 'Wert',
    valueHint: 'Nur schreibbar: Er wird nach dem Speichern nicht mehr angezeigt.', set: 'Secret speichern', setting: 'Speichert …', saved: 'Secret {key} gespeichert. Sein Wert kann nicht mehr angezeigt werden.',
    list: 'Gespeicherte Secrets', none: 'Noch keine Secrets.', loading: 'Lädt …', created: 'Angelegt', modified: 'Geändert', actions: 'Aktionen', replace: 'Wert ersetzen: {key}', replaceShort: 'Wert ersetzen',
    delete: 'Löschen: {key}', deleteShort: 'Löschen', confirmDelete: 'Secret {key} löschen? Hooks und Code, die es verwenden, schlagen dann fehl.', deleted: 'Secret {key} gelöscht.',
    badKey: 'Schlüssel: Buchstaben, Ziffern, _ . - (höchstens 100 Zeichen)', usage: 'In Header-Werten als {{secret.KEY}}, im Code als ctx.secrets.get("KEY").',
  },
};

interface SecretMeta { key: string; createdAt: string; modifiedAt: string }

const KEY_PATTERN = /^[A-Za-z0-9_.-]{1,100}$/;

/** Settings → Secrets: keys only; values go in and never come out. */
export function SecretsPage() {
  const t = useT(TEXTS);
  const { lang } = useLang();
  const list = useLoad(() => api<{ items: SecretMeta[] }>('GET', '/secrets'));
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const valueRef = useRef<HTMLInputElement>(null);

  const save = async () => {
    setError(null);
    setNotice(null);
    const k = key.trim();
    if (!KEY_PATTERN.test(k)) {
      setError(new Error(t('badKey')));
      return;
    }
    setBusy(true);
    try {
      await api('PUT', `/secrets/${encodeURIComponent(k)}`, { value });
      setNotice(t('saved', { key: k }));
      setKey('');
      setValue('');
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const remove = async (k: string) => {
    if (!window.confirm(t('confirmDelete', { key: k }))) return;
    setError(null);
    setNotice(null);
    try {
      await api('DELETE', `/secrets/${encodeURIComponent(k)}`);
      setNotice(t('deleted', { key: k }));
      list.reload();
    } catch (err) {
      setError(err);
    }
  };

  const fieldErrors = error instanceof ApiError && Array.isArray((error.body as { errors?: unknown })?.errors)
    ? ((error.body as { errors: Array<{ field: string; message: string }> }).errors)
    : [];

  return (
    <section>
      <h1>{t('title')}</h1>
      <p className="muted">{t('intro')}</p>
      <p className="hint">{t('usage')}</p>
      <form
        className="card"
        noValidate
        aria-labelledby="secret-set-title"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <h2 id="secret-set-title" style={{ marginTop: 0 }}>{t('setTitle')}</h2>
        <div className="row" style={{ alignItems: 'flex-start' }}>
          <div style={{ width: 320 }}>
            <Field label={t('key')} hint={t('keyHint')}>
              <input value={key} autoComplete="off" spellCheck={false} placeholder="HOOK_TOKEN" onChange={(e) => setKey(e.target.value)} />
            </Field>
          </div>
          <div style={{ flex: 1 }}>
            <Field label={t('value')} hint={t('valueHint')}>
              <input ref={valueRef} type="password" autoComplete="new-password" value={value} onChange={(e) => setValue(e.target.value)} />
            </Field>
          </div>
        </div>
        {fieldErrors.length ? (
          <ul className="error" style={{ listStyle: 'none' }}>
            {fieldErrors.map((fe, i) => <li key={i}>{fe.field}: {fe.message}</li>)}
          </ul>
        ) : null}
        <ErrorNote error={error} />
        {notice ? <p className="ok" role="status">{notice}</p> : null}
        <button type="submit" className="primary" disabled={busy}>{busy ? t('setting') : t('set')}</button>
      </form>

      <h2>{t('list')}</h2>
      <ErrorNote error={list.error} />
      {list.loading && !list.data ? <p>{t('loading')}</p> : null}
      {list.data && list.data.items.length === 0 ? <p className="muted">{t('none')}</p> : null}
      {list.data && list.data.items.length > 0 ? (
        <table aria-label={t('list')}>
          <thead>
            <tr>
              <th scope="col">{t('key')}</th>
              <th scope="col">{t('created')}</th>
              <th scope="col">{t('modified')}</th>
              <th scope="col">{t('actions')}</th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((s) => (
              <tr key={s.key}>
                <td><code>{s.key}</code></td>
                <td>{formatDate(s.createdAt, lang)}</td>
                <td>{formatDate(s.modifiedAt, lang)}</td>
                <td>
                  <div className="row">
                    <button type="button" aria-label={t('replace', { key: s.key })} onClick={() => { setKey(s.key); setValue(''); setNotice(null); valueRef.current?.focus(); }}>
                      {t('replaceShort')}
                    </button>
                    <button type="button" className="danger" aria-label={t('delete', { key: s.key })} onClick={() => void remove(s.key)}>{t('deleteShort')}</button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
