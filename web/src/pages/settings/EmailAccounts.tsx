import { api, query } from '../../api.ts';
import { ErrorNote, useLoad } from '../../components/ui.tsx';
import { useT, type Texts } from '../../i18n.tsx';
import { Link } from '../../router.tsx';

const TEXTS: Texts<
  | 'title' | 'intro' | 'new' | 'loading' | 'none' | 'name' | 'address' | 'inbound' | 'outbound' | 'webhooks'
  | 'on' | 'off' | 'smtpIn' | 'imapIn' | 'noOutbound' | 'hooks' | 'noHooks' | 'newEmails' | 'ticketUpdates'
> = {
  en: {
    title: 'Email accounts', intro: 'Each account receives mail for one address and has its own synchronous webhooks.',
    new: 'New account', loading: 'Loading …', none: 'No email accounts yet.', name: 'Name', address: 'Address', inbound: 'Inbound',
    outbound: 'Outbound', webhooks: 'Webhooks', on: 'On', off: 'Off', smtpIn: 'SMTP (delivered to deskhook)', imapIn: 'IMAP {host}',
    noOutbound: 'none', hooks: 'configured: {list}', noHooks: 'no hook configured', newEmails: 'new emails', ticketUpdates: 'ticket updates',
  },
  de: {
    title: 'E-Mail-Konten', intro: 'Jedes Konto empfängt E-Mails für eine Adresse und hat eigene synchrone Webhooks.',
    new: 'Neues Konto', loading: 'Lädt …', none: 'Noch keine E-Mail-Konten.', name: 'Name', address: 'Adresse', inbound: 'Eingang',
    outbound: 'Ausgang', webhooks: 'Webhooks', on: 'An', off: 'Aus', smtpIn: 'SMTP (Zustellung an deskhook)', imapIn: 'IMAP {host}',
    noOutbound: 'keiner', hooks: 'eingerichtet: {list}', noHooks: 'kein Hook eingerichtet', newEmails: 'neue E-Mails', ticketUpdates: 'Ticket-Änderungen',
  },
};

interface AccountSummary {
  id: number;
  name: string;
  address: string;
  inbound: { type: 'smtp' } | { type: 'imap'; host: string; port: number };
  outbound: { host: string; port: number } | null;
  webhooks: { enabled: boolean; ticketUpdates: unknown; newEmails: unknown };
}

/** Every page of a list (accounts are few; the API pages by 200 at most). */
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

/** Settings → Communication channels → Email accounts: the list, each linking to its settings. */
export function EmailAccounts() {
  const t = useT(TEXTS);
  const { data, error, loading } = useLoad(() => loadAll<AccountSummary>('/email-accounts'));
  return (
    <section>
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <h1>{t('title')}</h1>
        <Link to="/settings/email-accounts/new">{t('new')}</Link>
      </div>
      <p className="muted">{t('intro')}</p>
      <ErrorNote error={error} />
      {loading && !data ? <p>{t('loading')}</p> : null}
      {data && data.length === 0 ? <p>{t('none')}</p> : null}
      {data && data.length > 0 ? (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('name')}</th>
              <th scope="col">{t('address')}</th>
              <th scope="col">{t('inbound')}</th>
              <th scope="col">{t('outbound')}</th>
              <th scope="col">{t('webhooks')}</th>
            </tr>
          </thead>
          <tbody>
            {data.map((a) => {
              const hooks = [a.webhooks.newEmails ? t('newEmails') : null, a.webhooks.ticketUpdates ? t('ticketUpdates') : null].filter(Boolean);
              return (
                <tr key={a.id}>
                  <td><Link to={`/settings/email-accounts/${a.id}`}>{a.name}</Link></td>
                  <td>{a.address}</td>
                  <td>{a.inbound.type === 'imap' ? t('imapIn', { host: `${a.inbound.host}:${a.inbound.port}` }) : t('smtpIn')}</td>
                  <td>{a.outbound ? `${a.outbound.host}:${a.outbound.port}` : <span className="muted">{t('noOutbound')}</span>}</td>
                  <td>
                    <strong className={a.webhooks.enabled ? 'on' : 'off'}>{a.webhooks.enabled ? t('on') : t('off')}</strong>
                    <span className="muted"> · {hooks.length ? t('hooks', { list: hooks.join(', ') }) : t('noHooks')}</span>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
