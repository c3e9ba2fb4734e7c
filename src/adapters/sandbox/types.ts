// Public types of the custom-code sandbox. The worker side (worker.mjs, run-job.mjs) is plain
// JavaScript and refers to these through JSDoc `import('./types.ts')`, so this file must stay
// type-only apart from the limit defaults.

export type SandboxLanguage = 'javascript' | 'typescript';

export interface SandboxLimits {
  /** Wall time of one run, compile and evaluation included. */
  timeoutMs: number;
  /** QuickJS heap of one run (`runtime.setMemoryLimit`). */
  memoryBytes: number;
  /** UTF-8 size of the output JSON. */
  maxOutputBytes: number;
  /**
   * UTF-8 size of all log messages of one run (plus a fixed overhead per entry). Logging past it
   * does not fail the run: the log is cut there and ends with one `warn` entry saying so, because
   * a chatty debug statement must not break a production webhook.
   */
  maxLogBytes: number;
}

export const DEFAULT_SANDBOX_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  timeoutMs: 10_000,
  memoryBytes: 64 * 1024 * 1024,
  maxOutputBytes: 1024 * 1024,
  maxLogBytes: 64 * 1024,
});

/** Upper bounds a job may ask for; wasm32 and the worker's own heap set the real ceiling. */
export const MAX_SANDBOX_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  timeoutMs: 15 * 60_000,
  memoryBytes: 1024 * 1024 * 1024,
  maxOutputBytes: 64 * 1024 * 1024,
  maxLogBytes: 16 * 1024 * 1024,
});

export interface SandboxFetchRequest {
  url: string;
  method: string;
  /** Header names are lower-cased by the sandbox. */
  headers: Record<string, string>;
  body?: string;
}

export interface SandboxFetchResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface SandboxApiRequest {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  body?: unknown;
}

/**
 * Host functions behind `ctx`; they run in the main thread. A rejection with an Error whose
 * `code` is a snake_case string (e.g. `egress_refused`) reaches the script as an Error with that
 * message and `code`; if the script lets it escape, the run fails with that code. Values returned
 * must be JSON-serialisable: they cross into QuickJS as JSON.
 */
export interface SandboxBridge {
  fetch(req: SandboxFetchRequest): Promise<SandboxFetchResponse>;
  secretGet(key: string): Promise<string | null>;
  cacheGet(key: string): Promise<unknown | undefined>;
  cacheSet(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  /** `ctx.deskhook.get/post/patch`. */
  api(req: SandboxApiRequest): Promise<{ status: number; body: unknown }>;
}

export type SandboxBridgeOp = keyof SandboxBridge;

/** Codes the sandbox assigns itself. */
export type SandboxOwnErrorCode =
  | 'timeout'
  | 'memory_limit'
  | 'syntax_error'
  | 'runtime_error'
  | 'output_too_large'
  | 'invalid_output'
  | 'invalid_input'
  | 'bridge_error'
  | 'sandbox_crashed'
  | 'sandbox_closed'
  | 'sandbox_busy';

/**
 * An uncaught error thrown by a bridge function keeps the bridge's own code (matching
 * /^[a-z][a-z0-9_]{0,63}$/, e.g. `egress_refused`); a bridge error without one is `bridge_error`.
 */
export type SandboxErrorCode = SandboxOwnErrorCode | 'egress_refused' | (string & {});

export interface SandboxError {
  code: SandboxErrorCode;
  /** Meant for the author of the custom code: `Name: message`, never host internals. */
  message: string;
  /** QuickJS stack of the script (`at fn (custom-code.ts:3:11)`), when there is one. */
  stack?: string;
  /** 1-based position of a `syntax_error` in the author's source. */
  line?: number;
  column?: number;
}

export interface SandboxLogEntry {
  level: 'log' | 'warn' | 'error';
  message: string;
  /** ISO 8601 time the script logged it. */
  at: string;
}

export interface SandboxResult {
  ok: boolean;
  /** JSON data; `undefined` returned by the script becomes `null`. Present when `ok`. */
  output?: unknown;
  error?: SandboxError;
  logs: SandboxLogEntry[];
  /** From handing the run to a worker until its result, queueing excluded. */
  durationMs: number;
  /** How long the run waited for a free worker (0 when one was idle). */
  queuedMs?: number;
}

/**
 * Which queue a job waits in. `interactive`: someone is waiting for it (a synchronous webhook, an
 * ERP lookup); always dispatched first, and with two or more workers one worker is kept for it.
 * `background`: test runs, event hooks.
 */
export type SandboxLane = 'interactive' | 'background';

export interface SandboxJob {
  code: string;
  language: SandboxLanguage;
  input: unknown;
  limits?: Partial<SandboxLimits>;
  bridge: SandboxBridge;
  /** Default `interactive`. */
  lane?: SandboxLane;
}
