import { LRUCache } from 'lru-cache';
import type { ErpCache, ErpCacheEntry } from '../../app/ports/erp-cache.ts';

/** The in-process tier: an LRU bounded by entry count, each entry expiring after its keep time. */
export class MemoryErpCache implements ErpCache {
  readonly shared = false;
  private readonly lru: LRUCache<string, ErpCacheEntry>;

  constructor(maxEntries = 50_000) {
    this.lru = new LRUCache({ max: maxEntries, ttlAutopurge: false });
  }

  /** Synchronous read for the hot path (a hit costs a map lookup, not a promise). */
  peek(key: string): ErpCacheEntry | undefined {
    return this.lru.get(key);
  }

  async get(key: string): Promise<ErpCacheEntry | undefined> {
    return this.lru.get(key);
  }

  async set(key: string, entry: ErpCacheEntry, keepMs: number): Promise<void> {
    this.lru.set(key, entry, { ttl: Math.max(1, keepMs) });
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) this.lru.delete(key);
  }

  async deletePrefixes(prefixes: string[]): Promise<number> {
    let n = 0;
    for (const key of [...this.lru.keys()]) {
      if (prefixes.some((p) => key.startsWith(p))) {
        this.lru.delete(key);
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}
