import { useEffect, useState } from 'react';
import { api } from '../api.ts';
import { formatDate, useLang, useT, type Texts } from '../i18n.tsx';

interface Health {
  hook: string;
  state: 'healthy' | 'quarantined' | 'probing';
  quarantine: { since: string; until: string; reason: string } | null;
  calls: number;
  failureRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}

const TEXTS: Texts<'healthy' | 'quarantined' | 'probing' | 'figures' | 'noCalls' | 'release' | 'released'> = {
  en: {
    healthy: 'Healthy', quarantined: 'Quarantined until {until}: {reason}', probing: 'Quarantine over: the next call decides ({reason})',
    figures: 'last {calls} calls: p50 {p50} ms, p95 {p95} ms, {failed} % failed', noCalls: 'no calls yet', release: 'Release now', released: 'Released.',
  },
  de: {
    healthy: 'Gesund', quarantined: 'In Quarantäne bis {until}: {reason}', probing: 'Quarantäne vorbei: der nächste Aufruf entscheidet ({reason})',
    figures: 'letzte {calls} Aufrufe: p50 {p50} ms, p95 {p95} ms, {failed} % fehlgeschlagen', noCalls: 'noch keine Aufrufe', release: 'Jetzt freigeben', released: 'Freigegeben.',
  },
};

/** Beside a hook: its state (healthy, quarantined, probing) and figures over its recent calls; admins may release a quarantine. */
export function HookHealthLine({ accountId, hook, refresh }: { accountId: number; hook: string; refresh: number }) {
  const t = useT(TEXTS);
  const { lang } = useLang();
  const [health, setHealth] = useState<Health | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    api<{ items: Health[] }>('GET', `/email-accounts/${accountId}/webhooks/health`)
      .then((r) => { if (live) setHealth(r.items.find((h) => h.hook === hook) ?? null); })
      .catch(() => undefined);
    return () => { live = false; };
  }, [accountId, hook, refresh, tick]);
  if (!health) return null;
  const figures = health.calls === 0 ? t('noCalls') : t('figures', {
    calls: health.calls, p50: Math.round(health.p50Ms ?? 0), p95: Math.round(health.p95Ms ?? 0), failed: Math.round((health.failureRate ?? 0) * 100),
  });
  const release = async () => {
    await api('POST', `/email-accounts/${accountId}/webhooks/${hook}/release`);
    setTick((n) => n + 1);
  };
  return (
    <p className={health.state === 'healthy' ? 'hint' : 'warning'} data-testid={`health-${hook}`} style={{ padding: '2px 6px' }}>
      {health.state === 'healthy' ? t('healthy') : health.state === 'quarantined'
        ? t('quarantined', { until: formatDate(health.quarantine!.until, lang), reason: health.quarantine!.reason })
        : t('probing', { reason: health.quarantine!.reason })}
      {' · '}{figures}
      {health.state !== 'healthy' ? <> <button type="button" onClick={() => void release()}>{t('release')}</button></> : null}
    </p>
  );
}

const SHADOW_TEXTS: Texts<'summary'> = {
  en: { summary: 'Shadow runs: {total} ({agree} agree, {differ} differ, {failed} failed)' },
  de: { summary: 'Schattenläufe: {total} ({agree} gleich, {differ} anders, {failed} fehlgeschlagen)' },
};

/** Beside a hook with a shadow executor: how its recent answers compared with the live ones. */
export function ShadowSummaryLine({ accountId, hook, refresh }: { accountId: number; hook: string; refresh: number }) {
  const t = useT(SHADOW_TEXTS);
  const [summary, setSummary] = useState<{ total: number; agree: number; differ: number; failed: number; liveFailed: number } | null>(null);
  useEffect(() => {
    let live = true;
    api<typeof summary>('GET', `/email-accounts/${accountId}/webhooks/${hook}/shadow`).then((s) => { if (live) setSummary(s); }).catch(() => undefined);
    return () => { live = false; };
  }, [accountId, hook, refresh]);
  if (!summary || summary.total === 0) return null;
  return <p className="hint" data-testid={`shadow-${hook}`}>{t('summary', { ...summary, failed: summary.failed + summary.liveFailed })}</p>;
}
