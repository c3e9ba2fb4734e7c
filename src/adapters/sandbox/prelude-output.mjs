// The second script that runs inside QuickJS before the custom code: it returns the functions
// the worker turns the script's output and errors into plain data with.
//
// Invariant, as for prelude.mjs: `installOutput` is shipped with Function.prototype.toString and
// evaluated inside QuickJS, so it closes over nothing here and captures the built-ins it uses
// before user code runs.

/** Expression that evaluates to `installOutput`. */
export const OUTPUT_SOURCE = `(${installOutput.toString()})`;

function installOutput() {
  'use strict';
  const { apply } = Reflect;
  const { stringify } = JSON;
  const { create, freeze, keys, setPrototypeOf } = Object;
  const isArray = Array.isArray;
  const weakMapGet = WeakMap.prototype.get;
  const weakMapSet = WeakMap.prototype.set;
  const NativeMap = Map;
  const NativeSet = Set;
  const NativeNumber = Number;
  const NativeString = String;
  const NativeBoolean = Boolean;
  const finite = Number.isFinite;
  const setHas = Set.prototype.has;
  const setAdd = Set.prototype.add;
  const setDelete = Set.prototype.delete;
  const MAX_OUTPUT_DEPTH = 256;
  const MAX_MESSAGE_CHARS = 2000;
  const MAX_STACK_CHARS = 8000;
  /** Errors the host made for failed ctx calls, with their index in the host's list. */
  const bridgeErrors = new WeakMap();

  /**
   * The output as JSON, or undefined once its JSON is sure to pass `maxBytes`. Copies the value
   * into plain data first, in interruptible JavaScript with a depth limit: QuickJS's native
   * JSON.stringify takes quadratic time on deep nesting and cannot be interrupted.
   * @param {unknown} value @param {number} maxBytes
   */
  function serialize(value, maxBytes) {
    const ancestors = new NativeSet();
    let size = 0; // a lower bound of the JSON's UTF-8 size
    /** @param {unknown} v @param {string} key @param {number} depth @returns {unknown} */
    const copy = (v, key, depth) => {
      if ((typeof v === 'object' && v !== null) || typeof v === 'bigint') {
        const toJSON = /** @type {any} */ (v).toJSON;
        if (typeof toJSON === 'function') v = apply(toJSON, v, [key]);
      }
      const where = depth === 0 ? 'the output' : `the output's "${key}"`;
      if (v === null) return (size += 4), null;
      if (typeof v === 'string') return (size += v.length + 2), v;
      if (typeof v === 'number') return (size += 1), finite(v) ? v : null;
      if (typeof v === 'boolean') return (size += 4), v;
      if (v === undefined) return undefined;
      if (typeof v !== 'object') throw new TypeError(`${where} is a ${typeof v === 'bigint' ? 'BigInt' : typeof v}; return JSON data only`);
      if (v instanceof NativeMap || v instanceof NativeSet) throw new TypeError(`${where} is a Map or Set; return JSON data only`);
      if (v instanceof NativeNumber || v instanceof NativeString || v instanceof NativeBoolean) return copy(v.valueOf(), key, depth);
      if (depth >= MAX_OUTPUT_DEPTH) throw new TypeError(`the output is nested deeper than ${MAX_OUTPUT_DEPTH} levels`);
      if (apply(setHas, ancestors, [v])) throw new TypeError(`the output has a circular reference at "${key}"`);
      apply(setAdd, ancestors, [v]);
      // Null prototypes: no setter or toJSON the script planted on a prototype touches the copy,
      // so plain assignment defines own data properties (`__proto__` included).
      /** @type {any} */
      let out;
      if (isArray(v)) {
        out = setPrototypeOf([], null);
        for (let i = 0; i < v.length && size <= maxBytes; i++) {
          size += 1;
          const item = copy(v[i], `${i}`, depth + 1);
          out[i] = item === undefined ? null : item;
        }
      } else {
        out = create(null);
        const names = keys(v);
        for (let i = 0; i < names.length && size <= maxBytes; i++) {
          const name = /** @type {string} */ (names[i]);
          const item = copy(/** @type {any} */ (v)[name], name, depth + 1);
          if (item !== undefined) out[name] = item;
          size += name.length + 4;
        }
      }
      apply(setDelete, ancestors, [v]);
      size += 2;
      return out;
    };
    const data = copy(value, '', 0);
    if (size > maxBytes) return undefined;
    return data === undefined ? 'null' : stringify(data);
  }

  /** @param {object} error @param {number} index */
  function tag(error, index) {
    apply(weakMapSet, bridgeErrors, [error, index]);
  }

  /** @param {unknown} error */
  function describe(error) {
    const index = error !== null && typeof error === 'object' ? apply(weakMapGet, bridgeErrors, [error]) : undefined;
    const d = { name: '', message: '', stack: '', bridge: typeof index === 'number' ? index : -1 };
    if (error !== null && (typeof error === 'object' || typeof error === 'function')) {
      const e = /** @type {any} */ (error);
      try { d.name = e.name == null ? '' : String(e.name).slice(0, 100); } catch { /* keep empty */ }
      try { d.message = e.message == null ? '' : String(e.message).slice(0, MAX_MESSAGE_CHARS); } catch { /* keep empty */ }
      try { d.stack = typeof e.stack === 'string' ? e.stack.slice(0, MAX_STACK_CHARS) : ''; } catch { /* keep empty */ }
      if (!d.name && !d.message) {
        try { d.message = `Uncaught ${stringify(error) ?? String(error)}`.slice(0, MAX_MESSAGE_CHARS); } catch { d.message = 'Uncaught non-error value'; }
      }
    } else {
      try { d.message = `Uncaught ${typeof error === 'string' ? stringify(error) : String(error)}`.slice(0, MAX_MESSAGE_CHARS); } catch { d.message = 'Uncaught value'; }
    }
    return stringify(d);
  }

  return freeze({ serialize, describe, tag });
}
