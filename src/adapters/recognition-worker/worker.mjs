// Entry of the recognition worker thread: runs the domain's rule-based extraction
// (src/domain/recognition/extract.ts) for WorkerRecognitionExtractor, one job at a time.
//
// Plain JavaScript on purpose, like the sandbox's worker.mjs: a worker thread starts with Node's
// bare loader (the extractor starts it with `execArgv: []`), so this entry registers tsx's loader
// itself and then imports the TypeScript domain module. That works the same under vitest, under
// `node bin/deskhook.mjs` and anywhere else.

import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

const port = parentPort;
if (!port) throw new Error('worker.mjs runs only as a worker thread of WorkerRecognitionExtractor');

register();
const { extractCharacteristics } = await import('../../domain/recognition/extract.ts');

port.on('message', (/** @type {{ id: number, input: any, options: any }} */ job) => {
  try {
    port.postMessage({ id: job.id, extraction: extractCharacteristics(job.input, job.options) });
  } catch (err) {
    port.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) });
  }
});
port.postMessage({ ready: true });
