import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { dispatchBridgeCall, toReplyMessage } from './bridge-dispatch.ts';
import { CompileCache } from './compile.ts';
import type { FromWorkerMessage, RunMessage, WorkerResult } from './protocol.ts';
import { DEFAULT_SANDBOX_LIMITS, MAX_SANDBOX_LIMITS } from './types.ts';
import type { SandboxError, SandboxJob, SandboxLimits, SandboxResult } from './types.ts';

/**
 * Native stack of a worker thread. QuickJS runs on it as wasm and is limited to 512 KiB of its own
 * stack (QUICKJS_STACK_BYTES in run-job.mjs); some paths use up to ~24x that natively, so the
 * thread gets 64x. Only touched pages are committed.
 */
const WORKER_STACK_MB = 32;
/** V8 heap of a worker's host side; the QuickJS heap is wasm memory and limited per run. */
const WORKER_HEAP_MB = 256;
/** How long past its deadline a run may take to answer before its worker is terminated. */
const BACKSTOP_GRACE_MS = 1000;
/** Added to the backstop while a fresh worker still loads the wasm module. */
const STARTUP_ALLOWANCE_MS = 10_000;
const WORKER_URL = new URL('./worker.mjs', import.meta.url);

export interface SandboxPoolOptions {
  /** Worker threads, each running one job at a time. Default: min(4, cores). */
  size?: number;
  /** Defaults for every job; a job's own `limits` override them. */
  limits?: Partial<SandboxLimits>;
  /** @internal Worker entry; tests substitute one that crashes or hangs on demand. */
  workerUrl?: URL;
}

interface Queued {
  job: SandboxJob;
  js: string;
  inputJson: string;
  limits: SandboxLimits;
  resolve: (result: SandboxResult) => void;
}

interface Active {
  runId: number;
  queued: Queued;
  startedAt: number;
  backstop: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  active: Active | undefined;
}

/**
 * Runs custom code in QuickJS inside worker threads, so a spinning script blocks one worker and
 * never the server's event loop. Workers start on demand and are replaced after a crash or a
 * backstop kill when the next job needs one. Every `run` settles: with the script's output or
 * with an error code, never by rejecting (except for invalid limits, a programming error).
 */
export class SandboxPool {
  readonly #size: number;
  readonly #limits: SandboxLimits;
  readonly #workerUrl: URL;
  readonly #compiled = new CompileCache();
  readonly #slots = new Set<Slot>();
  readonly #queue: Queued[] = [];
  #nextRunId = 1;
  #closed = false;
  #onDrained: (() => void) | undefined;

  constructor(opts: SandboxPoolOptions = {}) {
    const size = opts.size ?? Math.min(4, availableParallelism());
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`SandboxPool size must be a positive integer, got ${size}`);
    this.#size = size;
    this.#limits = resolveLimits(DEFAULT_SANDBOX_LIMITS, opts.limits);
    this.#workerUrl = opts.workerUrl ?? WORKER_URL;
  }

  run(job: SandboxJob): Promise<SandboxResult> {
    const began = performance.now();
    if (this.#closed) return Promise.resolve(failed({ code: 'sandbox_closed', message: 'the sandbox is shutting down' }, began));
    let limits: SandboxLimits;
    try {
      limits = resolveLimits(this.#limits, job.limits);
    } catch (error) {
      return Promise.reject(error);
    }
    // JavaScript goes to QuickJS as written: its parser is the authority on what runs, and its
    // syntax errors point at the right line even where sucrase's do not (inside a parenthesised
    // non-async arrow function sucrase reports the arrow's start).
    const compiled = job.language === 'typescript' ? this.#compiled.compile(job.code, 'typescript') : { ok: true as const, js: job.code };
    if (!compiled.ok) return Promise.resolve(failed(compiled.error, began));
    let inputJson: string;
    try {
      inputJson = JSON.stringify(job.input) ?? 'null';
    } catch (error) {
      return Promise.resolve(failed({ code: 'invalid_input', message: `the input is not JSON data (${String(error)})` }, began));
    }
    return new Promise((resolve) => {
      this.#queue.push({ job, js: compiled.js, inputJson, limits, resolve });
      this.#pump();
    });
  }

  /**
   * Stops taking jobs: queued ones fail with `sandbox_closed`, running ones finish (each within
   * its time limit plus the backstop grace), then the workers are terminated.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const queued of this.#queue.splice(0)) {
      queued.resolve(failed({ code: 'sandbox_closed', message: 'the sandbox is shutting down' }, performance.now()));
    }
    await new Promise<void>((resolve) => {
      this.#onDrained = resolve;
      this.#checkDrained();
    });
    const slots = [...this.#slots];
    this.#slots.clear();
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const slot = this.#idleSlot();
      const queued = slot && this.#queue.shift();
      if (!slot || !queued) return;
      this.#start(slot, queued);
    }
  }

  #idleSlot(): Slot | undefined {
    for (const slot of this.#slots) if (!slot.active) return slot;
    return this.#slots.size < this.#size && !this.#closed ? this.#spawn() : undefined;
  }

  #spawn(): Slot {
    const worker = new Worker(this.#workerUrl, {
      name: 'deskhook-sandbox',
      // The host side of a worker never needs the server's environment or its loader flags.
      env: {},
      execArgv: [],
      resourceLimits: { stackSizeMb: WORKER_STACK_MB, maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    const slot: Slot = { worker, ready: false, active: undefined };
    worker.on('message', (message: FromWorkerMessage) => this.#onMessage(slot, message));
    worker.on('error', (error) => this.#retire(slot, crashed(`the sandbox worker crashed (${error.message})`)));
    worker.on('messageerror', () => this.#retire(slot, crashed('the sandbox worker sent an unreadable message')));
    worker.on('exit', (code) => this.#retire(slot, crashed(`the sandbox worker exited unexpectedly (code ${code})`)));
    // An idle worker must not keep the process alive (a running job's backstop timer does). After
    // the listeners: attaching a 'message' listener refs the worker again.
    worker.unref();
    this.#slots.add(slot);
    return slot;
  }

  #start(slot: Slot, queued: Queued): void {
    const runId = this.#nextRunId++;
    const { timeoutMs } = queued.limits;
    const allowance = slot.ready ? 0 : STARTUP_ALLOWANCE_MS;
    // The worker's interrupt handler ends a run at its deadline; this only catches a worker that
    // cannot answer at all (stuck outside QuickJS's interrupt checks).
    const backstop = setTimeout(() => {
      this.#retire(slot, { code: 'timeout', message: `the run exceeded its time limit of ${timeoutMs} ms and its worker was stopped` });
    }, timeoutMs + BACKSTOP_GRACE_MS + allowance);
    slot.active = { runId, queued, startedAt: performance.now(), backstop };
    const message: RunMessage = {
      type: 'run',
      runId,
      js: queued.js,
      filename: queued.job.language === 'typescript' ? 'custom-code.ts' : 'custom-code.js',
      inputJson: queued.inputJson,
      limits: queued.limits,
    };
    slot.worker.postMessage(message);
  }

  #onMessage(slot: Slot, message: FromWorkerMessage): void {
    if (message.type === 'ready') {
      slot.ready = true;
      return;
    }
    const active = slot.active;
    if (active?.runId !== message.runId) return;
    if (message.type === 'call') {
      void dispatchBridgeCall(active.queued.job.bridge, message.op, message.args).then((reply) => {
        if (slot.active?.runId === message.runId) slot.worker.postMessage(toReplyMessage(message.runId, message.callId, reply));
      });
      return;
    }
    clearTimeout(active.backstop);
    slot.active = undefined;
    active.queued.resolve(toResult(message.result, active.startedAt));
    if (message.retire) this.#retire(slot);
    this.#pump();
    this.#checkDrained();
  }

  /** Removes a worker for good; its running job, if any, fails with `failure`. */
  #retire(slot: Slot, failure?: SandboxError): void {
    if (!this.#slots.delete(slot)) return;
    const active = slot.active;
    slot.active = undefined;
    if (active) {
      clearTimeout(active.backstop);
      active.queued.resolve(failed(failure ?? crashed('the sandbox worker was stopped'), active.startedAt));
    }
    void slot.worker.terminate();
    this.#pump();
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (!this.#onDrained || [...this.#slots].some((slot) => slot.active)) return;
    const resolve = this.#onDrained;
    this.#onDrained = undefined;
    resolve();
  }
}

export function resolveLimits(base: Readonly<SandboxLimits>, override: Partial<SandboxLimits> | undefined): SandboxLimits {
  const limits = { ...base };
  for (const key of Object.keys(DEFAULT_SANDBOX_LIMITS) as Array<keyof SandboxLimits>) {
    const value = override?.[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 1 || value > MAX_SANDBOX_LIMITS[key]) {
      throw new RangeError(`sandbox limit ${key} must be an integer from 1 to ${MAX_SANDBOX_LIMITS[key]}, got ${value}`);
    }
    limits[key] = value;
  }
  return limits;
}

function toResult(result: WorkerResult, startedAt: number): SandboxResult {
  const durationMs = performance.now() - startedAt;
  if (!result.ok) return { ok: false, error: result.error ?? crashed('the sandbox returned no error'), logs: result.logs, durationMs };
  // Runs inside a worker's message event: a throw here would be the server's uncaught exception.
  try {
    return { ok: true, output: JSON.parse(result.outputJson ?? 'null'), logs: result.logs, durationMs };
  } catch {
    return { ok: false, error: crashed('the sandbox returned unreadable output'), logs: result.logs, durationMs };
  }
}

function failed(error: SandboxError, startedAt: number): SandboxResult {
  return { ok: false, error, logs: [], durationMs: performance.now() - startedAt };
}

function crashed(message: string): SandboxError {
  return { code: 'sandbox_crashed', message };
}
