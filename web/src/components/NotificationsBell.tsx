import { useEffect, useState } from 'react';
import { api } from '../api.ts';
import { formatDate, useLang, useT, type Texts } from '../i18n.tsx';
import { navigate } from '../router.tsx';

const TEXTS: Texts<'label' | 'none' | 'readAll'> = {
  en: { label: 'Notifications ({n} unread)', none: 'No notifications', readAll: 'Mark all read' },
  de: { label: 'Benachrichtigungen ({n} ungelesen)', none: 'Keine Benachrichtigungen', readAll: 'Alle als gelesen markieren' },
};

interface Notification { id: number; kind: string; message: string; link: string | null; readAt: string | null; createdAt: string }

const POLL_MS = 5000;

/** The bell: the unread count, polled every few seconds, and the latest notifications. */
export function NotificationsBell() {
  const t = useT(TEXTS);
  const { lang } = useLang();
  const [data, setData] = useState<{ items: Notification[]; unread: number }>({ items: [], unread: 0 });
  const [open, setOpen] = useState(false);
  const load = () => api<{ items: Notification[]; unread: number }>('GET', '/notifications?limit=20').then(setData, () => undefined);
  useEffect(() => {
    void load();
    const id = window.setInterval(() => void load(), POLL_MS);
    return () => window.clearInterval(id);
  }, []);
  return (
    <div className="bell">
      <button type="button" aria-label={t('label', { n: data.unread })} aria-expanded={open} onClick={() => setOpen(!open)}>
        <svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z" /></svg>{' '}
        {data.unread > 0 ? <span className="badge" data-testid="unread-count">{data.unread}</span> : null}
      </button>
      {open ? (
        <div className="popover" role="dialog" aria-label={t('label', { n: data.unread })}>
          <button type="button" onClick={async () => { await api('POST', '/notifications/read', { all: true }).catch(() => undefined); void load(); }}>{t('readAll')}</button>
          <ul>
            {data.items.length === 0 ? <li>{t('none')}</li> : null}
            {data.items.map((n) => (
              <li key={n.id} className={n.readAt ? 'read' : 'unread'}>
                <button type="button" className="link" onClick={() => { setOpen(false); if (n.link) navigate(n.link); }}>{n.message}</button>
                <span className="muted"> {formatDate(n.createdAt, lang)}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}
