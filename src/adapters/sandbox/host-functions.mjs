// The three raw functions the prelude builds `ctx`, `console` and timers on: `call` (a ctx call
// to the main thread), `sleep` (a timer) and `log`. They run on the host side of QuickJS, with
// the HeapGuard in host mode, and never copy a string whose size the script chose before
// checking that it fits.

/**
 * @typedef {import('quickjs-emscripten-core').QuickJSContext} QuickJSContext
 * @typedef {import('quickjs-emscripten-core').QuickJSHandle} QuickJSHandle
 * @typedef {import('quickjs-emscripten-core').QuickJSDeferredPromise} QuickJSDeferredPromise
 * @typedef {import('./heap-guard.mjs').HeapGuard} HeapGuard
 * @typedef {import('./host-ops.mjs').HostOps} HostOps
 * @typedef {import('./run-log.mjs').RunLog} RunLog
 * @typedef {import('./protocol.ts').CallMessage} CallMessage
 */

/** JSON of one ctx call's arguments (a request body, a cached value). */
const MAX_CALL_ARGS_CHARS = 8 * 1024 * 1024;
const BRIDGE_OPS = new Set(['fetch', 'secretGet', 'cacheGet', 'cacheSet', 'api']);
/** A JavaScript string takes at most this many UTF-8 bytes per character. */
export const UTF8_PER_CHAR = 3;

/**
 * @param {QuickJSContext} ctx
 * @param {{
 *   guard: HeapGuard,
 *   ops: HostOps,
 *   log: RunLog,
 *   deadline: number,
 *   call: (callId: number, op: CallMessage['op'], args: unknown) => void,
 *   settle: (settle: () => void) => void,
 * }} run
 * @returns {QuickJSHandle} the object the prelude receives as `host`; the caller disposes it
 */
export function newHostObject(ctx, run) {
  const { guard, ops, log } = run;
  const host = ctx.newObject();
  /** @param {string} name @param {(...args: QuickJSHandle[]) => QuickJSHandle} fn */
  const define = (name, fn) => {
    ctx.newFunction(name, (...args) => guard.host(() => fn(...args))).consume((h) => ctx.setProp(host, name, h));
  };

  define('call', (opHandle, argsHandle) => {
    const op = ctx.getString(opHandle);
    if (!BRIDGE_OPS.has(op)) throw new TypeError(`unknown ctx operation '${op}'`);
    const length = stringLength(ctx, argsHandle);
    if (length > MAX_CALL_ARGS_CHARS || !guard.fits(UTF8_PER_CHAR * length)) {
      throw new RangeError(`ctx: the arguments of one call may take at most ${MAX_CALL_ARGS_CHARS} characters of JSON`);
    }
    const args = JSON.parse(ctx.getString(argsHandle));
    const { callId, handle } = ops.startCall();
    run.call(callId, /** @type {CallMessage['op']} */ (op), args);
    return handle;
  });

  define('sleep', (ms) => ops.sleep(ctx.getNumber(ms), run.deadline, (deferred) => run.settle(() => deferred.resolve())));

  define('log', (level, message) => {
    const length = stringLength(ctx, message);
    // The prelude cuts messages to the budget; anything longer did not come from it.
    if (length > log.remaining + 1 || !guard.fits(UTF8_PER_CHAR * length)) return ctx.newNumber(log.remaining);
    return ctx.newNumber(log.add(ctx.getString(level), ctx.getString(message)));
  });

  ctx.newNumber(log.maxBytes).consume((h) => ctx.setProp(host, 'logBudget', h));
  // Unix epoch milliseconds by which the run must end: `ctx.deadline`.
  ctx.newNumber(run.deadline).consume((h) => ctx.setProp(host, 'deadline', h));
  return host;
}

/**
 * The `length` of a QuickJS string, read without copying the string out.
 * @param {QuickJSContext} ctx @param {QuickJSHandle} handle
 */
export function stringLength(ctx, handle) {
  if (ctx.typeof(handle) !== 'string') throw new TypeError('expected a string');
  return ctx.getProp(handle, 'length').consume((h) => ctx.getNumber(h));
}
