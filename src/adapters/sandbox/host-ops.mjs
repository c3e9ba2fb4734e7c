// What a run waits for outside QuickJS (ctx calls, timers) and the completions on their way in.
// Completions are queued and delivered by the run's event loop between batches of QuickJS jobs,
// never from inside QuickJS, so a reply cannot land in the middle of the script's execution.

/**
 * @typedef {import('quickjs-emscripten-core').QuickJSContext} QuickJSContext
 * @typedef {import('quickjs-emscripten-core').QuickJSHandle} QuickJSHandle
 * @typedef {import('quickjs-emscripten-core').QuickJSDeferredPromise} QuickJSDeferredPromise
 */

/** ctx calls plus timers in flight at once; bounds host timers and queued bridge work. */
export const MAX_PENDING_HOST_OPS = 64;
/** ctx calls per run; a loop of calls ends here rather than at the time limit. */
export const MAX_BRIDGE_CALLS = 1000;

export class HostOps {
  /** @type {Set<QuickJSDeferredPromise>} */ #deferreds = new Set();
  /** @type {Map<number, QuickJSDeferredPromise>} */ #calls = new Map();
  /** @type {Set<ReturnType<typeof setTimeout>>} */ #timers = new Set();
  /** @type {Array<() => void>} */ #ready = [];
  /** @type {(() => void) | undefined} */ #wake;
  #pending = 0;
  #callCount = 0;

  /** @param {QuickJSContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
  }

  /** Calls and timers not yet completed. */
  get pending() {
    return this.#pending;
  }

  /** Registers a ctx call; its promise settles when `complete` is delivered. */
  startCall() {
    if (this.#callCount >= MAX_BRIDGE_CALLS) throw new Error(`a run may make at most ${MAX_BRIDGE_CALLS} ctx calls`);
    const deferred = this.#start();
    const callId = ++this.#callCount;
    this.#calls.set(callId, deferred);
    return { callId, handle: deferred.handle };
  }

  /**
   * Queues the outcome of a ctx call for delivery.
   * @param {number} callId @param {(deferred: QuickJSDeferredPromise) => void} deliver
   */
  complete(callId, deliver) {
    const deferred = this.#calls.get(callId);
    if (!deferred) return;
    this.#calls.delete(callId);
    this.#enqueue(() => {
      this.#pending--;
      deliver(deferred);
    });
  }

  /**
   * A promise that `deliver` settles after `ms`. A timer due after the deadline never fires: the
   * run waits for it and times out.
   * @param {number} ms @param {number} deadline @param {(deferred: QuickJSDeferredPromise) => void} deliver
   */
  sleep(ms, deadline, deliver) {
    const deferred = this.#start();
    const delay = Math.max(0, ms);
    if (delay < deadline - Date.now()) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#enqueue(() => {
          this.#pending--;
          deliver(deferred);
        });
      }, delay);
      this.#timers.add(timer);
    }
    return deferred.handle;
  }

  /** Delivers the completions that have arrived; false when there were none. */
  deliverReady() {
    if (this.#ready.length === 0) return false;
    for (const deliver of this.#ready.splice(0)) deliver();
    return true;
  }

  /** Resolves when a completion arrives or after `ms`. @param {number} ms */
  async wait(ms) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve(undefined);
      };
    });
    this.#wake = undefined;
  }

  /** Host side only: safe after the engine was given up. */
  stopTimers() {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  /** Frees the QuickJS promises; before the context is disposed. */
  dispose() {
    for (const deferred of this.#deferreds) deferred.dispose();
    this.#deferreds.clear();
    this.#calls.clear();
  }

  #start() {
    if (this.#pending >= MAX_PENDING_HOST_OPS) throw new Error(`at most ${MAX_PENDING_HOST_OPS} ctx calls and timers may be pending at once`);
    const deferred = this.ctx.newPromise();
    this.#deferreds.add(deferred);
    this.#pending++;
    return deferred;
  }

  /** @param {() => void} deliver */
  #enqueue(deliver) {
    this.#ready.push(deliver);
    this.#wake?.();
  }
}
