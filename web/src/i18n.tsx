import { createContext, useContext, useState, type ReactNode } from 'react';

/** German and English: the browser's language first, switchable; each page carries its own texts. */
export type Lang = 'en' | 'de';
export type Texts<K extends string> = Record<Lang, Record<K, string>>;

const LangContext = createContext<{ lang: Lang; setLang: (l: Lang) => void }>({ lang: 'en', setLang: () => undefined });

function initialLang(): Lang {
  const stored = localStorage.getItem('deskhook.lang');
  if (stored === 'de' || stored === 'en') return stored;
  return navigator.language.toLowerCase().startsWith('de') ? 'de' : 'en';
}

export function LangProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const setLang = (l: Lang) => {
    localStorage.setItem('deskhook.lang', l);
    document.documentElement.lang = l;
    setLangState(l);
  };
  document.documentElement.lang = lang;
  return <LangContext.Provider value={{ lang, setLang }}>{children}</LangContext.Provider>;
}

export function useLang() {
  return useContext(LangContext);
}

/** `const t = useT(TEXTS); t('save')`, with `{name}` placeholders filled from `vars`. */
export function useT<K extends string>(texts: Texts<K>): (key: K, vars?: Record<string, string | number>) => string {
  const { lang } = useLang();
  return (key, vars) => {
    let s = texts[lang][key] ?? texts.en[key] ?? key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
    return s;
  };
}

export function formatDate(iso: string | null | undefined, lang: Lang): string {
  if (!iso) return '';
  return new Date(iso).toLocaleString(lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'short', timeStyle: 'short' });
}
