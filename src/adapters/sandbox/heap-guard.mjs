// The memory limit of a run, enforced where the QuickJS wasm heap grows.
//
// quickjs-ng's own limit (`runtime.setMemoryLimit`) does not hold in this build: emscripten has no
// malloc_usable_size, so QuickJS counts every allocation as 8 bytes and only refuses a single
// allocation larger than the limit; a script could fill the worker's heap up to 2 GiB with
// ArrayBuffers. The wasm module imports its memory, so the worker supplies it and decides every
// `grow`: while the script runs ("user" mode) the heap may reach base + memoryBytes; while the
// worker itself copies values in and out ("host" mode) it may reach a headroom above that, so the
// worker's allocations succeed even when the script has used its whole share.
//
// quickjs-emscripten does not check its own mallocs (a failed one is written through address 0),
// so every host allocation of a size the script controls is first tried with `fits`.

/* global WebAssembly -- a Node global the shared lint config does not list */

/** @typedef {import('./types.ts').SandboxLimits} SandboxLimits */

const PAGE_BYTES = 65536;
/** The module's declared minimum (16 MiB): static data, the C stack and the first heap. */
const INITIAL_PAGES = 256;
/** Emscripten's own ceiling for this build (2 GiB). */
const MAX_PAGES = 32768;
const MIB = 1024 * 1024;

/** @param {SandboxLimits} limits */
function hostHeadroom(limits) {
  return 32 * MIB + 4 * limits.maxOutputBytes + 4 * limits.maxLogBytes + Math.ceil(limits.memoryBytes / 10);
}

export class HeapGuard {
  #userLimit = Infinity;
  #hostLimit = Infinity;
  #userMode = false;
  /** Whether the script's share ran out during the current run. */
  refused = false;
  /** @type {((bytes: number) => number) | undefined} */ #malloc;
  /** @type {((pointer: number) => void) | undefined} */ #free;

  constructor() {
    this.memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES });
    this.base = this.memory.buffer.byteLength;
    const memory = this.memory;
    const grow = WebAssembly.Memory.prototype.grow;
    // Emscripten calls `grow` on this very object and treats a throw as "no more memory", which
    // makes malloc return NULL and QuickJS throw `InternalError: out of memory`.
    Object.defineProperty(memory, 'grow', {
      value: (/** @type {number} */ pages) => {
        const limit = this.#userMode ? this.#userLimit : this.#hostLimit;
        if (memory.buffer.byteLength + pages * PAGE_BYTES > limit) {
          if (this.#userMode) this.refused = true;
          throw new RangeError('sandbox heap limit reached');
        }
        return grow.call(memory, pages);
      },
    });
  }

  /**
   * Gives the guard the emscripten allocator of the module built on this memory.
   * @param {{ _malloc(bytes: number): number, _free(pointer: number): void }} emscripten
   */
  attach(emscripten) {
    this.#malloc = (bytes) => emscripten._malloc(bytes);
    this.#free = (pointer) => emscripten._free(pointer);
  }

  /** Whether earlier runs left the heap no larger than this run may grow it anyway. @param {SandboxLimits} limits */
  suits(limits) {
    return this.memory.buffer.byteLength <= this.base + limits.memoryBytes + hostHeadroom(limits);
  }

  /** @param {SandboxLimits} limits */
  budget(limits) {
    this.#userLimit = this.base + limits.memoryBytes;
    this.#hostLimit = this.#userLimit + hostHeadroom(limits);
    this.refused = false;
  }

  /** Whether `bytes` can be allocated in host mode now. */
  fits(/** @type {number} */ bytes) {
    if (!this.#malloc || !this.#free) return false;
    const previous = this.#userMode;
    this.#userMode = false;
    try {
      const pointer = this.#malloc(Math.max(1, Math.ceil(bytes)));
      if (pointer === 0) return false;
      this.#free(pointer);
      return true;
    } finally {
      this.#userMode = previous;
    }
  }

  /** Runs `fn` with the script's share of the heap. @template T @param {() => T} fn @returns {T} */
  user(fn) {
    return this.#withMode(true, fn);
  }

  /** Runs `fn` with the host's headroom. @template T @param {() => T} fn @returns {T} */
  host(fn) {
    return this.#withMode(false, fn);
  }

  /** @template T @param {boolean} userMode @param {() => T} fn @returns {T} */
  #withMode(userMode, fn) {
    const previous = this.#userMode;
    this.#userMode = userMode;
    try {
      return fn();
    } finally {
      this.#userMode = previous;
    }
  }
}
