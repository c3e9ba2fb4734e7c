import {
  checkContract, checkContractMatch, checkCustomer, checkCustomerIds, DEFAULT_ERP_SETTINGS, ERP_OPERATIONS, erpCacheKey, normaliseId,
  type Characteristics, type Checked, type Contract, type ContractMatch, type Customer, type ErpOperation, type ErpSettings,
} from '../../domain/erp.ts';
import type { Executor } from '../../domain/executor.ts';
import { AppError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { ErpCache, ErpCacheEntry } from '../ports/erp-cache.ts';
import type { ExecutorRunner } from '../ports/executor-runner.ts';
import type { Logger } from '../ports/logger.ts';
import type { Store } from '../ports/store.ts';
import type { Telemetry } from '../ports/telemetry.ts';

export interface LookupOptions {
  /** Ask the ERP even when the cache has a fresh answer. */
  refresh?: boolean;
  /** Never ask the ERP: the cache's answer (fresh or stale) or nothing. */
  cacheOnly?: boolean;
}

/** What a lookup answered and where the answer came from, for the API, the ticket's activity and the stats. */
export interface Lookup<T> {
  value: T;
  source: 'cache' | 'erp' | 'local';
  /** Served from an expired entry because the ERP failed (or cacheOnly found only an old one). */
  stale: boolean;
  /** With cacheOnly: false when the cache had nothing. */
  cached: boolean;
  operation: ErpOperation;
  durationMs: number;
}

export interface CustomerWithContracts extends Customer {
  contracts: Contract[];
}

export interface ErpStats {
  hits: number;
  misses: number;
  staleServed: number;
  erpCalls: number;
  erpFailures: number;
  erpLatencyMs: { p50: number | null; p99: number | null };
  shared: boolean;
}

export interface ErpServiceDeps {
  store: Store;
  executors: ExecutorRunner;
  clock: Clock;
  logger: Logger;
  telemetry?: Telemetry;
}

/** Cache outcomes of one operation's lookups in this process, for the metrics. */
export interface ErpOperationCounts {
  hits: number;
  misses: number;
  staleServed: number;
}

const SETTINGS_REFRESH_MS = 5_000;
/** By then every process uses settings saved in another one. */
export const SETTINGS_PROPAGATION_MS = SETTINGS_REFRESH_MS + 1_000;
/** How long an expired answer is kept to be served when the ERP fails. */
const STALE_KEEP_MS = 24 * 3_600_000;
const LATENCY_SAMPLES = 1024;

function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * The four ERP operations behind one cache. In `live` mode each goes to the team's executor;
 * identical concurrent misses share one call, answers are checked (the error names the field), kept
 * for their operation's TTL (not-found answers for the notFound TTL), and an expired answer is
 * served, marked stale, when the ERP fails. In `local` mode the records imported into deskhook
 * answer, with no cache in between (they are in the database already).
 */
export class ErpService {
  private settings: { value: ErpSettings; loadedAt: number } | null = null;
  /** True while live settings were read less than SETTINGS_REFRESH_MS ago (a timer ends it): the hit path reads no clock for them. */
  private liveSettingsCurrent = false;
  private settingsTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly inflight = new Map<string, Promise<Lookup<unknown>>>();
  /** Bumped by every invalidation: an ERP answer fetched before one is not written to the cache. */
  private epoch = 0;
  private readonly counters = { hits: 0, misses: 0, staleServed: 0, erpCalls: 0, erpFailures: 0 };
  private readonly byOperation = Object.fromEntries(ERP_OPERATIONS.map((op) => [op, { hits: 0, misses: 0, staleServed: 0 }])) as Record<ErpOperation, ErpOperationCounts>;
  private readonly latencies: number[] = [];
  private latencyNext = 0;

  constructor(private readonly deps: ErpServiceDeps, readonly cache: ErpCache) {}

  /** The settings, re-read from the database at most every few seconds (other processes may change them). */
  async currentSettings(): Promise<ErpSettings> {
    const now = Date.now();
    if (this.settings && now - this.settings.loadedAt < SETTINGS_REFRESH_MS) return this.settings.value;
    const value = withErpDefaults(await this.deps.store.settings.get<ErpSettings>('erp'));
    this.remember(value, now);
    return value;
  }

  /** After a change of the settings in this process: use them from the next lookup on. */
  settingsChanged(value: ErpSettings): void {
    this.remember(value, Date.now());
  }

  /**
   * The hot path of a cache hit, synchronously: the fresh cached contract (or null for a cached
   * "not found"), or undefined when the answer needs the database, the ERP or Redis (then use
   * contractById). Counted as a hit like any other.
   */
  peekContract(contractId: string): Contract | null | undefined {
    if (!this.liveSettingsCurrent || !this.cache.peekContract) return undefined;
    const entry = this.cache.peekContract(contractId);
    const clock = this.deps.clock;
    if (!entry || entry.freshUntil <= (clock.nowMs ? clock.nowMs() : clock.now().getTime())) return undefined;
    this.counters.hits++;
    this.byOperation.contractById.hits++;
    return entry.value as Contract | null;
  }

  private remember(value: ErpSettings, loadedAt: number): void {
    this.settings = { value, loadedAt };
    this.liveSettingsCurrent = value.mode === 'live';
    if (this.settingsTimer) clearTimeout(this.settingsTimer);
    this.settingsTimer = setTimeout(() => { this.liveSettingsCurrent = false; }, SETTINGS_REFRESH_MS);
    this.settingsTimer.unref();
  }

  /**
   * A contract by id. A fresh answer in the in-process cache is returned without awaiting
   * anything (recognition and the ticket panel look contracts up per email and per view; this is
   * their hot path); everything else goes through the settings, the cache adapter and the ERP.
   */
  contractById(contractId: string, options: LookupOptions = {}): Promise<Lookup<Contract | null>> {
    const hit = options.refresh ? undefined : this.peekContract(contractId);
    if (hit !== undefined) return Promise.resolve({ value: hit, source: 'cache', stale: false, cached: true, operation: 'contractById', durationMs: 0 });
    return this.lookupContract(contractId, options);
  }

  private async lookupContract(contractId: string, options: LookupOptions): Promise<Lookup<Contract | null>> {
    const settings = await this.currentSettings();
    if (settings.mode === 'local') return this.local('contractById', () => this.deps.store.erp.getContract(contractId));
    return this.live<Contract | null>(settings, 'contractById', { contractId }, options);
  }

  async customerById(customerId: string, options: LookupOptions = {}): Promise<Lookup<Customer | null>> {
    const settings = await this.currentSettings();
    if (settings.mode === 'local') return this.local('customerById', () => this.deps.store.erp.getCustomer(customerId));
    return this.live<Customer | null>(settings, 'customerById', { customerId }, options);
  }

  /** At most one contract for the characteristics found in a message. */
  async searchContracts(characteristics: Characteristics & { ticketId?: number | null }, options: LookupOptions = {}): Promise<Lookup<ContractMatch | null>> {
    const settings = await this.currentSettings();
    const input = Object.fromEntries(Object.entries(characteristics).filter(([, v]) => v !== undefined && v !== null && v !== ''));
    if (settings.mode === 'local') {
      return this.local('searchContracts', async () => {
        const found = await this.deps.store.erp.findContracts(input as Characteristics);
        return found.length === 1 ? { contractId: found[0]!.id, customerId: found[0]!.customerId } : null;
      });
    }
    return this.live<ContractMatch | null>(settings, 'searchContracts', { ticketId: null, ...input }, options);
  }

  /** The agent's search bar: up to 10 customers, each with their contracts. */
  async searchCustomers(q: string, page: { limit: number; offset: number }, options: LookupOptions = {}): Promise<Lookup<CustomerWithContracts[]>> {
    const settings = await this.currentSettings();
    const limit = Math.min(page.limit, 10);
    const ids = settings.mode === 'local'
      ? await this.local('searchCustomers', () => this.deps.store.erp.searchCustomers(q, limit, page.offset))
      : await this.live<string[]>(settings, 'searchCustomers', { q, limit, offset: page.offset }, options);
    // A cacheOnly miss has no list at all.
    const customers = await Promise.all((ids.value ?? []).map(async (id) => {
      const customer = (await this.customerById(id, options)).value;
      if (!customer) return null;
      const contracts = await Promise.all(customer.contractIds.map((c) => this.contractById(c, options).then((r) => r.value, () => null)));
      return { ...customer, contracts: contracts.filter((c): c is Contract => c !== null) };
    }));
    return { ...ids, value: customers.filter((c): c is CustomerWithContracts => c !== null) };
  }

  /** Forgets what the cache knows of a contract or customer (and every search, since one may have found it). */
  async invalidate(ids: { contractId?: string; customerId?: string }): Promise<void> {
    this.epoch++;
    const keys: string[] = [];
    const contractId = ids.contractId !== undefined ? normaliseId(ids.contractId) : null;
    const customerId = ids.customerId !== undefined ? normaliseId(ids.customerId) : null;
    if (contractId) keys.push(erpCacheKey('contractById', { contractId }));
    if (customerId) keys.push(erpCacheKey('customerById', { customerId }));
    await this.cache.delete(keys);
    await this.cache.deletePrefixes(['searchContracts:', 'searchCustomers:']);
  }

  async clearCache(): Promise<number> {
    this.epoch++;
    return this.cache.deletePrefixes(['contractById:', 'customerById:', 'searchContracts:', 'searchCustomers:']);
  }

  /** Hits, misses and stale answers per operation since the process started. */
  operationCounts(): Readonly<Record<ErpOperation, Readonly<ErpOperationCounts>>> {
    return this.byOperation;
  }

  stats(): ErpStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return { ...this.counters, erpLatencyMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) }, shared: this.cache.shared };
  }

  /**
   * One operation against the ERP, without the cache: with `executor` (what the settings form
   * shows, saved or not) or else the saved one; `tested` says which ran, as the webhook Test does.
   */
  async test(operation: ErpOperation, input: Record<string, unknown>, executor?: Executor): Promise<{ tested: 'saved' | 'given'; ok: boolean; output: unknown; error: string | null; durationMs: number; logs: unknown }> {
    const settings = await this.currentSettings();
    const ex = executor ?? settings.executors[operation];
    if (!ex) throw new AppError('validation_failed', `no executor is configured for ${operation}`, { errors: [{ field: `executors.${operation}`, message: 'not configured' }] });
    const tested = executor ? 'given' as const : 'saved' as const;
    const run = await this.deps.executors.run(ex, input, { timeoutMs: settings.timeoutMs, cacheScope: `erp:${operation}` });
    // As in real lookups: a 404 means "no such record" only when one record was asked for.
    const notFound = !run.ok && run.status === 404 && (operation === 'contractById' || operation === 'customerById');
    if (!run.ok && !notFound) return { tested, ok: false, output: null, error: `${run.error!.code}: ${run.error!.message}`, durationMs: run.durationMs, logs: run.logs };
    const checked = CHECKS[operation](run.ok ? emptyToNull(run.output) : null);
    return checked.ok
      ? { tested, ok: true, output: checked.value, error: null, durationMs: run.durationMs, logs: run.logs }
      : { tested, ok: false, output: run.output ?? null, error: checked.message, durationMs: run.durationMs, logs: run.logs };
  }

  /** A cache that cannot be read (Redis down) is a miss: the ERP answers instead. */
  private async readCache(key: string): Promise<ErpCacheEntry | undefined> {
    try {
      return await this.cache.get(key);
    } catch (err) {
      this.deps.logger.warn({ err }, 'the ERP cache cannot be read; asking the ERP');
      return undefined;
    }
  }

  private async local<T>(operation: ErpOperation, read: () => Promise<T>): Promise<Lookup<T>> {
    const began = performance.now();
    const value = await read();
    return { value, source: 'local', stale: false, cached: false, operation, durationMs: Math.round((performance.now() - began) * 10) / 10 };
  }

  private async live<T>(
    settings: ErpSettings,
    operation: ErpOperation,
    input: Record<string, unknown>,
    options: LookupOptions,
  ): Promise<Lookup<T>> {
    const key = erpCacheKey(operation, input);
    const began = performance.now();
    const now = this.deps.clock.now().getTime();
    const entry = options.refresh ? undefined : await this.readCache(key);
    const elapsed = () => Math.round((performance.now() - began) * 10) / 10;
    if (entry && entry.freshUntil > now) {
      this.counters.hits++;
      this.byOperation[operation].hits++;
      return { value: entry.value as T, source: 'cache', stale: false, cached: true, operation, durationMs: elapsed() };
    }
    if (options.cacheOnly) {
      if (entry) {
        this.counters.staleServed++;
        this.byOperation[operation].staleServed++;
      }
      return { value: (entry?.value ?? null) as T, source: 'cache', stale: entry !== undefined, cached: entry !== undefined, operation, durationMs: elapsed() };
    }
    this.counters.misses++;
    this.byOperation[operation].misses++;
    let call = this.inflight.get(key) as Promise<Lookup<T>> | undefined;
    if (!call) {
      // Registered before anything is awaited, so concurrent identical lookups (refreshes too) share it.
      const previous = options.refresh ? this.readCache(key) : Promise.resolve(entry);
      call = previous.then((prior) => this.fetch<T>(settings, operation, input, key, prior))
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, call);
    }
    const result = await call;
    return { ...result, durationMs: elapsed() };
  }

  private async fetch<T>(
    settings: ErpSettings,
    operation: ErpOperation,
    input: Record<string, unknown>,
    key: string,
    previous: ErpCacheEntry | undefined,
  ): Promise<Lookup<T>> {
    const executor = settings.executors[operation];
    const fallback = (message: string): Lookup<T> => {
      this.counters.erpFailures++;
      if (previous) {
        this.counters.staleServed++;
        this.byOperation[operation].staleServed++;
        this.deps.logger.warn({ operation, error: message }, 'the ERP failed; serving the cached answer as stale');
        return { value: previous.value as T, source: 'cache', stale: true, cached: true, operation, durationMs: 0 };
      }
      throw new AppError('erp_failed', `${operation}: ${message}`, { operation });
    };
    if (!executor) return fallback('no executor is configured for this operation (ERP settings)');
    this.counters.erpCalls++;
    const epoch = this.epoch;
    const run = await this.deps.executors.run(executor, input, { timeoutMs: settings.timeoutMs, cacheScope: `erp:${operation}` });
    this.deps.telemetry?.erpCalled(operation, run.ok || run.status === 404, run.durationMs);
    this.latencies[this.latencyNext] = run.durationMs;
    this.latencyNext = (this.latencyNext + 1) % LATENCY_SAMPLES;
    // A 404 of a REST ERP asked for one record means: no such record.
    const notFound = !run.ok && run.status === 404 && (operation === 'contractById' || operation === 'customerById');
    if (!run.ok && !notFound) return fallback(`${run.error!.code}: ${run.error!.message}`);
    const checked = CHECKS[operation](notFound ? null : emptyToNull(run.output)) as Checked<T>;
    if (!checked.ok) return fallback(`the ERP's answer is not valid: ${checked.message}`);
    const ttls = settings.cacheTtlSeconds;
    const isEmpty = checked.value === null || (Array.isArray(checked.value) && checked.value.length === 0);
    const ttlMs = (isEmpty ? ttls.notFound : ttls[operation]) * 1000;
    const storedAt = this.deps.clock.now().getTime();
    // An invalidation while the ERP answered: the answer may predate the change, so it is served but not kept.
    if (ttlMs > 0 && epoch === this.epoch) await this.cache.set(key, { value: checked.value, storedAt, freshUntil: storedAt + ttlMs }, ttlMs + STALE_KEEP_MS).catch((err: unknown) => {
      this.deps.logger.warn({ err, operation }, 'could not write the ERP cache');
    });
    return { value: checked.value, source: 'erp', stale: false, cached: false, operation, durationMs: run.durationMs };
  }
}

/** Stored settings completed with today's defaults (a key added later has its default). */
export function withErpDefaults(stored: Partial<ErpSettings> | null): ErpSettings {
  return { ...DEFAULT_ERP_SETTINGS, ...(stored ?? {}), cacheTtlSeconds: { ...DEFAULT_ERP_SETTINGS.cacheTtlSeconds, ...(stored?.cacheTtlSeconds ?? {}) } };
}

function emptyToNull(value: unknown): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0 ? null : value;
}

const CHECKS: Record<ErpOperation, (value: unknown) => Checked<unknown>> = {
  contractById: (v) => (v === null ? { ok: true, value: null } : checkContract(v)),
  customerById: (v) => (v === null ? { ok: true, value: null } : checkCustomer(v)),
  searchContracts: checkContractMatch,
  searchCustomers: checkCustomerIds,
};
