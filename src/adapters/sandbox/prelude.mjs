// The script that runs inside QuickJS before the custom code: it builds `ctx`, `console`,
// `setTimeout`/`clearTimeout` and a tracked `Promise` on top of three raw host functions, and
// returns the functions the worker starts a run and checks for unhandled failures with.
//
// Invariant: `installPrelude` is shipped with Function.prototype.toString and evaluated inside
// QuickJS. It must not close over anything in this file and may use only ES2023 built-ins. It
// captures every built-in it relies on before user code runs, so a script that patches
// `JSON.parse` or `Array.prototype.push` only confuses itself.

/** @typedef {import('./run-job.mjs').PreludeHost} PreludeHost */

/** Expression that evaluates to `installPrelude`. */
export const PRELUDE_SOURCE = `(${installPrelude.toString()})`;

/**
 * @param {PreludeHost} host
 */
function installPrelude(host) {
  'use strict';
  const NativePromise = Promise;
  const dateNow = Date.now;
  const nativeThen = NativePromise.prototype.then;
  const { apply, defineProperty } = Reflect;
  const { parse, stringify } = JSON;
  const { create, freeze, keys } = Object;
  const isArray = Array.isArray;
  const weakAdd = WeakSet.prototype.add;
  const weakHas = WeakSet.prototype.has;
  const mapSet = Map.prototype.set;
  const mapDelete = Map.prototype.delete;
  const NativeMap = Map;
  const NativeError = Error;

  /** @type {Array<[string, unknown, unknown]>} [what, promise or undefined, reason] */
  const failures = [];
  const handled = new WeakSet();
  let speciesIsNative = false;

  /** @param {unknown[]} list @param {unknown} item */
  const push = (list, item) => {
    list[list.length] = item;
  };

  // QuickJS-ng has a promise rejection tracker, but quickjs-emscripten 0.32 does not expose it.
  // This subclass notices rejections of every promise made through the global `Promise`
  // (constructor, statics, `.then` chains) and of every ctx promise; a promise counts as handled
  // once `.then` was called on it, which `await`, `.catch`, `.finally` and the combinators all do
  // for a non-native promise. Not seen: a floating call of an `async` function, whose promise is
  // made by the engine itself.
  class TrackedPromise extends NativePromise {
    /** @override @returns {PromiseConstructor} */
    static get [Symbol.species]() {
      return speciesIsNative ? NativePromise : TrackedPromise;
    }
    /** @param {ConstructorParameters<PromiseConstructor>[0]} executor */
    constructor(executor) {
      super(executor);
      speciesIsNative = true;
      try {
        apply(nativeThen, this, [undefined, (/** @type {unknown} */ reason) => push(failures, ['unhandled promise rejection', this, reason])]);
      } finally {
        speciesIsNative = false;
      }
    }
    /** @override @param {any} [onFulfilled] @param {any} [onRejected] */
    then(onFulfilled, onRejected) {
      apply(weakAdd, handled, [this]);
      return apply(nativeThen, this, [onFulfilled, onRejected]);
    }
  }
  defineProperty(TrackedPromise, 'name', { value: 'Promise' });
  defineProperty(TrackedPromise, Symbol.hasInstance, { value: (/** @type {unknown} */ v) => v instanceof NativePromise });

  /** @param {string} op @param {unknown} args @returns {Promise<any>} */
  function call(op, args) {
    const raw = host.call(op, stringify(args));
    return new TrackedPromise((resolve, reject) => {
      apply(nativeThen, raw, [(/** @type {string} */ json) => resolve(parse(json).v), reject]);
    });
  }

  /** @param {() => unknown} body */
  function settle(body) {
    try {
      return body();
    } catch (error) {
      return TrackedPromise.reject(error);
    }
  }

  /** @param {unknown} value @param {string} what */
  function requireString(value, what) {
    if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
    return value;
  }

  // ---- logging ---------------------------------------------------------------------------
  let logBudget = host.logBudget;

  /** @param {unknown} value */
  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof NativeError) {
      const head = `${value.name}: ${value.message}`;
      return typeof value.stack === 'string' && value.stack ? `${head}\n${value.stack}` : head;
    }
    if (typeof value === 'function') return `[Function ${value.name || 'anonymous'}]`;
    if (value === undefined || typeof value === 'symbol' || typeof value === 'bigint') return String(value);
    try {
      return stringify(value) ?? String(value);
    } catch {
      return String(value);
    }
  }

  /** @param {'log' | 'warn' | 'error'} level */
  const logger = (level) => (/** @type {unknown[]} */ ...args) => {
    if (logBudget <= 0) return;
    let message = '';
    for (let i = 0; i < args.length; i++) message += (i === 0 ? '' : ' ') + show(args[i]);
    // A character is at least one UTF-8 byte: anything longer than the budget is cut here, so a
    // huge message is never copied out of QuickJS whole.
    if (message.length > logBudget) message = message.slice(0, logBudget + 1);
    logBudget = host.log(level, message);
  };
  const console = freeze({ log: logger('log'), info: logger('log'), debug: logger('log'), warn: logger('warn'), error: logger('error') });

  // ---- timers: live only as long as the run ------------------------------------------------
  const liveTimers = new NativeMap();
  let nextTimerId = 1;
  /** @param {unknown} callback @param {unknown} delay @param {unknown[]} args */
  function setTimeout(callback, delay, ...args) {
    if (typeof callback !== 'function') throw new TypeError('setTimeout needs a function (strings are not evaluated)');
    const id = nextTimerId++;
    apply(mapSet, liveTimers, [id, true]);
    apply(nativeThen, host.sleep(Number(delay) || 0), [() => {
      if (!apply(mapDelete, liveTimers, [id])) return;
      try {
        apply(callback, undefined, args);
      } catch (error) {
        push(failures, ['uncaught exception in a setTimeout callback', undefined, error]);
      }
    }]);
    return id;
  }
  /** @param {unknown} id */
  function clearTimeout(id) {
    apply(mapDelete, liveTimers, [id]);
  }

  // ---- ctx ----------------------------------------------------------------------------------
  /** @param {unknown} init */
  function headerRecord(init) {
    /** @type {Record<string, string>} */
    const out = {};
    if (init == null) return out;
    const h = /** @type {any} */ (init);
    if (isArray(h)) {
      for (let i = 0; i < h.length; i++) out[String(h[i][0]).toLowerCase()] = String(h[i][1]);
    } else if (typeof h.forEach === 'function' && typeof h.get === 'function') {
      h.forEach((/** @type {unknown} */ v, /** @type {unknown} */ k) => { out[String(k).toLowerCase()] = String(v); });
    } else {
      for (const k of keys(h)) out[k.toLowerCase()] = String(h[k]);
    }
    return out;
  }

  /** @param {string} url @param {{ status: number, headers: Record<string, string>, body: string }} res */
  function toResponse(url, res) {
    /** @type {Record<string, string>} */
    const map = create(null);
    for (const k of keys(res.headers)) map[k.toLowerCase()] = String(res.headers[k]);
    const headers = freeze({
      get: (/** @type {unknown} */ name) => map[String(name).toLowerCase()] ?? null,
      has: (/** @type {unknown} */ name) => String(name).toLowerCase() in map,
      forEach: (/** @type {(v: string, k: string) => void} */ cb) => { for (const k of keys(map)) cb(/** @type {string} */ (map[k]), k); },
      entries: () => keys(map).map((k) => [k, map[k]])[Symbol.iterator](),
    });
    const body = res.body;
    return freeze({
      url,
      status: res.status,
      ok: res.status >= 200 && res.status < 300,
      headers,
      text: () => TrackedPromise.resolve(body),
      json: () => new TrackedPromise((resolve) => resolve(parse(body))),
    });
  }

  /** @param {unknown} resource @param {any} init */
  function fetch(resource, init) {
    return settle(() => {
      const options = init ?? {};
      const url = String(resource);
      const method = options.method === undefined ? 'GET' : String(options.method).toUpperCase();
      const headers = headerRecord(options.headers);
      const body = options.body ?? undefined;
      if (body !== undefined && typeof body !== 'string') throw new TypeError('ctx.fetch: body must be a string (use JSON.stringify)');
      return call('fetch', { url, method, headers, body }).then((res) => toResponse(url, res));
    });
  }

  /** @param {'GET' | 'POST' | 'PATCH'} method @param {unknown} path @param {unknown} body */
  function api(method, path, body) {
    return settle(() => {
      requireString(path, 'ctx.deskhook: path');
      return call('api', { method, path, body }).then((r) => freeze({ status: r.status, ok: r.status >= 200 && r.status < 300, body: r.body }));
    });
  }

  const deadline = host.deadline;
  const ctx = freeze({
    deadline,
    remainingMs: () => {
      const left = deadline - dateNow();
      return left > 0 ? left : 0;
    },
    fetch,
    log: logger('log'),
    secrets: freeze({ get: (/** @type {unknown} */ key) => settle(() => call('secretGet', { key: requireString(key, 'ctx.secrets.get: key') })) }),
    cache: freeze({
      get: (/** @type {unknown} */ key) => settle(() => call('cacheGet', { key: requireString(key, 'ctx.cache.get: key') })),
      set: (/** @type {unknown} */ key, /** @type {unknown} */ value, /** @type {unknown} */ ttlSeconds) => settle(() => {
        requireString(key, 'ctx.cache.set: key');
        if (value === undefined) throw new TypeError('ctx.cache.set: value must be JSON data, not undefined');
        if (typeof ttlSeconds !== 'number' || !(ttlSeconds > 0) || ttlSeconds === Infinity) throw new TypeError('ctx.cache.set: ttlSeconds must be a positive number');
        return call('cacheSet', { key, value, ttlSeconds }).then(() => undefined);
      }),
    }),
    deskhook: freeze({
      get: (/** @type {unknown} */ path) => api('GET', path, undefined),
      post: (/** @type {unknown} */ path, /** @type {unknown} */ body) => api('POST', path, body),
      patch: (/** @type {unknown} */ path, /** @type {unknown} */ body) => api('PATCH', path, body),
    }),
  });

  for (const [name, value] of [['Promise', TrackedPromise], ['console', console], ['setTimeout', setTimeout], ['clearTimeout', clearTimeout]]) {
    defineProperty(globalThis, /** @type {string} */ (name), { value, writable: true, configurable: true, enumerable: false });
  }

  // ---- what the worker calls ------------------------------------------------------------------
  /** @param {any} namespace @param {string} inputJson */
  async function run(namespace, inputJson) {
    const loaded = namespace instanceof NativePromise ? await namespace : namespace;
    const main = loaded.default;
    if (typeof main !== 'function') {
      throw new TypeError('custom code must `export default` a function: export default async function (input, ctx) { … }');
    }
    return await main(parse(inputJson), ctx);
  }

  function takeFailure() {
    for (let i = 0; i < failures.length; i++) {
      const f = /** @type {[string, unknown, unknown]} */ (failures[i]);
      if (f[1] === undefined || !apply(weakHas, handled, [f[1]])) return [f[0], f[2]];
    }
    return undefined;
  }

  return freeze({ run, takeFailure });
}
