/**
 * Types for deskhook custom code: a JavaScript or TypeScript module whose default export is
 * `async (input, ctx) => output`. Load this file into an editor to get completion for `ctx`.
 *
 * @example
 * ```ts
 * import type { CustomCode } from 'deskhook';
 *
 * const lookUpContract: CustomCode<{ contractId: string }> = async (input, ctx) => {
 *   const token = await ctx.secrets.get('ERP_TOKEN');
 *   const res = await ctx.fetch(`https://erp.example/contracts/${input.contractId}`, {
 *     headers: { authorization: `Bearer ${token}` },
 *   });
 *   if (res.status === 404) return null;
 *   return await res.json();
 * };
 * export default lookUpContract;
 * ```
 *
 * The code runs in QuickJS (ES2023), not in Node.js or a browser. Besides the ES built-ins there
 * are only `console.log/info/debug/warn/error` (captured like {@link Ctx.log}) and
 * `setTimeout`/`clearTimeout` (no `setInterval`; pending timers are dropped when the run ends).
 * There is no `require`, no `import` of any module (static or dynamic), no `process`, no file
 * system, no environment and no network except {@link Ctx.fetch}.
 *
 * A run ends when the promise of the default export settles. It fails when it exceeds its time
 * limit (`timeout`, default 10 s), its memory (`memory_limit`, default 64 MiB) or the output size
 * (`output_too_large`, default 1 MiB of JSON); when the output is not JSON data
 * (`invalid_output`: functions, symbols, BigInts, Maps, Sets, cycles, nesting deeper than 256);
 * when it throws, or leaves a promise made with `Promise`, `ctx` or `.then` rejected and
 * unhandled, or a timer callback throws (`runtime_error`; await your own async functions, their
 * floating rejections are not seen); or when a `ctx` error escapes it, with that error's `code`
 * (e.g. `egress_refused`). Logs beyond 64 KiB are cut with a note; the run goes on.
 *
 * @packageDocumentation
 */

/** The signature of the default export. The output must be JSON data; `undefined` becomes `null`. */
export type CustomCode<Input = unknown, Output = unknown> = (input: Input, ctx: Ctx) => Promise<Output> | Output;

/** What custom code can reach outside itself. */
export interface Ctx {
  /**
   * Unix epoch milliseconds by which the run must end (its time limit, less any time it waited
   * for a sandbox). A synchronous webhook's receiver gets the same instant as `deskhook-deadline`.
   */
  readonly deadline: number;
  /** Milliseconds left until {@link Ctx.deadline}, never negative: give up early and say why. */
  remainingMs(): number;
  /**
   * An HTTP request through deskhook's egress guard: addresses the operator has not allowed
   * (private networks, the metadata service, …) are refused before connecting, with an error
   * whose `code` is `egress_refused`. Response bodies are text, capped in size and time by the
   * guard. Redirects to refused targets are refused as well.
   */
  fetch(url: string, init?: FetchInit): Promise<FetchResponse>;
  /** Adds a line to the run's log (shown in test runs and traces), like `console.log`. */
  log(...args: unknown[]): void;
  secrets: Secrets;
  /** A cache shared by all runs of this executor. */
  cache: Cache;
  /** The deskhook API, called as this executor's service user. */
  deskhook: DeskhookApi;
}

export interface FetchInit {
  /** Default `GET`. */
  method?: string;
  /** Names are case-insensitive; deskhook sends them lower-cased. */
  headers?: Record<string, string> | Array<[string, string]> | FetchHeaders;
  /** Text only: send JSON with `JSON.stringify(data)` and a `content-type` header. */
  body?: string | null;
}

export interface FetchResponse {
  readonly url: string;
  readonly status: number;
  /** `status` is 200-299. */
  readonly ok: boolean;
  readonly headers: FetchHeaders;
  text(): Promise<string>;
  /** Rejects with a SyntaxError when the body is not JSON. */
  json<T = unknown>(): Promise<T>;
}

export interface FetchHeaders {
  /** The value of a header (any case), or `null`. */
  get(name: string): string | null;
  has(name: string): boolean;
  forEach(callback: (value: string, name: string) => void): void;
  entries(): IterableIterator<[string, string]>;
}

export interface Secrets {
  /** A secret configured for this deskhook instance, or `null` when there is none by that key. */
  get(key: string): Promise<string | null>;
}

export interface Cache {
  /** The cached value, or `undefined` when missing or expired. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Stores JSON data (not `undefined`) for `ttlSeconds` (> 0). */
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
}

export interface DeskhookApi {
  /** A path of the deskhook API, e.g. `ctx.deskhook.get('/tickets/42')`. */
  get<T = unknown>(path: string): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  patch<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>>;
}

/** Answers of every status resolve; check `ok` or `status`. */
export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly ok: boolean;
  readonly body: T;
}

/** The error `ctx` functions reject with when the host refuses or fails a call. */
export interface CtxError extends Error {
  /** Stable reason, e.g. `egress_refused`; absent for generic failures. */
  code?: string;
}
