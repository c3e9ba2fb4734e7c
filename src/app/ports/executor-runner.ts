import type { Executor } from '../../domain/executor.ts';
import type { TraceContext } from '../../domain/trace-context.ts';

/** Stable codes of a failed run; users see them in test runs, traces and webhook failures. */
export type ExecutorErrorCode =
  | 'timeout' | 'memory_limit' | 'syntax_error' | 'runtime_error' | 'output_too_large' | 'invalid_output'
  | 'egress_refused' | 'connection_error' | 'tls_error' | 'invalid_url' | 'response_too_large'
  | 'http_status' | 'invalid_json' | 'secret_missing' | 'sandbox_crashed' | 'sandbox_closed' | 'sandbox_busy' | (string & {});

export interface ExecutorError {
  code: ExecutorErrorCode;
  message: string;
}

export interface ExecutorLogEntry {
  level: 'log' | 'warn' | 'error';
  message: string;
  at: string;
}

/** What every run leaves behind for the caller's own log: never a secret value, bodies truncated. */
export interface ExecutorTrace {
  executor: 'apiCall' | 'sourceCode';
  target: string | null;
  ok: boolean;
  durationMs: number;
  status: number | null;
  error: ExecutorError | null;
  logs: ExecutorLogEntry[];
  input: string;
  output: string | null;
}

export interface ExecutorRun {
  ok: boolean;
  output?: unknown;
  error?: ExecutorError;
  logs: ExecutorLogEntry[];
  durationMs: number;
  /** HTTP status of an apiCall. */
  status: number | null;
  /** The `Retry-After` header of an apiCall's error answer, as given. */
  retryAfter?: string;
  trace: ExecutorTrace;
}

export interface ExecutorRunOptions {
  timeoutMs?: number;
  /** Standard Webhooks signing of an apiCall body (`webhook-id`, `-timestamp`, `-signature`). */
  signing?: { id: string; secrets: string[] };
  /**
   * The W3C trace context the run continues: its `apiCall` and every `ctx.fetch` carry a
   * `traceparent` of this trace (and its `tracestate`). By default the current step's
   * (src/app/trace-context.ts), else a new trace.
   */
  trace?: TraceContext;
  /** Scope of `ctx.cache`: each executor has its own. */
  cacheScope?: string;
  /**
   * `interactive` (default): someone is waiting for the answer, e.g. a synchronous webhook; such
   * runs get a worker before `background` ones (test runs, event hooks). `timeoutMs` includes the
   * time a run waits for a worker.
   */
  lane?: 'interactive' | 'background';
  /** Headers an `apiCall` sends besides its own (e.g. `deskhook-late: true`); deskhook's own headers win. */
  headers?: Record<string, string>;
}

/** A mistake in an executor that is certain before it ever runs. */
export interface ExecutorProblem {
  code: 'syntax_error' | 'egress_refused';
  message: string;
  /** 1-based, for code that does not compile. */
  line?: number;
  column?: number;
}

/** Runs what a webhook, an event hook or an ERP operation is configured with. */
export interface ExecutorRunner {
  run(executor: Executor, input: unknown, options?: ExecutorRunOptions): Promise<ExecutorRun>;
  /**
   * What is wrong with an executor before it runs: code that does not compile, an `apiCall` URL
   * whose literal address (or `localhost`) the egress policy refuses. Host names are resolved
   * only when a request is made, and checked again then.
   */
  check?(executor: Executor): ExecutorProblem[];
}
