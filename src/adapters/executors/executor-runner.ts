import { createHash, createHmac } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ExecutorError, ExecutorProblem, ExecutorRun, ExecutorRunner, ExecutorRunOptions, ExecutorTrace } from '../../app/ports/executor-runner.ts';
import { continueTrace, currentTrace, outgoingTraceHeaders } from '../../app/trace-context.ts';
import { resolveSecretRefs, type ApiCallExecutor, type Executor, type SourceCodeExecutor } from '../../domain/executor.ts';
import { EgressError, type EgressClient } from '../egress/egress-client.ts';
import { compile } from '../sandbox/compile.ts';
import type { SandboxPool } from '../sandbox/pool.ts';
import type { SandboxApiRequest, SandboxBridge } from '../sandbox/types.ts';

export interface ExecutorRunnerDeps {
  egress: EgressClient;
  sandbox: SandboxPool;
  /** Plain value of a secret, or null. */
  secret(key: string): Promise<string | null>;
  /** `ctx.deskhook`: this API, acting as a service user. */
  api?(req: SandboxApiRequest): Promise<{ status: number; body: unknown }>;
  defaultTimeoutMs?: number;
  maxResponseBytes?: number;
  userAgent?: string;
}

const TRACE_EXCERPT = 4096;
// ctx.cache lives in the server's heap, outside the sandbox's memory limit: it is bounded by the
// JSON size of its entries, across all executors, and one entry may not take more than 1 MiB.
const CACHE_MAX_BYTES = 64 * 1024 * 1024;
const CACHE_MAX_ENTRY_BYTES = 1024 * 1024;

function excerpt(value: unknown, secrets: Set<string>): string {
  let text = typeof value === 'string' ? value : JSON.stringify(value ?? null) ?? 'null';
  for (const s of secrets) if (s.length >= 4) text = text.split(s).join('[secret]');
  return text.length > TRACE_EXCERPT ? `${text.slice(0, TRACE_EXCERPT)}… (${text.length} characters)` : text;
}

/**
 * The one executor service: apiCall through the egress guard, sourceCode in the QuickJS pool,
 * both returning the same result and trace. Secret values are resolved at the last moment and
 * scrubbed from everything a trace keeps.
 */
const signingKeys = new Map<string, Buffer>();

/**
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the secret's bytes (Standard Webhooks).
 * Node's HMAC rather than the reference library's pure-JS hash: the same bytes, a fraction of the
 * cost on every delivery; tests verify the result with the `standardwebhooks` library itself.
 */
function signStandardWebhook(secret: string, id: string, timestamp: Date, body: string): string {
  let key = signingKeys.get(secret);
  if (!key) {
    key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
    if (signingKeys.size > 1000) signingKeys.clear();
    signingKeys.set(secret, key);
  }
  const signed = `${id}.${Math.floor(timestamp.getTime() / 1000)}.${body}`;
  return `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
}

export class DefaultExecutorRunner implements ExecutorRunner {
  private readonly cache = new LRUCache<string, { json: string }>({
    maxSize: CACHE_MAX_BYTES,
    maxEntrySize: CACHE_MAX_ENTRY_BYTES,
    sizeCalculation: (entry, key) => entry.json.length + key.length,
  });

  constructor(private readonly deps: ExecutorRunnerDeps) {}

  check(executor: Executor): ExecutorProblem[] {
    if (executor.type === 'sourceCode') {
      const compiled = compile(executor.code, executor.language);
      if (compiled.ok) return [];
      const { message, line, column } = compiled.error;
      return [{ code: 'syntax_error', message, ...(line !== undefined ? { line } : {}), ...(column !== undefined ? { column } : {}) }];
    }
    const refused = this.deps.egress.refusedLiteral(executor.url);
    return refused ? [{ code: 'egress_refused', message: refused }] : [];
  }

  async run(executor: Executor, input: unknown, options: ExecutorRunOptions = {}): Promise<ExecutorRun> {
    const secrets = new Set<string>();
    const began = performance.now();
    // The run continues the step's trace (a request's, an event's) or, outside any, starts one.
    const trace = options.trace ?? currentTrace() ?? continueTrace();
    let result: Omit<ExecutorRun, 'trace' | 'durationMs'>;
    try {
      result = executor.type === 'apiCall'
        ? await this.apiCall(executor, input, { ...options, trace }, secrets)
        : await this.sourceCode(executor, input, { ...options, trace }, secrets);
    } catch (err) {
      // Every run settles with a result: a failure of ours is reported like any other.
      result = { ok: false, error: { code: 'executor_error', message: `the run could not be carried out: ${(err as Error).message}` }, logs: [], status: null };
    }
    const durationMs = Math.round((performance.now() - began) * 10) / 10;
    const logs = result.logs.map((l) => ({ ...l, message: excerpt(l.message, secrets) }));
    const error = result.error ? { ...result.error, message: excerpt(result.error.message, secrets) } : undefined;
    const record: ExecutorTrace = {
      executor: executor.type,
      target: executor.type === 'apiCall' ? `${executor.method} ${executor.url}` : `${executor.language} (${executor.code.length} characters)`,
      ok: result.ok, durationMs, status: result.status, error: error ?? null, logs,
      input: excerpt(input, secrets), output: result.ok ? excerpt(result.output, secrets) : null,
    };
    return {
      ok: result.ok, ...(result.ok ? { output: result.output } : {}), ...(error ? { error } : {}), logs, durationMs, status: result.status,
      ...(result.retryAfter ? { retryAfter: result.retryAfter } : {}), trace: record,
    };
  }

  private async apiCall(executor: ApiCallExecutor, input: unknown, options: ExecutorRunOptions, secrets: Set<string>): Promise<Omit<ExecutorRun, 'trace' | 'durationMs'>> {
    const fail = (error: ExecutorError, status: number | null = null) => ({ ok: false, error, logs: [], status });
    const headers: Record<string, string> = {};
    try {
      for (const [name, value] of Object.entries(executor.headers)) {
        const keys = [...value.matchAll(/\{\{\s*secret\.([\w.-]+)\s*\}\}/g)].map((m) => m[1]!);
        const values = new Map<string, string>();
        for (const key of keys) {
          const v = await this.deps.secret(key).catch((err: Error) => {
            throw Object.assign(new Error(`secret ${key} could not be read: ${err.message}`), { code: 'secret_unavailable' });
          });
          if (v === null) return fail({ code: 'secret_missing', message: `header ${name} refers to secret ${key}, which is not set` });
          values.set(key, v);
          secrets.add(v);
        }
        headers[name.toLowerCase()] = resolveSecretRefs(value, (k) => values.get(k));
      }
    } catch (err) {
      return fail({ code: (err as { code?: string }).code ?? 'secret_missing', message: (err as Error).message });
    }
    const body = executor.method === 'GET' || executor.method === 'DELETE' ? undefined : JSON.stringify(input ?? null);
    if (body !== undefined) headers['content-type'] = 'application/json';
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
    headers.accept = 'application/json';
    delete headers.tracestate; // deskhook's, like traceparent: the two belong together
    Object.assign(headers, outgoingTraceHeaders(options.trace));
    if (options.signing && body !== undefined) {
      const timestamp = new Date();
      const signatures = options.signing.secrets.map((s) => signStandardWebhook(s, options.signing!.id, timestamp, body));
      headers['webhook-id'] = options.signing.id;
      headers['webhook-timestamp'] = String(Math.floor(timestamp.getTime() / 1000));
      headers['webhook-signature'] = signatures.join(' ');
    }
    // The receiver is told how long it has: it can give up in time and say why, not be cut off.
    const timeoutMs = options.timeoutMs ?? this.deps.defaultTimeoutMs ?? 10_000;
    headers['deskhook-timeout-ms'] = String(timeoutMs);
    headers['deskhook-deadline'] = String(Date.now() + timeoutMs);
    let response;
    try {
      response = await this.deps.egress.request({
        url: executor.url, method: executor.method, headers, ...(body !== undefined ? { body } : {}),
        timeoutMs,
        ...(this.deps.maxResponseBytes ? { maxResponseBytes: this.deps.maxResponseBytes } : {}),
      });
    } catch (err) {
      if (err instanceof EgressError) return fail({ code: err.code, message: err.message });
      throw err;
    }
    const text = response.body.toString('utf8');
    if (response.status < 200 || response.status > 299) {
      const retryAfter = response.headers['retry-after'];
      return {
        ...fail({ code: 'http_status', message: `${executor.url} answered ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}` }, response.status),
        ...(retryAfter ? { retryAfter } : {}),
      };
    }
    if (text.trim() === '') return { ok: true, output: {}, logs: [], status: response.status };
    try {
      return { ok: true, output: JSON.parse(text), logs: [], status: response.status };
    } catch {
      return fail({ code: 'invalid_json', message: `${executor.url} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}` }, response.status);
    }
  }

  private async sourceCode(executor: SourceCodeExecutor, input: unknown, options: ExecutorRunOptions, secrets: Set<string>): Promise<Omit<ExecutorRun, 'trace' | 'durationMs'>> {
    const scope = options.cacheScope ?? createHash('sha256').update(executor.code).digest('hex');
    const timeoutMs = options.timeoutMs ?? this.deps.defaultTimeoutMs ?? 10_000;
    const deadline = performance.now() + timeoutMs;
    // Requests of a run end with it: none outlives its run or gets more time than the run has left.
    const runOver = new AbortController();
    const bridge: SandboxBridge = {
      fetch: async (req) => {
        // ctx.fetch continues the run's trace, unless the code set a traceparent of its own.
        const own = Object.keys(req.headers).some((h) => h.toLowerCase() === 'traceparent');
        const headers = own ? req.headers : { ...req.headers, ...outgoingTraceHeaders(options.trace) };
        try {
          const res = await this.deps.egress.request({
            url: req.url, method: req.method, headers, ...(req.body !== undefined ? { body: req.body } : {}),
            timeoutMs: Math.max(1, Math.round(deadline - performance.now())), signal: runOver.signal,
            ...(this.deps.maxResponseBytes ? { maxResponseBytes: this.deps.maxResponseBytes } : {}),
          });
          return { status: res.status, headers: res.headers, body: res.body.toString('utf8') };
        } catch (err) {
          if (err instanceof EgressError) throw Object.assign(new Error(err.message), { code: err.code });
          throw err;
        }
      },
      secretGet: async (key) => {
        const value = await this.deps.secret(key);
        if (value !== null) secrets.add(value);
        return value;
      },
      cacheGet: async (key) => {
        const hit = this.cache.get(`${scope}\u0000${key}`);
        return hit ? JSON.parse(hit.json) : undefined;
      },
      cacheSet: async (key, value, ttlSeconds) => {
        const json = JSON.stringify(value ?? null);
        if (json.length > CACHE_MAX_ENTRY_BYTES) {
          throw Object.assign(new Error(`ctx.cache entries are at most ${CACHE_MAX_ENTRY_BYTES} bytes of JSON`), { code: 'cache_entry_too_large' });
        }
        this.cache.set(`${scope}\u0000${key}`, { json }, { ttl: Math.max(1, Math.min(ttlSeconds, 86_400)) * 1000 });
      },
      api: async (req) => {
        if (!this.deps.api) throw Object.assign(new Error('ctx.deskhook is not available here'), { code: 'api_unavailable' });
        return this.deps.api(req);
      },
    };
    const result = await this.deps.sandbox.run({
      code: executor.code, language: executor.language, input: input ?? null, bridge, lane: options.lane ?? 'interactive',
      ...(options.timeoutMs ? { limits: { timeoutMs: options.timeoutMs } } : {}),
    }).finally(() => runOver.abort());
    return {
      ok: result.ok,
      ...(result.ok ? { output: result.output } : {}),
      ...(result.error ? { error: { code: result.error.code, message: result.error.message } } : {}),
      logs: result.logs,
      status: null,
    };
  }
}
