import { Redis } from 'ioredis';
import type { ErpCache, ErpCacheEntry } from '../../app/ports/erp-cache.ts';

/**
 * The shared tier: every process reads and writes the same Redis, so an entry fetched by one is
 * a hit for all and an invalidation in one is seen by all at once (no local copies to go stale).
 */
export class RedisErpCache implements ErpCache {
  readonly shared = true;
  private readonly redis: Redis;

  constructor(url: string, private readonly namespace = 'deskhook:erp:') {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    // Errors surface on the commands; the connection retries on its own.
    this.redis.on('error', () => undefined);
  }

  async get(key: string): Promise<ErpCacheEntry | undefined> {
    const raw = await this.redis.get(this.namespace + key);
    return raw === null ? undefined : (JSON.parse(raw) as ErpCacheEntry);
  }

  async set(key: string, entry: ErpCacheEntry, keepMs: number): Promise<void> {
    await this.redis.set(this.namespace + key, JSON.stringify(entry), 'PX', Math.max(1, Math.round(keepMs)));
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length) await this.redis.del(...keys.map((k) => this.namespace + k));
  }

  async deletePrefixes(prefixes: string[]): Promise<number> {
    let n = 0;
    for (const prefix of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.namespace}${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) n += await this.redis.del(...keys);
      } while (cursor !== '0');
    }
    return n;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
