import { LRUCache } from 'lru-cache';
import type { ErpCache, ErpCacheEntry } from '../../app/ports/erp-cache.ts';

const CONTRACT_PREFIX = 'contractById:contractId=';

/** The in-process tier: an LRU bounded by entry count, each entry expiring after its keep time. */
export class MemoryErpCache implements ErpCache {
  readonly shared = false;
  private readonly lru: LRUCache<string, ErpCacheEntry>;
  /** Contracts by their bare id as well, so a hit needs no key to be built: kept in step with the LRU. */
  private readonly contracts = new Map<string, ErpCacheEntry>();

  constructor(maxEntries = 50_000) {
    this.lru = new LRUCache({
      max: maxEntries,
      ttlAutopurge: false,
      dispose: (_value, key) => {
        if (key.startsWith(CONTRACT_PREFIX)) this.contracts.delete(key.slice(CONTRACT_PREFIX.length));
      },
    });
  }

  /** Synchronous read for the hot path: one map lookup, no promise, no key to build; expired entries are the caller's to judge. */
  peekContract(contractId: string): ErpCacheEntry | undefined {
    return this.contracts.get(contractId);
  }

  async get(key: string): Promise<ErpCacheEntry | undefined> {
    return this.lru.get(key);
  }

  async set(key: string, entry: ErpCacheEntry, keepMs: number): Promise<void> {
    this.lru.set(key, entry, { ttl: Math.max(1, keepMs) });
    if (key.startsWith(CONTRACT_PREFIX)) this.contracts.set(key.slice(CONTRACT_PREFIX.length), entry);
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
