import { useState } from 'react';
import { api, setToken } from '../api.ts';
import { ErrorNote, Field } from '../components/ui.tsx';
import { useT, type Texts } from '../i18n.tsx';

const TEXTS: Texts<'title' | 'email' | 'password' | 'submit'> = {
  en: { title: 'Log in to deskhook', email: 'E-mail', password: 'Password', submit: 'Log in' },
  de: { title: 'Bei deskhook anmelden', email: 'E-Mail', password: 'Passwort', submit: 'Anmelden' },
};

export function Login() {
  const t = useT(TEXTS);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="login">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const r = await api<{ token: string }>('POST', '/auth/login', { email, password });
            setToken(r.token);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>{t('title')}</h1>
        <Field label={t('email')}><input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} /></Field>
        <Field label={t('password')}><input type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} /></Field>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>{t('submit')}</button>
      </form>
    </main>
  );
}
