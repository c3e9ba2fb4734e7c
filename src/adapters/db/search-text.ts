/**
 * The text both databases' full-text indexes hold, and the queries against them, built alike so
 * that SQLite (FTS5) and PostgreSQL (tsvector with the `simple` configuration) find the same rows.
 * A document is the set of its words: letters and digits, lower case, without diacritics, and each
 * German umlaut also spelled out ("Müller" is found by "muller" and by "mueller"). Everything else
 * separates words, so an address or a number written with dashes is found by its parts; the
 * PostgreSQL parser never sees an e-mail address or a URL as one token.
 */

import { createHash } from 'node:crypto';

/** A digest of the texts a document is made from: equal digests, equal documents. */
export function searchSource(texts: readonly string[]): string {
  const h = createHash('sha256');
  for (const t of texts) h.update(String(t.length)).update(':').update(t);
  return h.digest('base64url').slice(0, 22);
}

/** Lower case without diacritics; ß as ss. */
export function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}+/gu, '').replace(/ß/g, 'ss').toLowerCase();
}

const WORD = /[\p{L}\p{N}]+/gu;

/** The indexed form of some texts: their distinct words, in both spellings of umlauts. */
export function searchDocument(texts: readonly string[]): string {
  const words = new Set<string>();
  for (const text of texts) {
    const lower = text.toLowerCase();
    const german = lower.replace(/ä/g, 'ae').replace(/ö/g, 'oe').replace(/ü/g, 'ue');
    for (const variant of lower === german ? [lower] : [lower, german]) {
      for (const w of fold(variant).match(WORD) ?? []) words.add(w);
    }
  }
  return [...words].join(' ');
}

/** The words of a query, as the index holds them; at most `max`. */
export function searchWords(query: string, max = 12): string[] {
  return (fold(query.normalize('NFKC')).match(WORD) ?? []).slice(0, max);
}

/** FTS5 MATCH expression: every word, each as a prefix when `prefix`. Words are quoted literals. */
export function ftsQuery(words: readonly string[], prefix: boolean): string {
  return words.map((w) => `"${w}"${prefix ? '*' : ''}`).join(' ');
}

/** to_tsquery('simple', …) expression: every word, each as a prefix when `prefix`. */
export function tsQuery(words: readonly string[], prefix: boolean): string {
  return words.map((w) => (prefix ? `${w}:*` : w)).join(' & ');
}
