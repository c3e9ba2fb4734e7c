import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { dispatchBridgeCall, toReplyMessage } from './bridge-dispatch.ts';
import { CompileCache } from './compile.ts';
import type { FromWorkerMessage, RunMessage, WorkerResult } from './protocol.ts';
import { DEFAULT_SANDBOX_LIMITS, MAX_SANDBOX_LIMITS } from './types.ts';
import type { SandboxError, SandboxJob, SandboxLane, SandboxLimits, SandboxResult } from './types.ts';

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
/** A job with less than this left of its time limit when a worker frees up fails with `timeout` instead of starting. */
const MIN_RUN_MS = 20;
/** Jobs one lane may hold waiting for a worker before further ones fail with `sandbox_busy`. */
const DEFAULT_MAX_QUEUED = 64;
const LANES: readonly SandboxLane[] = ['interactive', 'background'];

export interface SandboxPoolOptions {
  /** Worker threads, each running one job at a time. Default: min(4, cores). */
  size?: number;
  /** Defaults for every job; a job's own `limits` override them. */
  limits?: Partial<SandboxLimits>;
  /** Jobs each lane holds waiting for a worker; one more fails at once with `sandbox_busy`. Default 64. */
  maxQueued?: number;
  /** Called when a job leaves its queue for a worker, with how long it waited. */
  onDispatch?: (lane: SandboxLane, waitedMs: number) => void;
  /** @internal Worker entry; tests substitute one that crashes or hangs on demand. */
  workerUrl?: URL;
}

interface Queued {
  job: SandboxJob;
  lane: SandboxLane;
  js: string;
  inputJson: string;
  limits: SandboxLimits;
  /** `performance.now()` when it was queued, and by when it must be over (queue wait included). */
  queuedAt: number;
  deadline: number;
  queuedMs: number;
  /** Fails the job with `timeout` if it is still waiting at its deadline. */
  expiry: NodeJS.Timeout | undefined;
  resolve: (result: SandboxResult) => void;
}

/** What /metrics shows of the pool. */
export interface SandboxPoolStats {
  size: number;
  lanes: Record<SandboxLane, { queued: number; running: number }>;
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
 *
 * Jobs wait in one bounded queue per lane. `interactive` jobs (someone is waiting) always start
 * first, and with two or more workers `background` jobs (test runs, event hooks) may occupy all
 * but one, so spinning background code cannot keep a synchronous hook from a worker. A job's time
 * limit counts from when it was queued: one still waiting at its deadline fails with `timeout`
 * without running, one that starts late gets only the rest of its time.
 */
export class SandboxPool {
  readonly #size: number;
  readonly #limits: SandboxLimits;
  readonly #workerUrl: URL;
  readonly #compiled = new CompileCache();
  readonly #slots = new Set<Slot>();
  readonly #queues: Record<SandboxLane, Queued[]> = { interactive: [], background: [] };
  readonly #maxQueued: number;
  /** Workers background jobs may occupy at once: all but one when there are two or more. */
  readonly #backgroundWorkers: number;
  readonly #onDispatch: SandboxPoolOptions['onDispatch'];
  #nextRunId = 1;
  #closed = false;
  #onDrained: (() => void) | undefined;

  constructor(opts: SandboxPoolOptions = {}) {
    const size = opts.size ?? Math.min(4, availableParallelism());
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`SandboxPool size must be a positive integer, got ${size}`);
    this.#size = size;
    const maxQueued = opts.maxQueued ?? DEFAULT_MAX_QUEUED;
    if (!Number.isInteger(maxQueued) || maxQueued < 0) throw new RangeError(`SandboxPool maxQueued must be a whole number, got ${maxQueued}`);
    this.#maxQueued = maxQueued;
    this.#backgroundWorkers = size >= 2 ? size - 1 : size;
    this.#onDispatch = opts.onDispatch;
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
    const lane: SandboxLane = job.lane ?? 'interactive';
    const queue = this.#queues[lane];
    // Jobs only wait when no worker can take them; a full queue answers at once.
    if (queue.length >= this.#maxQueued && !this.#canStart(lane)) {
      return Promise.resolve(failed({
        code: 'sandbox_busy',
        message: `the sandbox is busy: ${queue.length} ${lane} runs are already waiting for a worker; try again later`,
      }, began));
    }
    return new Promise((resolve) => {
      const queued: Queued = {
        job, lane, js: compiled.js, inputJson, limits, queuedAt: began, deadline: began + limits.timeoutMs, queuedMs: 0, expiry: undefined, resolve,
      };
      queue.push(queued);
      this.#pump();
      if (queue.includes(queued)) queued.expiry = setTimeout(() => this.#expire(queued), limits.timeoutMs);
    });
  }

  /** Jobs waiting and running per lane. */
  stats(): SandboxPoolStats {
    const lanes = { interactive: { queued: this.#queues.interactive.length, running: 0 }, background: { queued: this.#queues.background.length, running: 0 } };
    for (const slot of this.#slots) if (slot.active) lanes[slot.active.queued.lane].running++;
    return { size: this.#size, lanes };
  }

  /**
   * Stops taking jobs: queued ones fail with `sandbox_closed`, running ones finish (each within
   * its time limit plus the backstop grace), then the workers are terminated.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const lane of LANES) {
      for (const queued of this.#queues[lane].splice(0)) {
        clearTimeout(queued.expiry);
        queued.resolve(failed({ code: 'sandbox_closed', message: 'the sandbox is shutting down' }, performance.now()));
      }
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
    for (;;) {
      const lane = LANES.find((l) => this.#queues[l].length > 0 && this.#canStart(l));
      if (!lane) return;
      const slot = this.#idleSlot();
      if (!slot) return;
      const queued = this.#queues[lane].shift()!;
      clearTimeout(queued.expiry);
      if (queued.deadline - performance.now() < MIN_RUN_MS) {
        this.#timedOutWaiting(queued);
        continue;
      }
      this.#start(slot, queued);
    }
  }

  /** Whether a job of `lane` could have a worker now (an idle one or a new one). */
  #canStart(lane: SandboxLane): boolean {
    let running = 0;
    let laneRunning = 0;
    for (const slot of this.#slots) {
      if (!slot.active) continue;
      running++;
      if (slot.active.queued.lane === lane) laneRunning++;
    }
    if (running >= this.#size) return false;
    return lane === 'interactive' || laneRunning < this.#backgroundWorkers;
  }

  /** A job whose deadline passed while it waited: it fails without running. */
  #expire(queued: Queued): void {
    const queue = this.#queues[queued.lane];
    const at = queue.indexOf(queued);
    if (at < 0) return;
    queue.splice(at, 1);
    this.#timedOutWaiting(queued);
  }

  #timedOutWaiting(queued: Queued): void {
    const waited = Math.round(performance.now() - queued.queuedAt);
    queued.resolve({
      ...failed({ code: 'timeout', message: `the run exceeded its time limit of ${queued.limits.timeoutMs} ms waiting ${waited} ms for a free sandbox worker` }, performance.now()),
      queuedMs: waited,
    });
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
    const now = performance.now();
    queued.queuedMs = now - queued.queuedAt;
    this.#onDispatch?.(queued.lane, queued.queuedMs);
    const remaining = Math.max(1, queued.deadline - now);
    const allowance = slot.ready ? 0 : STARTUP_ALLOWANCE_MS;
    // The worker's interrupt handler ends a run at its deadline; this only catches a worker that
    // cannot answer at all (stuck outside QuickJS's interrupt checks).
    const backstop = setTimeout(() => {
      this.#retire(slot, { code: 'timeout', message: `the run exceeded its time limit of ${timeoutMs} ms and its worker was stopped` });
    }, remaining + BACKSTOP_GRACE_MS + allowance);
    slot.active = { runId, queued, startedAt: now, backstop };
    const message: RunMessage = {
      type: 'run',
      runId,
      js: queued.js,
      filename: queued.job.language === 'typescript' ? 'custom-code.ts' : 'custom-code.js',
      inputJson: queued.inputJson,
      limits: queued.limits,
      remainingMs: Math.round(remaining),
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
    active.queued.resolve({ ...toResult(message.result, active.startedAt), queuedMs: active.queued.queuedMs });
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
      active.queued.resolve({ ...failed(failure ?? crashed('the sandbox worker was stopped'), active.startedAt), queuedMs: active.queued.queuedMs });
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
