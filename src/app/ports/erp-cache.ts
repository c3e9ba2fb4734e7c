/** A cached ERP answer: `value` null means "the ERP has no such record" (cached for the notFound TTL). */
export interface ErpCacheEntry {
  value: unknown;
  storedAt: number;
  /** Until then the entry is fresh; after it, it is only served (as stale) when the ERP fails. */
  freshUntil: number;
}

/**
 * Where ERP answers are kept between requests: in this process, or in Redis shared by every
 * process (so an invalidation in one is seen by all).
 */
export interface ErpCache {
  readonly shared: boolean;
  /** Synchronous read of a contract by its id, where the entries are in this process (not for Redis): the hot path of a hit. */
  peekContract?(contractId: string): ErpCacheEntry | undefined;
  get(key: string): Promise<ErpCacheEntry | undefined>;
  /** Keeps the entry for `keepMs` (its fresh time plus how long it may be served stale). */
  set(key: string, entry: ErpCacheEntry, keepMs: number): Promise<void>;
  delete(keys: string[]): Promise<void>;
  /** Drops every entry whose key starts with one of `prefixes`; returns how many. */
  deletePrefixes(prefixes: string[]): Promise<number>;
  close(): Promise<void>;
}
