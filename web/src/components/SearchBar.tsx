import { useEffect, useRef, useState } from 'react';
import { api, query } from '../api.ts';
import { useT, type Texts } from '../i18n.tsx';
import { navigate } from '../router.tsx';

const TEXTS: Texts<'label' | 'placeholder' | 'none' | 'contracts' | 'searching'> = {
  en: { label: 'Search customers', placeholder: 'Customer, contract, e-mail …', none: 'No customer found', contracts: 'Contracts', searching: 'Searching …' },
  de: { label: 'Kunden suchen', placeholder: 'Kunde, Vertrag, E-Mail …', none: 'Kein Kunde gefunden', contracts: 'Verträge', searching: 'Suche …' },
};

interface Customer { id: string; firstname?: string; lastname: string | null; company: string | null; email?: string; contracts: Array<{ id: string }> }

export const customerName = (c: { firstname?: unknown; lastname?: unknown; company?: unknown }) =>
  (c.company as string) || [c.firstname, c.lastname].filter(Boolean).join(' ');

/** The agent's search bar at the top right: customers with their contracts, from the ERP (or the local records). */
export function SearchBar() {
  const t = useT(TEXTS);
  const [q, setQ] = useState('');
  const [results, setResults] = useState<Customer[] | null>(null);
  const [busy, setBusy] = useState(false);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => {
    window.clearTimeout(timer.current);
    if (q.trim().length < 2) {
      setResults(null);
      return;
    }
    timer.current = window.setTimeout(() => {
      setBusy(true);
      api<{ items: Customer[] }>('GET', `/customers/search${query({ q: q.trim() })}`)
        .then((r) => setResults(r.items), () => setResults([]))
        .finally(() => setBusy(false));
    }, 250);
  }, [q]);
  return (
    <div className="searchbar" role="search">
      <input type="search" aria-label={t('label')} placeholder={t('placeholder')} value={q} onChange={(e) => setQ(e.target.value)} />
      {results !== null || busy ? (
        <ul className="search-results" aria-label={t('label')}>
          {busy && !results ? <li>{t('searching')}</li> : null}
          {results?.length === 0 ? <li>{t('none')}</li> : null}
          {results?.map((c) => (
            <li key={c.id}>
              <button type="button" className="link" onClick={() => { setQ(''); setResults(null); navigate(`/customers/${encodeURIComponent(c.id)}`); }}>
                <strong>{customerName(c)}</strong> <span className="muted">{c.id}</span>
                <span className="muted"> · {t('contracts')}: {c.contracts.map((x) => x.id).join(', ')}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
