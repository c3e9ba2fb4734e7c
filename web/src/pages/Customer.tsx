import { useEffect, useState } from 'react';
import { api, query } from '../api.ts';
import { customerName } from '../components/SearchBar.tsx';
import { ErrorNote } from '../components/ui.tsx';
import { useLang, useT, type Texts } from '../i18n.tsx';
import { Link } from '../router.tsx';
import { useSession } from '../session.tsx';
import { TicketTable, usePagedList, useUsers, type Ticket } from './Inbox.tsx';
import { AgentPreview, ErpLinks, type ErpRecord } from './TicketView.tsx';

const TEXTS: Texts<
  'back' | 'loading' | 'customer' | 'customerNumber' | 'business' | 'private' | 'contracts' | 'contract' | 'tickets' | 'noTickets'
  | 'loadMore' | 'details' | 'stale' | 'notLoaded' | 'yes' | 'no'
> = {
  en: {
    back: 'Inbox', loading: 'Loading …', customer: 'Customer', customerNumber: 'Customer number', business: 'Business customer', private: 'Private customer',
    contracts: 'Contracts', contract: 'Contract {id}', tickets: 'Tickets', noTickets: 'No tickets for this customer.', loadMore: 'Load more',
    details: 'Details', stale: 'From the cache; the ERP did not answer.', notLoaded: 'Contract {id} could not be loaded', yes: 'yes', no: 'no',
  },
  de: {
    back: 'Posteingang', loading: 'Lädt …', customer: 'Kunde', customerNumber: 'Kundennummer', business: 'Geschäftskunde', private: 'Privatkunde',
    contracts: 'Verträge', contract: 'Vertrag {id}', tickets: 'Tickets', noTickets: 'Keine Tickets zu diesem Kunden.', loadMore: 'Mehr laden',
    details: 'Details', stale: 'Aus dem Cache; das ERP hat nicht geantwortet.', notLoaded: 'Vertrag {id} konnte nicht geladen werden', yes: 'ja', no: 'nein',
  },
};

const FIELD_TEXTS: Texts<'customerId' | 'firstname' | 'lastname' | 'company' | 'email' | 'phone' | 'zip' | 'city' | 'street' | 'houseNumber' | 'deliveryAddress' | 'billingAddress' | 'meterNumber' | 'iban' | 'tariff' | 'status'> = {
  en: {
    customerId: 'Customer number', firstname: 'First name', lastname: 'Last name', company: 'Company', email: 'E-mail', phone: 'Phone', zip: 'Postal code',
    city: 'City', street: 'Street', houseNumber: 'House number', deliveryAddress: 'Delivery address', billingAddress: 'Billing address', meterNumber: 'Meter number',
    iban: 'IBAN', tariff: 'Tariff', status: 'Status',
  },
  de: {
    customerId: 'Kundennummer', firstname: 'Vorname', lastname: 'Nachname', company: 'Firma', email: 'E-Mail', phone: 'Telefon', zip: 'PLZ',
    city: 'Ort', street: 'Straße', houseNumber: 'Hausnummer', deliveryAddress: 'Lieferadresse', billingAddress: 'Rechnungsadresse', meterNumber: 'Zählernummer',
    iban: 'IBAN', tariff: 'Tarif', status: 'Status',
  },
};

/** Fields shown elsewhere on the page (or not meant for people), left out of the generic details. */
const HIDDEN = new Set(['id', 'agentPreview', 'erpUrls', 'contractIds', 'contracts', 'stale', 'business']);

/** Every other field of an ERP record, as label: value (nested values as JSON). */
function RecordDetails({ record }: { record: ErpRecord }) {
  const t = useT(TEXTS);
  const ft = useT(FIELD_TEXTS);
  const label = (key: string) => (key in FIELD_TEXTS.en ? ft(key as keyof (typeof FIELD_TEXTS)['en']) : key);
  const entries = Object.entries(record).filter(([k, v]) => !HIDDEN.has(k) && v !== null && v !== undefined && v !== '');
  if (!entries.length) return null;
  const show = (v: unknown) => (typeof v === 'boolean' ? t(v ? 'yes' : 'no') : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return (
    <dl style={{ display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '2px 12px', margin: '8px 0' }}>
      {entries.map(([k, v]) => (
        <div key={k} style={{ display: 'contents' }}>
          <dt className="muted">{label(k)}</dt>
          <dd style={{ margin: 0, overflowWrap: 'anywhere' }}>{show(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

type ContractResult = { id: string; contract: ErpRecord | null; error: unknown };

export function CustomerPage({ id }: { id: string }) {
  const t = useT(TEXTS);
  const { lang } = useLang();
  const { me } = useSession();
  const users = useUsers(me);
  const [customer, setCustomer] = useState<ErpRecord | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [contracts, setContracts] = useState<ContractResult[] | null>(null);

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const c = await api<ErpRecord>('GET', `/customers/${encodeURIComponent(id)}`);
        if (!live) return;
        setCustomer(c);
        const ids = Array.isArray(c.contractIds) ? (c.contractIds as unknown[]).map(String) : [];
        const loaded = await Promise.all(ids.map((cid) => api<ErpRecord>('GET', `/contracts/${encodeURIComponent(cid)}`).then(
          (contract): ContractResult => ({ id: cid, contract, error: null }),
          (err: unknown): ContractResult => ({ id: cid, contract: null, error: err }),
        )));
        if (live) setContracts(loaded);
      } catch (err) {
        if (live) setError(err);
      }
    })();
    return () => {
      live = false;
    };
  }, [id]);

  const tickets = usePagedList<Ticket>(`/tickets${query({ customerId: id, limit: 50 })}`);

  if (!customer) {
    return (
      <section>
        <p><Link to="/">← {t('back')}</Link></p>
        {error ? <ErrorNote error={error} /> : <p className="muted">{t('loading')}</p>}
      </section>
    );
  }
  return (
    <section>
      <p style={{ margin: '0 0 4px' }}><Link to="/">← {t('back')}</Link></p>
      <h1 style={{ margin: '4px 0' }}>{customerName(customer) || t('customer')}</h1>
      <p className="muted">
        {t('customerNumber')}: {customer.id} · {customer.business ? t('business') : t('private')}
      </p>
      {customer.stale ? <p className="warning">{t('stale')}</p> : null}
      <div className="card">
        <h2 style={{ marginTop: 0 }}>{t('details')}</h2>
        <RecordDetails record={customer} />
        <AgentPreview items={customer.agentPreview} />
        <ErpLinks items={customer.erpUrls} />
      </div>

      <h2>{t('contracts')}</h2>
      {!contracts ? <p className="muted">{t('loading')}</p> : null}
      <div style={{ display: 'grid', gridTemplateColumns: 'repeat(auto-fill, minmax(320px, 1fr))', gap: 12 }}>
        {contracts?.map((c) => (
          <article key={c.id} className="card" aria-label={t('contract', { id: c.id })} style={{ margin: 0 }}>
            <h3 style={{ marginTop: 0 }}>{t('contract', { id: c.id })}</h3>
            {c.contract ? (
              <>
                {c.contract.stale ? <p className="warning">{t('stale')}</p> : null}
                <AgentPreview items={c.contract.agentPreview} />
                <RecordDetails record={c.contract} />
                <ErpLinks items={c.contract.erpUrls} />
              </>
            ) : (
              <>
                <p className="muted">{t('notLoaded', { id: c.id })}</p>
                <ErrorNote error={c.error} />
              </>
            )}
          </article>
        ))}
      </div>

      <h2>{t('tickets')}</h2>
      <ErrorNote error={tickets.error} />
      {tickets.list ? (
        <>
          {tickets.list.items.length ? <TicketTable tickets={tickets.list.items} users={users} me={me} lang={lang} /> : <p className="muted">{t('noTickets')}</p>}
          {tickets.list.nextCursor ? (
            <p><button type="button" disabled={tickets.loadingMore} onClick={() => void tickets.loadMore()}>{t('loadMore')}</button></p>
          ) : null}
        </>
      ) : !tickets.error ? <p className="muted">{t('loading')}</p> : null}
    </section>
  );
}
