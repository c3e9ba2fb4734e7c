import { setToken } from './api.ts';
import { NotificationsBell } from './components/NotificationsBell.tsx';
import { SearchBar } from './components/SearchBar.tsx';
import { useLang, useT, type Texts } from './i18n.tsx';
import { CustomerPage } from './pages/Customer.tsx';
import { Inbox } from './pages/Inbox.tsx';
import { Login } from './pages/Login.tsx';
import { TicketView } from './pages/TicketView.tsx';
import { EmailAccountEdit } from './pages/settings/EmailAccountEdit.tsx';
import { EmailAccounts } from './pages/settings/EmailAccounts.tsx';
import { ErpSettings } from './pages/settings/Erp.tsx';
import { EventsPage } from './pages/settings/Events.tsx';
import { SecretsPage } from './pages/settings/Secrets.tsx';
import { UsersPage } from './pages/settings/Users.tsx';
import { Link, match, useLocation } from './router.tsx';
import { useSession } from './session.tsx';

const TEXTS: Texts<'nav' | 'inbox' | 'settings' | 'channels' | 'emailAccounts' | 'integration' | 'erp' | 'events' | 'secrets' | 'users' | 'logout' | 'language' | 'notFound'> = {
  en: {
    nav: 'Main navigation', inbox: 'Inbox', settings: 'Settings', channels: 'Communication channels', emailAccounts: 'Email accounts',
    integration: 'Integration of surrounding systems', erp: 'ERP Integration', events: 'Events', secrets: 'Secrets', users: 'Users and API keys',
    logout: 'Log out', language: 'Interface language', notFound: 'Page not found',
  },
  de: {
    nav: 'Hauptnavigation', inbox: 'Posteingang', settings: 'Einstellungen', channels: 'Kommunikationskanäle', emailAccounts: 'E-Mail-Konten',
    integration: 'Integration von Umsystemen', erp: 'ERP-Integration', events: 'Events', secrets: 'Secrets', users: 'Benutzer und API-Schlüssel',
    logout: 'Abmelden', language: 'Sprache der Oberfläche', notFound: 'Seite nicht gefunden',
  },
};

function Page() {
  const { path } = useLocation();
  const t = useT(TEXTS);
  let m: Record<string, string> | null;
  if (path === '/' || path === '/tickets') return <Inbox />;
  if ((m = match('/tickets/:id', path))) return <TicketView key={m.id} id={Number(m.id)} />;
  if ((m = match('/customers/:id', path))) return <CustomerPage key={m.id} id={m.id!} />;
  if (path === '/settings/email-accounts') return <EmailAccounts />;
  if (path === '/settings/email-accounts/new') return <EmailAccountEdit id={null} />;
  if ((m = match('/settings/email-accounts/:id', path))) return <EmailAccountEdit key={m.id} id={Number(m.id)} />;
  if (path === '/settings/erp') return <ErpSettings />;
  if (path.startsWith('/settings/event-hooks') || path === '/settings/events') return <EventsPage />;
  if (path === '/settings/secrets') return <SecretsPage />;
  if (path === '/settings/users') return <UsersPage />;
  return <section><h1>{t('notFound')}</h1></section>;
}

export function App() {
  const { me } = useSession();
  const { lang, setLang } = useLang();
  const t = useT(TEXTS);
  const { path } = useLocation();
  if (!me) return <Login />;
  const active = (prefix: string) => (path === prefix || (prefix !== '/' && path.startsWith(prefix)) ? 'active' : undefined);
  return (
    <div className="layout">
      <header className="topbar">
        <Link to="/" className="brand">deskhook</Link>
        <SearchBar />
        <NotificationsBell />
        <label className="lang">
          <span className="sr-only">{t('language')}</span>
          <select aria-label={t('language')} value={lang} onChange={(e) => setLang(e.target.value as 'en' | 'de')}>
            <option value="en">English</option>
            <option value="de">Deutsch</option>
          </select>
        </label>
        <span className="muted">{me.name}</span>
        <button type="button" onClick={() => setToken(null)}>{t('logout')}</button>
      </header>
      <nav aria-label={t('nav')} className="sidebar">
        <ul>
          <li><Link to="/" className={active('/tickets') ?? (path === '/' ? 'active' : undefined)}>{t('inbox')}</Link></li>
        </ul>
        {me.role === 'admin' ? (
          <>
            <h2>{t('settings')}</h2>
            <h3>{t('channels')}</h3>
            <ul><li><Link to="/settings/email-accounts" className={active('/settings/email-accounts')}>{t('emailAccounts')}</Link></li></ul>
            <h3>{t('integration')}</h3>
            <ul>
              <li><Link to="/settings/erp" className={active('/settings/erp')}>{t('erp')}</Link></li>
              <li><Link to="/settings/events" className={active('/settings/events')}>{t('events')}</Link></li>
              <li><Link to="/settings/secrets" className={active('/settings/secrets')}>{t('secrets')}</Link></li>
            </ul>
            <ul><li><Link to="/settings/users" className={active('/settings/users')}>{t('users')}</Link></li></ul>
          </>
        ) : null}
      </nav>
      <main className="content"><Page /></main>
    </div>
  );
}
