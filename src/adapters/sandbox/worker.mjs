// Entry of a sandbox worker thread: keeps a QuickJS wasm module loaded and runs one job at a time
// for SandboxPool, passing ctx calls to the main thread and their replies back.
//
// Plain JavaScript on purpose: a worker thread starts with Node's bare loader. Under vitest the
// main thread's `.ts` goes through vite, in production through tsx's `register()` hooks; neither
// is guaranteed to reach a new thread, and the pool starts workers with `execArgv: []`. A `.mjs`
// entry that imports only `.mjs` files and packages loads the same way everywhere; its types come
// from JSDoc (`import('./protocol.ts')` in comments only, never at run time).

/* global WebAssembly -- a Node global the shared lint config does not list */

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parentPort } from 'node:worker_threads';
import variant from '@jitl/quickjs-ng-wasmfile-release-sync';
import { newQuickJSWASMModuleFromVariant, newVariant } from 'quickjs-emscripten-core';
import { HeapGuard } from './heap-guard.mjs';
import { hostFailure } from './run-failure.mjs';
import { SandboxRun } from './run-job.mjs';

/**
 * @typedef {import('./protocol.ts').ToWorkerMessage} ToWorkerMessage
 * @typedef {import('./protocol.ts').FromWorkerMessage} FromWorkerMessage
 * @typedef {import('./protocol.ts').RunMessage} RunMessage
 * @typedef {{ quickjs: import('quickjs-emscripten-core').QuickJSWASMModule, guard: HeapGuard }} Engine
 */

const port = parentPort;
if (!port) throw new Error('worker.mjs runs only as a worker thread of SandboxPool');

const wasmModule = await WebAssembly.compile(await readFile(fileURLToPath(import.meta.resolve('@jitl/quickjs-ng-wasmfile-release-sync/wasm'))));

/**
 * A module instance on a memory this worker controls (see heap-guard.mjs). Compiled once;
 * instantiating again takes a few milliseconds.
 * @returns {Promise<Engine>}
 */
async function loadEngine() {
  const guard = new HeapGuard();
  // The package's CommonJS typings hide that its ESM default export is the variant itself.
  const base = /** @type {import('quickjs-emscripten-core').QuickJSSyncVariant} */ (/** @type {unknown} */ (variant));
  // Emscripten prints an abort to stderr before throwing it; the thrown error is what counts.
  const quiet = /** @type {any} */ ({ print: () => {}, printErr: () => {} });
  const quickjs = await newQuickJSWASMModuleFromVariant(newVariant(base, { wasmModule, wasmMemory: guard.memory, emscriptenModule: quiet }));
  // quickjs-emscripten keeps the emscripten module in a field its typings mark protected.
  guard.attach(/** @type {any} */ (quickjs).module);
  return { quickjs, guard };
}

/** @type {Engine} */
let engine = await loadEngine();
/** @type {Engine | undefined} an instance that may be corrupt, replaced before the next run */
let discarded;
/** @type {SandboxRun | undefined} */
let active;

/** @param {FromWorkerMessage} message */
const send = (message) => port.postMessage(message);

// Messages posted before this listener exists wait in the port's queue.
port.on('message', (/** @type {ToWorkerMessage} */ message) => {
  if (message.type === 'reply') {
    if (active?.runId === message.runId) active.onReply(message);
    return;
  }
  if (message.type === 'run') void start(message);
});
send({ type: 'ready' });

/** @param {RunMessage} job */
async function start(job) {
  try {
    // wasm memory never shrinks: a heap grown by a run with a larger limit would give this run
    // more than its own, so it gets a fresh instance too.
    if (discarded === engine || !engine.guard.suits(job.limits)) engine = await loadEngine();
  } catch (error) {
    send({ type: 'done', runId: job.runId, result: { ok: false, error: hostFailure(error).toError(), logs: [] }, retire: true });
    return;
  }
  const run = new SandboxRun(engine.quickjs, engine.guard, job, send);
  active = run;
  const { result, discardEngine } = await run.execute();
  active = undefined;
  if (discardEngine) discarded = engine;
  send({ type: 'done', runId: job.runId, result, retire: false });
}
