import { useEffect, useState } from 'react';
import { api } from '../../api.ts';
import { draftOf, draftProblem, executorOf, ExecutorEditor, type Executor, type ExecutorDraft } from '../../components/CodeEditor.tsx';
import { ErrorNote, Field, useLoad } from '../../components/ui.tsx';
import { useLang, useT, type Texts } from '../../i18n.tsx';

/** Settings → Integration of surrounding systems → ERP Integration (docs/product.md, ERP integration). */

const OPERATIONS = ['contractById', 'customerById', 'searchContracts', 'searchCustomers'] as const;
type Operation = (typeof OPERATIONS)[number];
const TTL_KEYS = ['contractById', 'customerById', 'searchContracts', 'searchCustomers', 'notFound'] as const;
type TtlKey = (typeof TTL_KEYS)[number];

interface ErpSettingsData {
  mode: 'local' | 'live';
  executors: Partial<Record<Operation, Executor>>;
  cacheTtlSeconds: Record<TtlKey, number>;
  timeoutMs: number;
}

interface ErpStats {
  hits: number;
  misses: number;
  staleServed: number;
  erpCalls: number;
  erpFailures: number;
  erpLatencyMs: { p50: number | null; p99: number | null };
  shared: boolean;
  local: { contracts: number; customers: number };
}

interface TestResult { tested: 'saved' | 'given'; ok: boolean; output: unknown; error: string | null; durationMs: number; logs: unknown }

const DEFAULT_INPUTS: Record<Operation, unknown> = {
  contractById: { contractId: 'V-1001' },
  customerById: { customerId: 'K-1001' },
  searchContracts: { ticketId: null, email: 'erika.mustermann@example.com' },
  searchCustomers: { q: 'Mustermann', limit: 10, offset: 0 },
};

const template = (op: Operation, inputType: string, path: string, body: string) => `import type { CustomCode } from 'deskhook';

const ${op}: CustomCode<${inputType}> = async (input, ctx) => {
  const token = await ctx.secrets.get('ERP_TOKEN');
  const res = await ctx.fetch(\`https://erp.example.com${path}\`, {
    ${body}headers: { authorization: \`Bearer \${token}\` },
  });
  ${op === 'contractById' || op === 'customerById' ? 'if (res.status === 404) return null;\n  ' : ''}if (!res.ok) throw new Error(\`ERP answered \${res.status}\`);
  return await res.json();
};
export default ${op};
`;

const CODE_TEMPLATES: Record<Operation, string> = {
  contractById: template('contractById', '{ contractId: string }', '/contracts/${encodeURIComponent(input.contractId)}', ''),
  customerById: template('customerById', '{ customerId: string }', '/customers/${encodeURIComponent(input.customerId)}', ''),
  searchContracts: template('searchContracts', 'Record<string, string | number | null>', '/contracts/search', "method: 'POST',\n    body: JSON.stringify(input),\n    "),
  searchCustomers: template('searchCustomers', '{ q: string; limit: number; offset: number }', '/customers/search', "method: 'POST',\n    body: JSON.stringify(input),\n    "),
};

const CRITERIA = ['emailMatches', 'idMentioned', 'nameMentioned', 'addressMatches', 'phoneMatches', 'meterMatches'] as const;
type Criterion = (typeof CRITERIA)[number];

interface RecognitionSettings {
  enabled: boolean;
  contractPatterns: string[];
  customerPatterns: string[];
  ownDomains: string[];
  rules: Array<{ name: string; criteria: Criterion[]; min: number }>;
  useModel: boolean;
}

type Key =
  | 'title' | 'intro' | 'loading' | 'mode' | 'modeLocal' | 'modeLive' | 'localHint' | 'operations'
  | 'op_contractById' | 'op_customerById' | 'op_searchContracts' | 'op_searchCustomers' | 'executorOf'
  | 'test' | 'testInput' | 'testHint' | 'run' | 'running' | 'invalidJson' | 'succeeded' | 'failed' | 'output' | 'logs' | 'noLogs' | 'resetInput'
  | 'cacheAndLimits' | 'ttl' | 'ttl_contractById' | 'ttl_customerById' | 'ttl_searchContracts' | 'ttl_searchCustomers' | 'ttl_notFound'
  | 'timeoutMs' | 'timeoutHint' | 'save' | 'saving' | 'saved' | 'notANumber' | 'unsaved' | 'testedForm' | 'testedSaved'
  | 'stats' | 'refresh' | 'clearCache' | 'cleared' | 'hits' | 'misses' | 'staleServed' | 'erpCalls' | 'erpFailures' | 'p50' | 'p99'
  | 'shared' | 'sharedYes' | 'sharedNo' | 'localContracts' | 'localCustomers' | 'clearConfirm'
  | 'recognition' | 'recSaved' | 'saveRecognition' | 'recognitionIntro' | 'recEnabled' | 'useModel' | 'contractPatterns' | 'customerPatterns' | 'ownDomains' | 'onePerLine'
  | 'patternsHint' | 'rules' | 'ruleName' | 'ruleMin' | 'ruleCriteria' | 'addRule' | 'removeRule' | 'rule'
  | 'c_emailMatches' | 'c_idMentioned' | 'c_nameMentioned' | 'c_addressMatches' | 'c_phoneMatches' | 'c_meterMatches';

const TEXTS: Texts<Key> = {
  en: {
    title: 'ERP Integration',
    intro: 'Where contracts and customers come from: records imported into deskhook, or your ERP, asked through four operations.',
    loading: 'Loading …', mode: 'Mode', modeLocal: 'Local: the records imported into deskhook answer',
    modeLive: 'Live: the executors below ask the ERP', localHint: 'In local mode the executors are kept but not used; the test runs work in both modes.',
    operations: 'Operations',
    op_contractById: 'A contract by its id: input {contractId}, output a contract or null.',
    op_customerById: 'A customer by their id: input {customerId}, output a customer or null.',
    op_searchContracts: 'The characteristics found in a message (always with ticketId): output at most one match {contractId, customerId} or null.',
    op_searchCustomers: 'What the agent typed in the search bar {q, limit, offset}: output customer ids [{id}].',
    executorOf: 'Executor of {op}',
    test: 'Test', testInput: 'Test input (JSON)', testHint: 'Runs the executor as shown above, saved or not, without the cache.',
    run: 'Run', running: 'Running …', invalidJson: 'The test input is not a JSON object: {message}',
    succeeded: 'Succeeded in {ms} ms', failed: 'Failed after {ms} ms', output: 'Output', logs: 'Logs', noLogs: 'No log lines.', resetInput: 'Reset input',
    cacheAndLimits: 'Cache and time limit', ttl: 'Cache time to live (seconds)', ttl_contractById: 'contractById', ttl_customerById: 'customerById',
    ttl_searchContracts: 'searchContracts', ttl_searchCustomers: 'searchCustomers', ttl_notFound: 'Not found',
    timeoutMs: 'Time limit of one ERP call (ms)', timeoutHint: '100 to 60000', save: 'Save', saving: 'Saving …', saved: 'Saved. The cache was cleared.',
    notANumber: '{field} must be a whole number.', unsaved: 'Unsaved changes', testedForm: 'Tested: the form as shown (not saved yet).', testedSaved: 'Tested: the saved settings.',
    stats: 'Cache statistics of this process', refresh: 'Refresh', clearCache: 'Clear cache', cleared: '{n} cached entries deleted.',
    hits: 'Cache hits', misses: 'Cache misses', staleServed: 'Stale answers served', erpCalls: 'ERP calls', erpFailures: 'ERP failures',
    p50: 'ERP latency p50', p99: 'ERP latency p99', shared: 'Shared cache (Redis)', sharedYes: 'yes', sharedNo: 'no, this process only',
    localContracts: 'Local contracts', localCustomers: 'Local customers', clearConfirm: 'Forget every cached ERP answer?',
    recognition: 'Customer recognition', recSaved: 'Saved.', saveRecognition: 'Save recognition settings',
    recognitionIntro: 'How new inbound tickets are matched to a contract and customer.',
    recEnabled: 'Recognise customers on new tickets', useModel: 'Also ask the language model (DESKHOOK_LLM_URL)',
    contractPatterns: 'Contract number patterns', customerPatterns: 'Customer number patterns', ownDomains: 'Own mail domains', onePerLine: 'One per line.',
    patternsHint: 'Regular expressions, one per line; the first capture group is the number. Empty: the built-in label patterns.',
    rules: 'Legitimation rules (any one satisfied: level 20)', ruleName: 'Name of rule {n}', ruleMin: 'At least (rule {n})', ruleCriteria: 'Criteria of rule {n}',
    addRule: 'Add rule', removeRule: 'Remove rule {n}', rule: 'Rule {n}',
    c_emailMatches: 'E-mail matches', c_idMentioned: 'Id mentioned', c_nameMentioned: 'Name mentioned', c_addressMatches: 'Address matches',
    c_phoneMatches: 'Phone matches', c_meterMatches: 'Meter number matches',
  },
  de: {
    title: 'ERP-Integration',
    intro: 'Woher Verträge und Kunden kommen: in deskhook importierte Datensätze oder Ihr ERP, gefragt über vier Operationen.',
    loading: 'Wird geladen …', mode: 'Modus', modeLocal: 'Lokal: die in deskhook importierten Datensätze antworten',
    modeLive: 'Live: die Ausführungen unten fragen das ERP', localHint: 'Im lokalen Modus bleiben die Ausführungen gespeichert, werden aber nicht genutzt; Testläufe gehen in beiden Modi.',
    operations: 'Operationen',
    op_contractById: 'Ein Vertrag nach seiner Nummer: Eingabe {contractId}, Ausgabe ein Vertrag oder null.',
    op_customerById: 'Ein Kunde nach seiner Nummer: Eingabe {customerId}, Ausgabe ein Kunde oder null.',
    op_searchContracts: 'Die in einer Nachricht gefundenen Merkmale (immer mit ticketId): Ausgabe höchstens ein Treffer {contractId, customerId} oder null.',
    op_searchCustomers: 'Was der Agent in die Suche eingegeben hat {q, limit, offset}: Ausgabe Kundennummern [{id}].',
    executorOf: 'Ausführung von {op}',
    test: 'Test', testInput: 'Testeingabe (JSON)', testHint: 'Führt die Ausführung so aus, wie sie oben steht, gespeichert oder nicht, ohne Cache.',
    run: 'Ausführen', running: 'Läuft …', invalidJson: 'Die Testeingabe ist kein JSON-Objekt: {message}',
    succeeded: 'Erfolgreich in {ms} ms', failed: 'Fehlgeschlagen nach {ms} ms', output: 'Ausgabe', logs: 'Logs', noLogs: 'Keine Logzeilen.', resetInput: 'Eingabe zurücksetzen',
    cacheAndLimits: 'Cache und Zeitlimit', ttl: 'Gültigkeit im Cache (Sekunden)', ttl_contractById: 'contractById', ttl_customerById: 'customerById',
    ttl_searchContracts: 'searchContracts', ttl_searchCustomers: 'searchCustomers', ttl_notFound: 'Nicht gefunden',
    timeoutMs: 'Zeitlimit eines ERP-Aufrufs (ms)', timeoutHint: '100 bis 60000', save: 'Speichern', saving: 'Wird gespeichert …', saved: 'Gespeichert. Der Cache wurde geleert.',
    notANumber: '{field} muss eine ganze Zahl sein.', unsaved: 'Ungespeicherte Änderungen', testedForm: 'Getestet: das Formular, wie gezeigt (noch nicht gespeichert).', testedSaved: 'Getestet: die gespeicherten Einstellungen.',
    stats: 'Cache-Statistik dieses Prozesses', refresh: 'Aktualisieren', clearCache: 'Cache leeren', cleared: '{n} Cache-Einträge gelöscht.',
    hits: 'Cache-Treffer', misses: 'Cache-Fehlschläge', staleServed: 'Veraltete Antworten geliefert', erpCalls: 'ERP-Aufrufe', erpFailures: 'ERP-Fehler',
    p50: 'ERP-Latenz p50', p99: 'ERP-Latenz p99', shared: 'Gemeinsamer Cache (Redis)', sharedYes: 'ja', sharedNo: 'nein, nur dieser Prozess',
    localContracts: 'Lokale Verträge', localCustomers: 'Lokale Kunden', clearConfirm: 'Alle zwischengespeicherten ERP-Antworten vergessen?',
    recognition: 'Kundenerkennung', recSaved: 'Gespeichert.', saveRecognition: 'Erkennungseinstellungen speichern',
    recognitionIntro: 'Wie neue eingehende Tickets einem Vertrag und Kunden zugeordnet werden.',
    recEnabled: 'Kunden bei neuen Tickets erkennen', useModel: 'Auch das Sprachmodell fragen (DESKHOOK_LLM_URL)',
    contractPatterns: 'Muster für Vertragsnummern', customerPatterns: 'Muster für Kundennummern', ownDomains: 'Eigene Mail-Domains', onePerLine: 'Eine pro Zeile.',
    patternsHint: 'Reguläre Ausdrücke, einer pro Zeile; die erste Gruppe ist die Nummer. Leer: die eingebauten Muster.',
    rules: 'Legitimationsregeln (eine erfüllt: Stufe 20)', ruleName: 'Name von Regel {n}', ruleMin: 'Mindestens (Regel {n})', ruleCriteria: 'Kriterien von Regel {n}',
    addRule: 'Regel hinzufügen', removeRule: 'Regel {n} entfernen', rule: 'Regel {n}',
    c_emailMatches: 'E-Mail stimmt überein', c_idMentioned: 'Nummer genannt', c_nameMentioned: 'Name genannt', c_addressMatches: 'Adresse stimmt überein',
    c_phoneMatches: 'Telefon stimmt überein', c_meterMatches: 'Zählernummer stimmt überein',
  },
};

type T = ReturnType<typeof useT<Key>>;

interface Form {
  mode: 'local' | 'live';
  drafts: Record<Operation, ExecutorDraft>;
  ttls: Record<TtlKey, string>;
  timeoutMs: string;
}

const formOf = (s: ErpSettingsData): Form => ({
  mode: s.mode,
  drafts: Object.fromEntries(OPERATIONS.map((op) => [op, draftOf(s.executors[op], CODE_TEMPLATES[op])])) as Record<Operation, ExecutorDraft>,
  ttls: Object.fromEntries(TTL_KEYS.map((k) => [k, String(s.cacheTtlSeconds[k])])) as Record<TtlKey, string>,
  timeoutMs: String(s.timeoutMs),
});

export function ErpSettings() {
  const t = useT(TEXTS);
  const { lang } = useLang();
  const [form, setForm] = useState<Form | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string>('');
  const [dirty, setDirty] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<ErpSettingsData>('GET', '/erp').then((s) => setForm(formOf(s)), setLoadError);
  }, []);

  const update = (patch: Partial<Form>) => {
    setForm((f) => (f ? { ...f, ...patch } : f));
    setDirty(true);
    setSaved('');
  };

  const save = async () => {
    if (!form) return;
    setSaveError(null);
    setSaved('');
    const num = (value: string, field: string) => {
      if (!/^\s*\d+\s*$/.test(value)) throw new Error(t('notANumber', { field }));
      return Number(value);
    };
    let body: ErpSettingsData;
    try {
      for (const op of OPERATIONS) {
        const problem = draftProblem(form.drafts[op], lang);
        if (problem) throw new Error(`${op}: ${problem}`);
      }
      body = {
        mode: form.mode,
        executors: Object.fromEntries(OPERATIONS.flatMap((op) => {
          const ex = executorOf(form.drafts[op]);
          return ex ? [[op, ex]] : [];
        })),
        cacheTtlSeconds: Object.fromEntries(TTL_KEYS.map((k) => [k, num(form.ttls[k], `${t('ttl')}: ${t(`ttl_${k}`)}`)])) as Record<TtlKey, number>,
        timeoutMs: num(form.timeoutMs, t('timeoutMs')),
      };
    } catch (err) {
      setSaveError(err);
      return;
    }
    setBusy(true);
    try {
      const s = await api<ErpSettingsData>('PUT', '/erp', body);
      setForm(formOf(s));
      setDirty(false);
      setSaved(t('saved'));
    } catch (err) {
      setSaveError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>{t('title')}</h1>
      <p className="muted">{t('intro')}</p>
      <ErrorNote error={loadError} />
      {!form && !loadError ? <p role="status">{t('loading')}</p> : null}
      {form ? (
        <form onSubmit={(e) => { e.preventDefault(); void save(); }}>
          <fieldset className="card">
            <legend>{t('mode')}</legend>
            <label className="row"><input type="radio" name="erp-mode" value="local" checked={form.mode === 'local'} onChange={() => update({ mode: 'local' })} /> {t('modeLocal')}</label>
            <label className="row"><input type="radio" name="erp-mode" value="live" checked={form.mode === 'live'} onChange={() => update({ mode: 'live' })} /> {t('modeLive')}</label>
            {form.mode === 'local' ? <p className="hint">{t('localHint')}</p> : null}
          </fieldset>

          <h2>{t('operations')}</h2>
          {OPERATIONS.map((op) => (
            <section key={op} className="card" aria-labelledby={`erp-op-${op}`}>
              <h3 id={`erp-op-${op}`} style={{ margin: '0 0 2px', fontFamily: 'ui-monospace, monospace' }}>{op}</h3>
              <p className="hint" style={{ marginTop: 0 }}>{t(`op_${op}`)}</p>
              <ExecutorEditor
                allowNone
                label={t('executorOf', { op })}
                value={form.drafts[op]}
                onChange={(d) => update({ drafts: { ...form.drafts, [op]: d } })}
              />
              <TestPanel op={op} draft={form.drafts[op]} unsaved={dirty} t={t} />
            </section>
          ))}

          <section className="card" aria-labelledby="erp-cache-limits">
            <h2 id="erp-cache-limits" style={{ marginTop: 0 }}>{t('cacheAndLimits')}</h2>
            <fieldset style={{ border: 'none', padding: 0 }}>
              <legend className="field-label">{t('ttl')}</legend>
              <div className="row">
                {TTL_KEYS.map((k) => (
                  <Field key={k} label={t(`ttl_${k}`)}>
                    <input type="number" min={0} max={604800} step={1} style={{ width: 130 }} aria-label={`${t('ttl')}: ${t(`ttl_${k}`)}`}
                      value={form.ttls[k]} onChange={(e) => update({ ttls: { ...form.ttls, [k]: e.target.value } })} />
                  </Field>
                ))}
              </div>
            </fieldset>
            <Field label={t('timeoutMs')} hint={t('timeoutHint')}>
              <input type="number" min={100} max={60000} step={1} style={{ width: 130 }} value={form.timeoutMs} onChange={(e) => update({ timeoutMs: e.target.value })} />
            </Field>
          </section>

          <ErrorNote error={saveError} />
          <div className="row" style={{ margin: '8px 0 16px' }}>
            <button type="submit" className="primary" disabled={busy}>{busy ? t('saving') : t('save')}</button>
            {dirty ? <span className="muted">{t('unsaved')}</span> : null}
            <span role="status" className={saved ? 'ok' : undefined}>{saved}</span>
          </div>
        </form>
      ) : null}
      <StatsPanel t={t} />
      <RecognitionSection t={t} />
    </section>
  );
}

function TestPanel({ op, draft, unsaved, t }: { op: Operation; draft: ExecutorDraft; unsaved: boolean; t: T }) {
  const { lang } = useLang();
  const [input, setInput] = useState(() => JSON.stringify(DEFAULT_INPUTS[op], null, 2));
  const [result, setResult] = useState<(TestResult & { unsaved: boolean }) | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setError(null);
    setResult(null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('{…}');
    } catch (err) {
      setError(new Error(t('invalidJson', { message: (err as Error).message })));
      return;
    }
    const problem = draftProblem(draft, lang);
    if (problem) {
      setError(new Error(problem));
      return;
    }
    const executor = executorOf(draft);
    setBusy(true);
    try {
      setResult({ ...(await api<TestResult>('POST', `/erp/${op}/test`, { input: parsed, ...(executor ? { executor } : {}) })), unsaved });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const logs = Array.isArray(result?.logs) ? (result.logs as Array<{ level?: string; message?: string; at?: string }>) : [];
  return (
    <section aria-label={`${t('test')}: ${op}`} style={{ marginTop: 8, borderTop: '1px dashed #e3e6eb', paddingTop: 6 }}>
      <h4 style={{ margin: '4px 0' }}>{t('test')}</h4>
      <Field label={t('testInput')} hint={t('testHint')}>
        <textarea value={input} spellCheck={false} style={{ fontFamily: 'ui-monospace, monospace', minHeight: 70 }} rows={4} onChange={(e) => setInput(e.target.value)} />
      </Field>
      <div className="row">
        <button type="button" onClick={() => void run()} disabled={busy}>{busy ? t('running') : t('run')}</button>
        <button type="button" onClick={() => setInput(JSON.stringify(DEFAULT_INPUTS[op], null, 2))}>{t('resetInput')}</button>
      </div>
      <ErrorNote error={error} />
      <div aria-live="polite">
        {result ? (
          <div className={result.ok ? 'panel-green' : 'panel-yellow'} style={{ paddingLeft: 8, marginTop: 6 }}>
            <p className={result.ok ? 'ok' : 'error'} data-testid="test-status">
              {result.ok ? t('succeeded', { ms: Math.round(result.durationMs) }) : t('failed', { ms: Math.round(result.durationMs) })}
              {result.error ? <>: <code>{result.error}</code></> : null}
            </p>
            <p className="hint" data-testid="tested-which">{result.tested === 'given' && result.unsaved ? t('testedForm') : t('testedSaved')}</p>
            <h5 style={{ margin: '4px 0' }}>{t('output')}</h5>
            <pre aria-label={`${t('output')}: ${op}`}>{JSON.stringify(result.output, null, 2)}</pre>
            <h5 style={{ margin: '4px 0' }}>{t('logs')}</h5>
            {logs.length ? (
              <pre aria-label={`${t('logs')}: ${op}`}>{logs.map((l) => `${l.at ?? ''} [${l.level ?? 'log'}] ${l.message ?? JSON.stringify(l)}`).join('\n')}</pre>
            ) : result.logs && !Array.isArray(result.logs) ? (
              <pre aria-label={`${t('logs')}: ${op}`}>{JSON.stringify(result.logs, null, 2)}</pre>
            ) : <p className="muted">{t('noLogs')}</p>}
          </div>
        ) : null}
      </div>
    </section>
  );
}

function StatsPanel({ t }: { t: T }) {
  const stats = useLoad(() => api<ErpStats>('GET', '/erp/stats'));
  const [cleared, setCleared] = useState('');
  const [error, setError] = useState<unknown>(null);
  const s = stats.data;
  const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${Math.round(v * 10) / 10} ms`);
  const rows: Array<[string, string | number]> = s
    ? [
      [t('hits'), s.hits], [t('misses'), s.misses], [t('staleServed'), s.staleServed], [t('erpCalls'), s.erpCalls], [t('erpFailures'), s.erpFailures],
      [t('p50'), ms(s.erpLatencyMs?.p50)], [t('p99'), ms(s.erpLatencyMs?.p99)], [t('shared'), s.shared ? t('sharedYes') : t('sharedNo')],
      [t('localContracts'), s.local?.contracts ?? '–'], [t('localCustomers'), s.local?.customers ?? '–'],
    ]
    : [];
  return (
    <section className="card" aria-labelledby="erp-stats">
      <h2 id="erp-stats" style={{ marginTop: 0 }}>{t('stats')}</h2>
      <ErrorNote error={stats.error ?? error} />
      {s ? (
        <table style={{ maxWidth: 520 }}>
          <tbody>
            {rows.map(([label, value]) => <tr key={label}><th scope="row">{label}</th><td>{value}</td></tr>)}
          </tbody>
        </table>
      ) : null}
      <div className="row" style={{ marginTop: 8 }}>
        <button type="button" onClick={() => { setCleared(''); stats.reload(); }} disabled={stats.loading}>{t('refresh')}</button>
        <button type="button" className="danger" onClick={async () => {
          if (!window.confirm(t('clearConfirm'))) return;
          setError(null);
          try {
            const r = await api<{ deleted: number }>('DELETE', '/erp/cache');
            setCleared(t('cleared', { n: r.deleted }));
            stats.reload();
          } catch (err) {
            setError(err);
          }
        }}>{t('clearCache')}</button>
        <span role="status">{cleared}</span>
      </div>
    </section>
  );
}

const lines = (s: string) => s.split('\n').map((x) => x.trim()).filter(Boolean);

function RecognitionSection({ t }: { t: T }) {
  const [s, setS] = useState<RecognitionSettings | null>(null);
  const [text, setText] = useState({ contractPatterns: '', customerPatterns: '', ownDomains: '' });
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);
  const apply = (r: RecognitionSettings) => {
    setS(r);
    setText({ contractPatterns: r.contractPatterns.join('\n'), customerPatterns: r.customerPatterns.join('\n'), ownDomains: r.ownDomains.join('\n') });
  };
  useEffect(() => {
    api<RecognitionSettings>('GET', '/recognition/settings').then(apply, setError);
  }, []);
  const change = (patch: Partial<RecognitionSettings>) => { setS((x) => (x ? { ...x, ...patch } : x)); setSaved(''); };
  const setRule = (i: number, patch: Partial<RecognitionSettings['rules'][number]>) => change({ rules: s!.rules.map((r, j) => (j === i ? { ...r, ...patch } : r)) });
  return (
    <section className="card" aria-labelledby="erp-recognition">
      <h2 id="erp-recognition" style={{ marginTop: 0 }}>{t('recognition')}</h2>
      <p className="muted">{t('recognitionIntro')}</p>
      {s ? (
        <form onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          setSaved('');
          setBusy(true);
          try {
            apply(await api<RecognitionSettings>('PUT', '/recognition/settings', {
              enabled: s.enabled, useModel: s.useModel, rules: s.rules,
              contractPatterns: lines(text.contractPatterns), customerPatterns: lines(text.customerPatterns), ownDomains: lines(text.ownDomains),
            }));
            setSaved(t('recSaved'));
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}>
          <label className="row"><input type="checkbox" checked={s.enabled} onChange={(e) => change({ enabled: e.target.checked })} /> {t('recEnabled')}</label>
          <label className="row"><input type="checkbox" checked={s.useModel} onChange={(e) => change({ useModel: e.target.checked })} /> {t('useModel')}</label>
          <div className="row" style={{ alignItems: 'flex-start' }}>
            {(['contractPatterns', 'customerPatterns', 'ownDomains'] as const).map((k) => (
              <div key={k} style={{ flex: 1, minWidth: 220 }}>
                <Field label={t(k)} hint={k === 'ownDomains' ? t('onePerLine') : t('patternsHint')}>
                  <textarea spellCheck={false} rows={3} style={{ fontFamily: 'ui-monospace, monospace', minHeight: 60 }} value={text[k]}
                    onChange={(e) => { setText({ ...text, [k]: e.target.value }); setSaved(''); }} />
                </Field>
              </div>
            ))}
          </div>
          <fieldset style={{ border: 'none', padding: 0 }}>
            <legend className="field-label">{t('rules')}</legend>
            {s.rules.map((r, i) => (
              <div key={i} className="row" style={{ borderBottom: '1px solid #eef1f5', padding: '4px 0' }}>
                <input aria-label={t('ruleName', { n: i + 1 })} value={r.name} style={{ width: 220 }} onChange={(e) => setRule(i, { name: e.target.value })} />
                <span className="row" role="group" aria-label={t('ruleCriteria', { n: i + 1 })}>
                  {CRITERIA.map((c) => (
                    <label key={c} style={{ fontSize: 12 }}>
                      <input type="checkbox" checked={r.criteria.includes(c)}
                        onChange={(e) => setRule(i, { criteria: e.target.checked ? [...r.criteria, c] : r.criteria.filter((x) => x !== c) })} /> {t(`c_${c}`)}
                    </label>
                  ))}
                </span>
                <label style={{ fontSize: 12 }}>≥ <input type="number" min={1} max={CRITERIA.length} style={{ width: 50 }} aria-label={t('ruleMin', { n: i + 1 })} value={r.min}
                  onChange={(e) => setRule(i, { min: Number(e.target.value) })} /></label>
                <button type="button" aria-label={t('removeRule', { n: i + 1 })} disabled={s.rules.length <= 1} onClick={() => change({ rules: s.rules.filter((_, j) => j !== i) })}>×</button>
              </div>
            ))}
            <button type="button" style={{ marginTop: 4 }} onClick={() => change({ rules: [...s.rules, { name: t('rule', { n: s.rules.length + 1 }), criteria: ['emailMatches', 'nameMentioned'], min: 2 }] })}>{t('addRule')}</button>
          </fieldset>
          <ErrorNote error={error} />
          <div className="row" style={{ marginTop: 8 }}>
            <button type="submit" className="primary" disabled={busy}>{busy ? t('saving') : t('saveRecognition')}</button>
            <span role="status" className={saved ? 'ok' : undefined}>{saved}</span>
          </div>
        </form>
      ) : <ErrorNote error={error} />}
    </section>
  );
}
