import { useState } from 'react';
import { api } from '../api.ts';
import { useT, type Texts } from '../i18n.tsx';

const TEXTS: Texts<'offer' | 'value' | 'create' | 'creating' | 'created' | 'failed'> = {
  en: { offer: 'Create the secret {key} now:', value: 'Value of {key}', create: 'Create secret', creating: 'Creating …', created: 'Secret {key} created. Save again.', failed: 'Not created: {message}' },
  de: { offer: 'Secret {key} jetzt anlegen:', value: 'Wert von {key}', create: 'Secret anlegen', creating: 'Legt an …', created: 'Secret {key} angelegt. Bitte erneut speichern.', failed: 'Nicht angelegt: {message}' },
};

/**
 * Offered where a save was refused because a hook names a secret that is not set: the value goes
 * straight to `PUT /secrets/{key}` (write-only, like on the Secrets page) without leaving the
 * form and losing its edits.
 */
export function CreateSecretInline({ secretKey }: { secretKey: string }) {
  const t = useT(TEXTS);
  const [value, setValue] = useState('');
  const [state, setState] = useState<'idle' | 'busy' | 'done' | { failed: string }>('idle');
  if (state === 'done') return <span className="ok" role="status">{t('created', { key: secretKey })}</span>;
  const create = async () => {
    setState('busy');
    try {
      await api('PUT', `/secrets/${encodeURIComponent(secretKey)}`, { value });
      setState('done');
    } catch (err) {
      setState({ failed: err instanceof Error ? err.message : String(err) });
    }
  };
  return (
    <span className="create-secret" style={{ display: 'inline-flex', gap: 6, alignItems: 'center', marginLeft: 8 }}>
      {t('offer', { key: secretKey })}
      <input type="password" autoComplete="new-password" aria-label={t('value', { key: secretKey })} value={value} onChange={(e) => setValue(e.target.value)} />
      <button type="button" disabled={state === 'busy' || value === ''} onClick={() => void create()}>{state === 'busy' ? t('creating') : t('create')}</button>
      {typeof state === 'object' && <span className="error">{t('failed', { message: state.failed })}</span>}
    </span>
  );
}
