import type { Completion, CompletionContext, CompletionResult } from '@codemirror/autocomplete';
import type { Compartment } from '@codemirror/state';
import type { EditorView as EditorViewType } from '@codemirror/view';
import { useEffect, useRef, useState } from 'react';
import ctxTypes from '../../../src/adapters/sandbox/ctx.d.ts?raw';
import { useT, type Texts } from '../i18n.tsx';
import { Field } from './ui.tsx';

/**
 * A CodeMirror 6 editor for custom code (TypeScript or JavaScript) with completion of `ctx`
 * taken from the shipped types (src/adapters/sandbox/ctx.d.ts). CodeMirror is loaded on first
 * use, so pages without an editor do not carry it.
 */

// ---------------------------------------------------------------------------------------------
// The types of `ctx`, parsed from the .d.ts with a few regular expressions (it is a small file).

export interface TypeMember {
  name: string;
  kind: 'method' | 'property';
  /** The property's type, or the method's return type. */
  type: string;
  /** `(url: string, init?: FetchInit) => Promise<FetchResponse>` or `Secrets`. */
  signature: string;
  /** Method parameters, as written. */
  params: string[];
  optional: boolean;
  doc: string;
}

export type TypeMap = Map<string, TypeMember[]>;

const cleanDoc = (lines: string[]) =>
  lines
    .join('\n')
    .replace(/\{@link\s+([^}\s]+)\s*\}/g, '$1')
    .replace(/[ \t]*\n[ \t]*(?!\n)/g, ' ')
    .trim();

/** Top-level commas only: `a: string, cb: (x: string, y: string) => void` is two parameters. */
function splitParams(params: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of params) {
    if ('([{<'.includes(ch)) depth++;
    else if (')]}>'.includes(ch) && depth > 0) depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function parseMember(line: string): Omit<TypeMember, 'doc'> | null {
  const method = /^([A-Za-z_$][\w$]*)(<[^(]*>)?\((.*)\):\s*(.+);$/.exec(line);
  if (method) {
    const [, name, generics = '', params = '', ret = ''] = method;
    return { name: name!, kind: 'method', type: ret, signature: `${generics}(${params}) => ${ret}`, params: splitParams(params), optional: false };
  }
  const prop = /^(?:readonly\s+)?([A-Za-z_$][\w$]*)(\?)?:\s*(.+);$/.exec(line);
  if (prop) return { name: prop[1]!, kind: 'property', type: prop[3]!, signature: prop[3]!, params: [], optional: !!prop[2] };
  return null;
}

export function parseDts(text: string): TypeMap {
  const map: TypeMap = new Map();
  for (const m of text.matchAll(/^export interface ([A-Za-z_$][\w$]*)(?:<[^>{]*>)?(?:\s+extends\s+[^{]+)?\s*\{\n([\s\S]*?)^\}/gm)) {
    const members: TypeMember[] = [];
    let doc: string[] = [];
    let inDoc = false;
    for (const raw of m[2]!.split('\n')) {
      const line = raw.trim();
      if (!line) continue;
      if (!inDoc && line.startsWith('/**')) {
        inDoc = !line.endsWith('*/');
        doc = [line.replace(/^\/\*\*\s?/, '').replace(/\s*\*\/$/, '')];
        continue;
      }
      if (inDoc) {
        if (line.endsWith('*/')) inDoc = false;
        const text = line.replace(/\s*\*\/$/, '').replace(/^\*\s?/, '');
        doc.push(text === '' ? '\n' : text);
        continue;
      }
      const member = parseMember(line);
      if (member) members.push({ ...member, doc: cleanDoc(doc) });
      doc = [];
    }
    map.set(m[1]!, members);
  }
  return map;
}

export const CTX_TYPES: TypeMap = parseDts(ctxTypes);

/** The interface a type refers to: `Promise<ApiResponse<T>>` → `ApiResponse`, `… | FetchHeaders` → `FetchHeaders`. */
function interfaceIn(type: string, types: TypeMap): string | null {
  for (const m of type.matchAll(/[A-Za-z_$][\w$]*/g)) if (types.has(m[0])) return m[0];
  return null;
}

function member(types: TypeMap, iface: string | null, name: string): TypeMember | undefined {
  return iface ? types.get(iface)?.find((m) => m.name === name) : undefined;
}

const IDENT = '[A-Za-z_$][\\w$]*';
const CHAIN = `${IDENT}(?:\\s*\\??\\.\\s*${IDENT})*`;

/** Which names stand for which interface: `ctx`, `x: FetchResponse`, `const res = await ctx.fetch(…)`. */
function bindings(doc: string, types: TypeMap): Map<string, string> {
  const b = new Map<string, string>([['ctx', 'Ctx']]);
  for (const m of doc.matchAll(new RegExp(`(${IDENT})\\??\\s*:\\s*(${IDENT})\\b`, 'g'))) {
    if (types.has(m[2]!)) b.set(m[1]!, m[2]!);
  }
  const assign = new RegExp(`\\b(?:const|let|var)\\s+(${IDENT})\\s*=\\s*(?:await\\s+)?(${CHAIN})\\s*(\\()?`, 'g');
  // Twice, so that `const h = res.headers` after `const res = await ctx.fetch()` resolves too.
  for (let round = 0; round < 2; round++) {
    for (const m of doc.matchAll(assign)) {
      const names = m[2]!.split(/\s*\??\.\s*/);
      const t = resolve(names, types, b, !!m[3]);
      if (t) b.set(m[1]!, t);
    }
  }
  return b;
}

/** The interface of `a.b.c` (its last step called when `called`), or null. */
function resolve(names: string[], types: TypeMap, b: Map<string, string>, called = false): string | null {
  let iface: string | null = b.get(names[0]!) ?? null;
  for (let i = 1; i < names.length && iface; i++) {
    const m = member(types, iface, names[i]!);
    if (!m) return null;
    const last = i === names.length - 1;
    if (m.kind === 'method' && !(last && called)) return null;
    iface = interfaceIn(m.type, types);
  }
  return iface;
}

function optionsOf(types: TypeMap, iface: string, skip: Set<string> = new Set()): Completion[] {
  return (types.get(iface) ?? [])
    .filter((m) => !skip.has(m.name))
    .map((m) => ({
      label: m.name,
      type: m.kind,
      detail: m.kind === 'method' ? m.signature : `${m.optional ? '?' : ''}: ${m.signature}`,
      ...(m.doc ? { info: m.doc } : outline(types, m.type)),
    }));
}

/** For a member without a doc comment whose type is an interface: that interface's members. */
function outline(types: TypeMap, type: string): { info?: string } {
  const members = types.get(type);
  return members?.length ? { info: `${type}: ${members.map((x) => (x.kind === 'method' ? `${x.name}${x.signature.replace(/^<[^(]*>/, '')}` : `${x.name}: ${x.type}`)).join('; ')}` } : {};
}

/** Completion of `ctx.`, `ctx.secrets.`, `res.headers.`, and of the keys of `ctx.fetch(url, {…})`. */
export function ctxCompletionSource(types: TypeMap = CTX_TYPES) {
  return (context: CompletionContext): CompletionResult | null => {
    const { state, pos } = context;
    const before = state.sliceDoc(Math.max(0, pos - 2000), pos);
    const word = /[\w$]*$/.exec(before)![0];
    const from = pos - word.length;
    const head = before.slice(0, before.length - word.length);

    // A member: `chain.` right before the word.
    const access = new RegExp(`(${CHAIN})\\s*\\??\\.\\s*$`).exec(head);
    if (access) {
      const prev = head[access.index - 1];
      if (prev && /[\w$.)\]]/.test(prev)) return null;
      const names = access[1]!.split(/\s*\??\.\s*/);
      const iface = resolve(names, types, bindings(state.sliceDoc(0, Math.min(state.doc.length, 50_000)), types));
      if (!iface) return null;
      return { from, options: optionsOf(types, iface), validFor: /^[\w$]*$/ };
    }

    // A key of an object literal passed to a method whose parameter is an interface (`ctx.fetch(url, { me`).
    const call = new RegExp(`(${CHAIN})\\s*\\(((?:[^()]|\\([^()]*\\))*?)\\{([^{}]*)$`).exec(head.slice(-1000));
    if (call && /[{,]\s*$/.test(`{${call[3]!}`)) {
      const names = call[1]!.split(/\s*\??\.\s*/);
      const methodName = names.pop()!;
      const owner = resolve(names, types, bindings(state.sliceDoc(0, Math.min(state.doc.length, 50_000)), types));
      const m = member(types, owner, methodName);
      if (!m || m.kind !== 'method') return null;
      const args = call[2]!.trim();
      const index = splitParams(args).length - (args === '' || args.endsWith(',') ? 0 : 1);
      const param = m.params[Math.max(0, index)];
      const iface = param ? interfaceIn(param.replace(/^[^:]*:/, ''), types) : null;
      if (!iface) return null;
      const present = new Set([...call[3]!.matchAll(/([\w$]+)\s*:/g)].map((x) => x[1]!));
      return { from, options: optionsOf(types, iface, present), validFor: /^[\w$]*$/ };
    }
    return null;
  };
}

// ---------------------------------------------------------------------------------------------
// The editor.

type CodeMirror = {
  basic: typeof import('codemirror');
  view: typeof import('@codemirror/view');
  state: typeof import('@codemirror/state');
  js: typeof import('@codemirror/lang-javascript');
  ac: typeof import('@codemirror/autocomplete');
};

let loading: Promise<CodeMirror> | null = null;
function loadCodeMirror(): Promise<CodeMirror> {
  loading ??= Promise.all([
    import('codemirror'), import('@codemirror/view'), import('@codemirror/state'), import('@codemirror/lang-javascript'), import('@codemirror/autocomplete'),
  ]).then(([basic, view, state, js, ac]) => ({ basic, view, state, js, ac }));
  return loading;
}

const EDITOR_TEXTS: Texts<'loading'> = {
  en: { loading: 'Loading the editor …' },
  de: { loading: 'Editor wird geladen …' },
};

export interface CodeEditorProps {
  value: string;
  onChange: (value: string) => void;
  language: 'typescript' | 'javascript';
  /** Names the editable area for assistive technology. */
  ariaLabel: string;
  minHeight?: number;
}

export function CodeEditor({ value, onChange, language, ariaLabel, minHeight = 180 }: CodeEditorProps) {
  const t = useT(EDITOR_TEXTS);
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorViewType | null>(null);
  const cm = useRef<{ mod: CodeMirror; lang: Compartment; label: Compartment } | null>(null);
  const latest = useRef({ value, onChange, language, ariaLabel });
  latest.current = { value, onChange, language, ariaLabel };
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let live = true;
    loadCodeMirror().then((mod) => {
      if (!live || !host.current) return;
      const { EditorView } = mod.view;
      const lang = new mod.state.Compartment();
      const label = new mod.state.Compartment();
      const { value: doc, language: l, ariaLabel: a } = latest.current;
      view.current = new EditorView({
        parent: host.current,
        state: mod.state.EditorState.create({
          doc,
          extensions: [
            mod.basic.basicSetup,
            lang.of(mod.js.javascript({ typescript: l === 'typescript' })),
            mod.js.javascriptLanguage.data.of({ autocomplete: ctxCompletionSource() }),
            label.of(EditorView.contentAttributes.of({ 'aria-label': a })),
            EditorView.theme({ '&': { minHeight: `${minHeight}px` }, '.cm-scroller': { minHeight: `${minHeight}px`, fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' } }),
            EditorView.updateListener.of((u) => {
              if (u.docChanged) {
                const text = u.state.doc.toString();
                latest.current.value = text;
                latest.current.onChange(text);
              }
            }),
          ],
        }),
      });
      cm.current = { mod, lang, label };
      setReady(true);
    }, () => undefined);
    return () => {
      live = false;
      view.current?.destroy();
      view.current = null;
      cm.current = null;
    };
    // The editor is created once; later changes of the props are dispatched below.
  }, []);

  // A value set from outside (a loaded setting, a reset) replaces the document.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value, ready]);

  useEffect(() => {
    const c = cm.current;
    if (!c || !view.current) return;
    view.current.dispatch({
      effects: [
        c.lang.reconfigure(c.mod.js.javascript({ typescript: language === 'typescript' })),
        c.label.reconfigure(c.mod.view.EditorView.contentAttributes.of({ 'aria-label': ariaLabel })),
      ],
    });
  }, [language, ariaLabel, ready]);

  return (
    <div className="code-editor" ref={host} style={{ minHeight }}>
      {ready ? null : <p className="muted" role="status">{t('loading')}</p>}
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// An executor: an API call (URL, method, headers) or custom code, as the ERP operations, event
// hooks and webhooks take it.

export const HTTP_METHODS = ['POST', 'PUT', 'PATCH', 'GET', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type Executor =
  | { type: 'apiCall'; url: string; method?: HttpMethod; headers?: Record<string, string> }
  | { type: 'sourceCode'; language: 'typescript' | 'javascript'; code: string };

/** What the form edits: both kinds at once, so switching back and forth loses nothing. */
export interface ExecutorDraft {
  type: 'none' | 'apiCall' | 'sourceCode';
  url: string;
  method: HttpMethod;
  headers: Array<{ name: string; value: string }>;
  language: 'typescript' | 'javascript';
  code: string;
}

export const DEFAULT_CODE = `import type { CustomCode } from 'deskhook';

const run: CustomCode = async (input, ctx) => {
  ctx.log('input', input);
  return null;
};
export default run;
`;

export function draftOf(executor: Executor | null | undefined, code = DEFAULT_CODE): ExecutorDraft {
  const draft: ExecutorDraft = { type: 'none', url: '', method: 'POST', headers: [], language: 'typescript', code };
  if (executor?.type === 'apiCall') {
    return { ...draft, type: 'apiCall', url: executor.url, method: executor.method ?? 'POST', headers: Object.entries(executor.headers ?? {}).map(([name, value]) => ({ name, value })) };
  }
  if (executor?.type === 'sourceCode') return { ...draft, type: 'sourceCode', language: executor.language, code: executor.code };
  return draft;
}

/** What keeps the draft from being run or saved, or null (the API checks the rest). */
export function draftProblem(draft: ExecutorDraft, lang: 'en' | 'de'): string | null {
  if (draft.type === 'apiCall' && !/^https?:\/\/\S+$/.test(draft.url.trim())) {
    return lang === 'de' ? 'Geben Sie die URL des API-Aufrufs an (http:// oder https://).' : 'Enter the URL of the API call (http:// or https://).';
  }
  if (draft.type === 'sourceCode' && !draft.code.trim()) return lang === 'de' ? 'Der Code ist leer.' : 'The code is empty.';
  return null;
}

/** The executor for the API, or null for none. Header rows without a name are left out. */
export function executorOf(draft: ExecutorDraft): Executor | null {
  if (draft.type === 'apiCall') {
    const headers = Object.fromEntries(draft.headers.filter((h) => h.name.trim()).map((h) => [h.name.trim(), h.value]));
    return { type: 'apiCall', url: draft.url.trim(), method: draft.method, headers };
  }
  if (draft.type === 'sourceCode') return { type: 'sourceCode', language: draft.language, code: draft.code };
  return null;
}

const EXECUTOR_TEXTS: Texts<
  'kind' | 'none' | 'apiCall' | 'sourceCode' | 'url' | 'method' | 'headers' | 'headerName' | 'headerValue' | 'addHeader' | 'removeHeader' |
  'headersHint' | 'language' | 'code' | 'noHeaders'
> = {
  en: {
    kind: 'Executor', none: 'None', apiCall: 'API call', sourceCode: 'Code', url: 'URL', method: 'Method', headers: 'Headers',
    headerName: 'Header name {n}', headerValue: 'Header value {n}', addHeader: 'Add header', removeHeader: 'Remove header {n}',
    headersHint: 'Values may use {{secret.KEY}}.', language: 'Language', code: 'Code', noHeaders: 'No extra headers.',
  },
  de: {
    kind: 'Ausführung', none: 'Keine', apiCall: 'API-Aufruf', sourceCode: 'Code', url: 'URL', method: 'Methode', headers: 'Header',
    headerName: 'Header-Name {n}', headerValue: 'Header-Wert {n}', addHeader: 'Header hinzufügen', removeHeader: 'Header {n} entfernen',
    headersHint: 'Werte dürfen {{secret.KEY}} enthalten.', language: 'Sprache', code: 'Code', noHeaders: 'Keine zusätzlichen Header.',
  },
};

/** Choice of executor with its fields; `allowNone` offers "none" (ERP operations). `label` names the whole group. */
export function ExecutorEditor({ value, onChange, allowNone = false, label }: { value: ExecutorDraft; onChange: (d: ExecutorDraft) => void; allowNone?: boolean; label: string }) {
  const t = useT(EXECUTOR_TEXTS);
  const set = (patch: Partial<ExecutorDraft>) => onChange({ ...value, ...patch });
  const setHeader = (i: number, patch: Partial<{ name: string; value: string }>) => set({ headers: value.headers.map((h, j) => (j === i ? { ...h, ...patch } : h)) });
  return (
    <fieldset className="executor" style={{ border: '1px solid #e3e6eb', borderRadius: 4, padding: '6px 10px', minWidth: 0 }}>
      <legend>{label}</legend>
      <Field label={t('kind')}>
        <select value={value.type} style={{ alignSelf: 'flex-start', minWidth: 200 }} onChange={(e) => set({ type: e.target.value as ExecutorDraft['type'] })}>
          {allowNone ? <option value="none">{t('none')}</option> : null}
          <option value="apiCall">{t('apiCall')}</option>
          <option value="sourceCode">{t('sourceCode')}</option>
        </select>
      </Field>
      {value.type === 'apiCall' ? (
        <>
          <div className="row" style={{ alignItems: 'flex-end' }}>
            <Field label={t('method')}>
              <select value={value.method} onChange={(e) => set({ method: e.target.value as HttpMethod })}>
                {HTTP_METHODS.map((m) => <option key={m} value={m}>{m}</option>)}
              </select>
            </Field>
            <div style={{ flex: 1 }}>
              <Field label={t('url')}>
                <input type="url" required value={value.url} placeholder="https://erp.example.com/deskhook" onChange={(e) => set({ url: e.target.value })} />
              </Field>
            </div>
          </div>
          <fieldset style={{ border: 'none', padding: 0, margin: '6px 0' }}>
            <legend className="field-label">{t('headers')}</legend>
            {value.headers.length === 0 ? <p className="muted" style={{ margin: '2px 0' }}>{t('noHeaders')}</p> : null}
            {value.headers.map((h, i) => (
              <div className="row" key={i} style={{ marginBottom: 4 }}>
                <input aria-label={t('headerName', { n: i + 1 })} placeholder="Authorization" value={h.name} onChange={(e) => setHeader(i, { name: e.target.value })} />
                <input aria-label={t('headerValue', { n: i + 1 })} placeholder="Bearer {{secret.ERP_TOKEN}}" style={{ flex: 1 }} value={h.value} onChange={(e) => setHeader(i, { value: e.target.value })} />
                <button type="button" aria-label={t('removeHeader', { n: i + 1 })} onClick={() => set({ headers: value.headers.filter((_, j) => j !== i) })}>×</button>
              </div>
            ))}
            <div className="row">
              <button type="button" onClick={() => set({ headers: [...value.headers, { name: '', value: '' }] })}>{t('addHeader')}</button>
              <span className="hint">{t('headersHint')}</span>
            </div>
          </fieldset>
        </>
      ) : null}
      {value.type === 'sourceCode' ? (
        <>
          <Field label={t('language')}>
            <select value={value.language} style={{ alignSelf: 'flex-start', minWidth: 200 }} onChange={(e) => set({ language: e.target.value as ExecutorDraft['language'] })}>
              <option value="typescript">TypeScript</option>
              <option value="javascript">JavaScript</option>
            </select>
          </Field>
          <CodeEditor value={value.code} onChange={(code) => set({ code })} language={value.language} ariaLabel={`${t('code')}: ${label}`} />
        </>
      ) : null}
    </fieldset>
  );
}
