// One run of custom code in a fresh QuickJS runtime, inside a sandbox worker thread.
// Plain JavaScript for the reason given in worker.mjs.

import { newHostObject, stringLength, UTF8_PER_CHAR } from './host-functions.mjs';
import { HostOps } from './host-ops.mjs';
import { OUTPUT_SOURCE } from './prelude-output.mjs';
import { PRELUDE_SOURCE } from './prelude.mjs';
import { hostFailure, isRunFailure, RunFailure, stackOverflowHint } from './run-failure.mjs';
import { RunLog } from './run-log.mjs';

/**
 * @typedef {import('quickjs-emscripten-core').QuickJSWASMModule} QuickJSWASMModule
 * @typedef {import('quickjs-emscripten-core').QuickJSRuntime} QuickJSRuntime
 * @typedef {import('quickjs-emscripten-core').QuickJSContext} QuickJSContext
 * @typedef {import('quickjs-emscripten-core').QuickJSHandle} QuickJSHandle
 * @typedef {import('./heap-guard.mjs').HeapGuard} HeapGuard
 * @typedef {import('./protocol.ts').RunMessage} RunMessage
 * @typedef {import('./protocol.ts').ReplyMessage} ReplyMessage
 * @typedef {import('./protocol.ts').FromWorkerMessage} FromWorkerMessage
 * @typedef {import('./protocol.ts').WorkerResult} WorkerResult
 * @typedef {import('./types.ts').SandboxOwnErrorCode} SandboxOwnErrorCode
 * @typedef {{ call(op: string, argsJson: string): Promise<string>, sleep(ms: number): Promise<void>, log(level: string, message: string): number, logBudget: number, deadline: number }} PreludeHost
 * @typedef {{ run: QuickJSHandle, serialize: QuickJSHandle, describe: QuickJSHandle, takeFailure: QuickJSHandle, tag: QuickJSHandle }} PreludeApi
 */

/**
 * QuickJS stack limit (about 2,700 plain JavaScript frames). QuickJS measures its own stack in
 * wasm linear memory, which holds several MiB in this build (4 MiB ran clean), but the wasm
 * frames also live on the worker's native stack, which some paths (the parser, JSON on deep
 * nesting) use 16-24x faster; overrunning that is a host RangeError that leaves the module
 * unusable. WORKER_STACK_MB in pool.ts keeps the native stack >= 64x this.
 */
export const QUICKJS_STACK_BYTES = 512 * 1024;
const BRIDGE_ERROR_CODE = /^[a-z][a-z0-9_]{0,63}$/;
/** Bridge error messages reach the script and the result; they stay short. */
const MAX_BRIDGE_MESSAGE_CHARS = 2000;

export class SandboxRun {
  /** @type {QuickJSRuntime | undefined} */ #rt;
  /** @type {QuickJSContext | undefined} */ #ctx;
  /** @type {PreludeApi | undefined} */ #api;
  /** @type {QuickJSHandle[]} handles this run owns, disposed before the context */ #owned = [];
  /** @type {HostOps | undefined} */ #ops;
  /** @type {string[]} codes of the errors made for failed ctx calls, by the index the prelude tagged them with */ #bridgeCodes = [];
  #interrupted = false;
  #deadline = 0;

  /**
   * @param {QuickJSWASMModule} quickjs
   * @param {HeapGuard} guard
   * @param {RunMessage} job
   * @param {(message: FromWorkerMessage) => void} send
   */
  constructor(quickjs, guard, job, send) {
    this.quickjs = quickjs;
    this.guard = guard;
    this.job = job;
    this.send = send;
    this.log = new RunLog(job.limits.maxLogBytes);
  }

  get runId() {
    return this.job.runId;
  }

  /**
   * Never throws. `discardEngine` is set when the wasm module must not run anything again: a
   * host-side exception escaped it (it may have stopped half-way through a call), or the
   * interrupt handler stopped the script. quickjs-ng can leave a reference count behind when it is
   * interrupted between promise jobs, and then aborts on an assertion when the runtime is freed;
   * such a runtime is dropped with its module instead of freed.
   * @returns {Promise<{ result: WorkerResult, discardEngine: boolean }>}
   */
  async execute() {
    // A run that waited for a worker has only what is left of its time limit (`remainingMs`).
    this.#deadline = Date.now() + Math.min(this.job.limits.timeoutMs, this.job.remainingMs ?? Number.POSITIVE_INFINITY);
    this.guard.budget(this.job.limits);
    /** @type {WorkerResult} */
    let result;
    let discardEngine = false;
    try {
      result = { ok: true, outputJson: await this.#execute(), logs: this.log.entries };
    } catch (error) {
      discardEngine = !isRunFailure(error);
      const failure = isRunFailure(error) ? error : hostFailure(error);
      result = { ok: false, error: failure.toError(), logs: this.log.entries };
    }
    this.#ops?.stopTimers();
    if (this.#interrupted) discardEngine = true;
    if (!discardEngine) {
      try {
        this.#dispose();
      } catch {
        discardEngine = true;
      }
    }
    return { result, discardEngine };
  }

  /** @param {ReplyMessage} reply */
  onReply(reply) {
    this.#ops?.complete(reply.callId, (deferred) => {
      const ctx = /** @type {QuickJSContext} */ (this.#ctx);
      if (reply.ok && this.guard.fits(UTF8_PER_CHAR * reply.valueJson.length)) {
        ctx.newString(reply.valueJson).consume((h) => this.#settleDeferred(() => deferred.resolve(h)));
        return;
      }
      const failed = reply.ok ? { message: "ctx: the host's reply does not fit into this run's memory limit" } : reply.error;
      const code = failed.code !== undefined && BRIDGE_ERROR_CODE.test(failed.code) ? failed.code : 'bridge_error';
      const error = this.#own(ctx.newError({ name: 'Error', message: failed.message.slice(0, MAX_BRIDGE_MESSAGE_CHARS) }));
      if (code !== 'bridge_error') ctx.newString(code).consume((h) => ctx.setProp(error, 'code', h));
      // Only the prelude's tag, out of the script's reach, lets this code through as the run's code.
      const index = this.#own(ctx.newNumber(this.#bridgeCodes.push(code) - 1));
      this.#call(/** @type {PreludeApi} */ (this.#api).tag, [error, index], 'runtime_error');
      this.#settleDeferred(() => deferred.reject(error));
    });
  }

  /** @returns {Promise<string>} the output JSON */
  async #execute() {
    const { js, filename, inputJson, limits } = this.job;
    const rt = (this.#rt = this.quickjs.newRuntime());
    // Refuses single allocations above the limit early; accumulation is the HeapGuard's job.
    rt.setMemoryLimit(limits.memoryBytes);
    rt.setMaxStackSize(QUICKJS_STACK_BYTES);
    rt.setInterruptHandler(() => {
      if (Date.now() <= this.#deadline) return false;
      this.#interrupted = true;
      return true;
    });
    rt.setModuleLoader((name) => ({
      error: new Error(`cannot import '${name}': custom code cannot load modules; use ctx.fetch, ctx.secrets, ctx.cache or ctx.deskhook`),
    }));
    const ctx = (this.#ctx = rt.newContext());
    this.#ops = new HostOps(ctx);
    const api = this.#installPrelude(ctx);

    if (!this.guard.fits(4 * js.length)) throw this.#memoryLimit('the code does not fit into');
    // Parse first, alone: its errors are syntax errors (static imports fail here too), while the
    // same SyntaxError class thrown by running code (JSON.parse) is a runtime error.
    const parsed = this.guard.user(() => ctx.evalCode(js, filename, { type: 'module', compileOnly: true }));
    if (parsed.error) throw this.#failure(this.#own(parsed.error), 'syntax_error');
    parsed.value.dispose();
    const evaluated = this.guard.user(() => ctx.evalCode(js, filename, { type: 'module' }));
    if (evaluated.error) throw this.#failure(this.#own(evaluated.error), 'runtime_error');
    const namespace = this.#own(evaluated.value);

    if (!this.guard.fits(UTF8_PER_CHAR * inputJson.length)) throw this.#memoryLimit('the input does not fit into');
    const input = this.#own(ctx.newString(inputJson));
    const pending = this.guard.user(() => this.#call(api.run, [namespace, input], 'runtime_error'));
    const value = await this.#settle(pending);
    this.#throwUnhandled();

    const maxBytes = this.#own(ctx.newNumber(limits.maxOutputBytes));
    const json = this.guard.user(() => this.#call(api.serialize, [value, maxBytes], 'invalid_output'));
    if (ctx.typeof(json) !== 'string') throw outputTooLarge(limits.maxOutputBytes);
    // A character takes at least one UTF-8 byte: an over-long string is rejected uncopied.
    const length = stringLength(ctx, json);
    if (length > limits.maxOutputBytes) throw outputTooLarge(limits.maxOutputBytes);
    if (!this.guard.fits(UTF8_PER_CHAR * length)) throw this.#memoryLimit('the output does not fit into');
    const outputJson = ctx.getString(json);
    if (Buffer.byteLength(outputJson) > limits.maxOutputBytes) throw outputTooLarge(limits.maxOutputBytes);
    return outputJson;
  }

  /** Drives QuickJS jobs and host events until `promise` settles. @param {QuickJSHandle} promise */
  async #settle(promise) {
    const ctx = /** @type {QuickJSContext} */ (this.#ctx);
    const rt = /** @type {QuickJSRuntime} */ (this.#rt);
    const ops = /** @type {HostOps} */ (this.#ops);
    for (;;) {
      const jobs = this.guard.user(() => rt.executePendingJobs());
      if (jobs.error) throw this.#failure(this.#own(jobs.error), 'runtime_error');
      const state = ctx.getPromiseState(promise);
      if (state.type === 'fulfilled') return this.#own(state.value);
      if (state.type === 'rejected') throw this.#failure(this.#own(state.error), 'runtime_error');
      if (ops.deliverReady()) continue;
      if (ops.pending === 0) {
        // Out of memory, promise jobs fail and chains stop half-way: not the script's doing.
        if (this.guard.refused) throw this.#memoryLimit();
        this.#throwUnhandled();
        throw new RunFailure('runtime_error', 'the run never settles: it awaits a promise that nothing will resolve');
      }
      const remaining = this.#deadline - Date.now();
      if (remaining <= 0) throw this.#timeout();
      await ops.wait(remaining);
    }
  }

  /** An unhandled rejection or a throwing timer callback fails the run, as it would crash Node. */
  #throwUnhandled() {
    const ctx = /** @type {QuickJSContext} */ (this.#ctx);
    const result = ctx.callFunction(/** @type {PreludeApi} */ (this.#api).takeFailure, ctx.undefined);
    if (result.error) {
      // Prelude code fails only when memory or time ran out (a push lost to OOM, say).
      result.error.dispose();
      throw this.#interrupted ? this.#timeout() : this.#memoryLimit();
    }
    const failure = this.#own(result.value);
    if (ctx.typeof(failure) === 'undefined') return;
    const what = ctx.getString(this.#own(ctx.getProp(failure, 0)));
    throw this.#failure(this.#own(ctx.getProp(failure, 1)), 'runtime_error', what);
  }

  /** @param {QuickJSContext} ctx @returns {PreludeApi} */
  #installPrelude(ctx) {
    const host = this.#own(
      newHostObject(ctx, {
        guard: this.guard,
        ops: /** @type {HostOps} */ (this.#ops),
        log: this.log,
        deadline: this.#deadline,
        call: (callId, op, args) => this.send({ type: 'call', runId: this.runId, callId, op, args }),
        settle: (settle) => this.#settleDeferred(settle),
      }),
    );
    /** @param {string} source @param {string} filename @param {QuickJSHandle[]} args */
    const install = (source, filename, args) => {
      const fn = this.#own(ctx.unwrapResult(ctx.evalCode(source, filename, { type: 'global', strict: true })));
      const api = this.#call(fn, args, 'sandbox_crashed');
      return (/** @type {string} */ key) => this.#own(ctx.getProp(api, key));
    };
    const prelude = install(PRELUDE_SOURCE, 'deskhook-prelude.js', [host]);
    const output = install(OUTPUT_SOURCE, 'deskhook-output.js', []);
    this.#api = { run: prelude('run'), takeFailure: prelude('takeFailure'), serialize: output('serialize'), describe: output('describe'), tag: output('tag') };
    return this.#api;
  }

  /** Settling enqueues QuickJS jobs, which can only fail for lack of memory or time. @param {() => void} settle */
  #settleDeferred(settle) {
    try {
      settle();
    } catch (error) {
      if (this.#interrupted) throw this.#timeout();
      if (/out of memory/.test(String(/** @type {any} */ (error)?.cause?.message ?? error))) throw this.#memoryLimit();
      throw error;
    }
  }

  /**
   * Calls a prelude function; a QuickJS exception becomes a RunFailure with `code`.
   * @param {QuickJSHandle} fn @param {QuickJSHandle[]} args @param {SandboxOwnErrorCode} code
   */
  #call(fn, args, code) {
    const ctx = /** @type {QuickJSContext} */ (this.#ctx);
    const result = ctx.callFunction(fn, ctx.undefined, args);
    if (result.error) throw this.#failure(this.#own(result.error), code);
    return this.#own(result.value);
  }

  /**
   * Classifies an exception of the script. The deadline and the memory limit win over `code`.
   * @param {QuickJSHandle} error @param {SandboxOwnErrorCode} code @param {string} [what]
   */
  #failure(error, code, what) {
    if (this.#interrupted) return this.#timeout();
    const ctx = /** @type {QuickJSContext} */ (this.#ctx);
    const describe = this.#api?.describe;
    const described = describe ? this.guard.host(() => ctx.callFunction(describe, ctx.undefined, error)) : undefined;
    if (described?.error) {
      described.error.dispose();
      // Describing runs a few lines of prelude code: only the deadline or memory stops it.
      return this.#interrupted ? this.#timeout() : this.#memoryLimit();
    }
    /** @type {{ name: string, message: string, stack: string, bridge: number }} */
    const d = described ? JSON.parse(ctx.getString(this.#own(described.value))) : { name: '', message: 'the error could not be described', stack: '', bridge: -1 };
    if (d.name === 'InternalError' && d.message === 'out of memory') return this.#memoryLimit();
    // Out of memory, QuickJS may not manage to build its error object and throws null instead.
    if (this.guard.refused && !d.name && /^Uncaught (?:null|undefined)$/.test(d.message)) return this.#memoryLimit();
    let message = d.name ? `${d.name}: ${d.message}` : d.message;
    if (what) message = `${what}: ${message}`;
    return new RunFailure(this.#bridgeCodes[d.bridge] ?? code, message + stackOverflowHint(d), d.stack);
  }

  #timeout() {
    return new RunFailure('timeout', `the run exceeded its time limit of ${this.job.limits.timeoutMs} ms`);
  }

  #memoryLimit(what = 'the run exceeded') {
    return new RunFailure('memory_limit', `${what} the memory limit of ${this.job.limits.memoryBytes} bytes`);
  }

  /** @template {QuickJSHandle} T @param {T} handle @returns {T} */
  #own(handle) {
    this.#owned.push(handle);
    return handle;
  }

  /** Every host-held handle must be freed before the runtime, or QuickJS aborts on an assertion. */
  #dispose() {
    this.#ops?.dispose();
    for (const handle of this.#owned.reverse()) if (handle.alive) handle.dispose();
    this.#owned = [];
    this.#ctx?.dispose();
    this.#rt?.dispose();
  }
}

/** @param {number} max */
function outputTooLarge(max) {
  return new RunFailure('output_too_large', `the output is larger than ${max} bytes of JSON`);
}
