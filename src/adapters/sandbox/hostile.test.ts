import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noBridge } from './fixtures/bridges.ts';
import { SandboxPool } from './pool.ts';
import type { SandboxLimits, SandboxResult } from './types.ts';

// Hostile scripts, each run beside well-behaved ones on the same pool: the hostile run must fail
// alone, with its own code, while the others succeed.

// Scripts that spin get a short time limit; the rest a long one, so that on a loaded machine only
// the spinning ones can time out.
const LIMITS: Partial<SandboxLimits> = { timeoutMs: 10_000, memoryBytes: 16 * 1024 * 1024 };
const SPIN_LIMITS: Partial<SandboxLimits> = { timeoutMs: 700 };
const CANARY = 'export default async (input) => ({ sum: input.a + input.b })';

let pool: SandboxPool;
beforeAll(() => {
  pool = new SandboxPool({ size: 3, limits: LIMITS });
});
afterAll(() => pool.close());

function js(code: string, input: unknown = null, limits?: Partial<SandboxLimits>): Promise<SandboxResult> {
  return pool.run(limits ? { code, language: 'javascript', input, bridge: noBridge, limits } : { code, language: 'javascript', input, bridge: noBridge });
}

function limitsFor(errorCode: string): Partial<SandboxLimits> | undefined {
  return errorCode === 'timeout' ? SPIN_LIMITS : undefined;
}

async function runBeside(code: string, errorCode: string): Promise<SandboxResult> {
  const [hostile, ...canaries] = await Promise.all([js(code, null, limitsFor(errorCode)), js(CANARY, { a: 1, b: 2 }), js(CANARY, { a: 3, b: 4 })]);
  expect(canaries.map((c) => c.output)).toEqual([{ sum: 3 }, { sum: 7 }]);
  return hostile as SandboxResult;
}

type Case = [name: string, code: string, errorCode: string, message: RegExp];

const CASES: Case[] = [
  ['an infinite loop', 'export default () => { while (true) {} }', 'timeout', /time limit of 700 ms/],
  ['a loop that tries to catch the interrupt', 'export default () => { for (;;) { try { while (true) {} } catch {} } }', 'timeout', /time limit/],
  ['a microtask storm', 'export default () => { const spin = () => { Promise.resolve().then(spin); }; spin(); return new Promise(() => {}); }', 'timeout', /time limit/],
  ['a promise chain that grows without end', 'export default () => { const grow = () => Promise.resolve().then(grow); return grow(); }', 'memory_limit', /memory limit/],
  ['a thrown value whose getter spins', 'export default () => { throw { get message() { while (true) {} } }; }', 'timeout', /time limit/],
  ['a timer due after the deadline', 'export default () => new Promise((resolve) => setTimeout(resolve, 60000))', 'timeout', /time limit/],
  ['a native loop the interrupt cannot see', 'export default () => { const s = "ab".repeat(2e5); for (;;) s.split(""); }', 'timeout', /worker was stopped/],
  ['a memory bomb of buffers', 'export default () => { const keep = []; for (;;) keep.push(new ArrayBuffer(1 << 20)); }', 'memory_limit', /memory limit of 16777216 bytes/],
  ['a memory bomb of objects', 'export default () => { const keep = []; for (let i = 0; ; i++) keep.push({ i, s: "item " + i }); }', 'memory_limit', /memory limit/],
  ['deep recursion', 'function down(n) { return down(n + 1) + 1; }\nexport default () => down(0)', 'runtime_error', /RangeError: .*stack overflow/],
  ['deeply nested JSON.parse', 'export default () => JSON.parse("[".repeat(1e5) + "]".repeat(1e5))', 'runtime_error', /stack overflow/],
  ['a parser bomb through eval', 'export default () => eval("(".repeat(1e5) + "1" + ")".repeat(1e5))', 'runtime_error', /stack overflow/],
  ['a huge output', 'export default () => "x".repeat(2 * 1024 * 1024)', 'output_too_large', /larger than 1048576 bytes/],
  ['a huge output of small parts', 'export default () => Array.from({ length: 200000 }, (_, i) => "item " + i)', 'output_too_large', /1048576/],
  ['deeply nested output', 'export default () => { let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; return o; }', 'invalid_output', /nested deeper than 256 levels/],
  ['a function in the output', 'export default () => ({ callback() {} })', 'invalid_output', /"callback" is a function/],
  ['a BigInt output', 'export default () => ({ n: 10n })', 'invalid_output', /BigInt/i],
  ['a circular output', 'export default () => { const o = {}; o.self = o; return o; }', 'invalid_output', /circular/i],
  ['a Map output', 'export default () => new Map([[1, 2]])', 'invalid_output', /Map or Set/],
  ['a symbol output', 'export default () => Symbol("s")', 'invalid_output', /symbol/],
  ['require()', 'export default () => require("fs")', 'runtime_error', /ReferenceError: .*require/],
  ['process', 'export default () => process.exit(1)', 'runtime_error', /ReferenceError: .*process/],
  ['a dynamic import', 'export default async () => (await import("fs")).readFileSync("/etc/passwd", "utf8")', 'runtime_error', /cannot import 'fs': custom code cannot load modules/],
  ['a static import', 'import fs from "fs";\nexport default () => fs.readFileSync("/etc/passwd", "utf8")', 'syntax_error', /cannot import 'fs'/],
  ['a static import of node:child_process', 'import { execSync } from "node:child_process";\nexport default () => String(execSync("id"))', 'syntax_error', /cannot import 'node:child_process'/],
  ['an unhandled rejection', 'export default async () => { Promise.reject(new Error("nobody listens")); return 1; }', 'runtime_error', /unhandled promise rejection: Error: nobody listens/],
  ['a lost rejection of new Promise', 'export default async () => { new Promise((_, reject) => reject(new TypeError("lost"))); await null; return 1; }', 'runtime_error', /unhandled promise rejection: TypeError: lost/],
  ['a throwing timer callback', 'export default () => new Promise((resolve) => { setTimeout(() => { throw new Error("tick failed"); }, 1); setTimeout(resolve, 30); })', 'runtime_error', /setTimeout callback: Error: tick failed/],
  ['a promise that never settles', 'export default () => new Promise(() => {})', 'runtime_error', /never settles/],
  ['top-level await on nothing', 'await new Promise(() => {});\nexport default () => 1', 'runtime_error', /never settles/],
  ['a top-level throw', 'throw new Error("at load");\nexport default () => 1', 'runtime_error', /Error: at load/],
  ['a thrown string', 'export default () => { throw "boom"; }', 'runtime_error', /Uncaught "boom"/],
  ['a forged bridge error code', 'export default () => { const e = new Error("pretend"); e.code = "egress_refused"; throw e; }', 'runtime_error', /Error: pretend/],
  ['a missing default export', 'export const x = 1;', 'runtime_error', /must `export default` a function/],
  ['a syntax error', 'export default () => {\n  let x = ;\n}', 'syntax_error', /SyntaxError: .*\(line 2, column \d+\)/],
];

describe('hostile code fails alone with its own code', () => {
  it.each(CASES)('%s', async (_name, code, errorCode, message) => {
    const result = await runBeside(code, errorCode);
    expect(result.ok).toBe(false);
    expect(result.error?.code).toBe(errorCode);
    expect(result.error?.message).toMatch(message);
  });

  it('all at once: every hostile run fails with its code and every normal run succeeds', async () => {
    const hostile = CASES.map(([, code, errorCode]) => js(code, null, limitsFor(errorCode)));
    const normal = Array.from({ length: 12 }, (_, i) => js(CANARY, { a: i, b: 1 }));
    const [h, n] = await Promise.all([Promise.all(hostile), Promise.all(normal)]);
    expect(h.map((r) => r.error?.code)).toEqual(CASES.map(([, , errorCode]) => errorCode));
    expect(n.map((r) => r.output)).toEqual(Array.from({ length: 12 }, (_, i) => ({ sum: i + 1 })));
  });
});

describe('the server stays responsive', () => {
  it('keeps the main event loop ticking and other runs finishing while a script spins', async () => {
    await Promise.all([js(CANARY, { a: 0, b: 0 }), js(CANARY, { a: 0, b: 0 })]);
    const started = performance.now();
    let last = started;
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 10);
    try {
      const finished: string[] = [];
      const spinning = js('export default () => { while (true) {} }', null, { timeoutMs: 1500 }).then((r) => { finished.push('spinning'); return r; });
      const normal = await js(CANARY, { a: 1, b: 1 }).then((r) => { finished.push('normal'); return r; });
      const spun = await spinning;
      expect(normal.output).toEqual({ sum: 2 });
      // The normal run was served while the other spun, not after it was stopped.
      expect(finished).toEqual(['normal', 'spinning']);
      expect(spun.error?.code).toBe('timeout');
    } finally {
      clearInterval(timer);
    }
    // Blocked by the loop, the main thread would show one gap of ~1.5 s and almost no ticks.
    expect(ticks).toBeGreaterThan(30);
    // A blocked loop shows one gap as long as the spin (1.5 s); scheduling noise stays far below.
    expect(maxGap).toBeLessThan(1200);
  });
});

describe('isolation', () => {
  it('keeps prototype pollution and globals inside the run', async () => {
    const single = new SandboxPool({ size: 1 });
    try {
      const polluter = await single.run({
        code: `export default () => {
          Object.prototype.polluted = 'yes';
          Array.prototype.push = () => -1;
          JSON.parse = () => 'hijacked';
          globalThis.leftover = 42;
          return [({}).polluted, JSON.parse('{"__proto__": {"injected": true}}')];
        }`,
        language: 'javascript',
        input: JSON.parse('{"__proto__": {"fromInput": true}}'),
        bridge: noBridge,
      });
      expect(polluter.ok).toBe(true);
      expect(polluter.output).toEqual(['yes', 'hijacked']);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');

      const next = await single.run({
        code: 'export default (input) => [({}).polluted ?? null, typeof globalThis.leftover, JSON.parse("[1]"), [].push(1), ({}).fromInput ?? null]',
        language: 'javascript',
        input: JSON.parse('{"__proto__": {"fromInput": true}}'),
        bridge: noBridge,
      });
      expect(next.output).toEqual([null, 'undefined', [1], 1, null]);
      const echoed = await single.run({ code: 'export default () => JSON.parse(\'{"__proto__": {"injected": true}}\')', language: 'javascript', input: null, bridge: noBridge });
      expect(echoed.ok).toBe(true);
      expect(({} as Record<string, unknown>).injected).toBeUndefined();
    } finally {
      await single.close();
    }
  });

  it('gives constructor.constructor and globalThis nothing of the host', async () => {
    const result = await js(`export default () => {
      const viaConstructor = ({}).constructor.constructor('return this')();
      const viaFunction = Function('return this')();
      const hostNames = ['process', 'require', 'module', 'exports', 'Buffer', 'global', '__dirname', '__filename',
        'std', 'os', 'fetch', 'XMLHttpRequest', 'WebSocket', 'WebAssembly', 'Deno', 'Bun', 'setInterval',
        'setImmediate', 'importScripts', 'postMessage', 'Worker', 'ctx', 'print', 'scriptArgs'];
      return {
        sameGlobal: viaConstructor === globalThis && viaFunction === globalThis,
        found: hostNames.filter((name) => typeof viaConstructor[name] !== 'undefined'),
        globals: Object.getOwnPropertyNames(globalThis).sort(),
      };
    }`);
    expect(result.error).toBeUndefined();
    const output = result.output as { sameGlobal: boolean; found: string[]; globals: string[] };
    expect(output.sameGlobal).toBe(true);
    expect(output.found).toEqual([]);
    // A new global (from a QuickJS upgrade, say) must be reviewed before it reaches custom code.
    const expected = new Set([
      ...['Object', 'Function', 'Array', 'Number', 'Boolean', 'String', 'Symbol', 'BigInt', 'Math', 'JSON', 'Reflect', 'Date', 'RegExp'],
      ...['Error', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError', 'InternalError', 'AggregateError'],
      ...['Map', 'Set', 'WeakMap', 'WeakSet', 'WeakRef', 'FinalizationRegistry', 'Proxy', 'Promise', 'Iterator'],
      ...['ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Uint8ClampedArray', 'Int8Array', 'Uint8Array', 'Int16Array', 'Uint16Array'],
      ...['Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'Float16Array', 'Float32Array', 'Float64Array'],
      ...['parseInt', 'parseFloat', 'isNaN', 'isFinite', 'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape'],
      ...['Infinity', 'NaN', 'undefined', 'eval', 'globalThis', 'queueMicrotask', 'DOMException', 'performance'],
      ...['console', 'setTimeout', 'clearTimeout'],
    ]);
    expect(output.globals.filter((name) => !expected.has(name))).toEqual([]);
  });
});
