// Customer recognition's rule-based extraction in a worker thread with a time budget, so that no
// email, however it is made, holds up the server's event loop (API, SMTP and tickers share it).
// One worker runs one extraction at a time; the others wait in line. An extraction that overruns
// its budget has its worker terminated (a regular expression cannot be interrupted any other way)
// and gets the outcome 'timed-out'; the next job starts a fresh worker.
import { Worker } from 'node:worker_threads';
import type { Extraction, ExtractionInput, ExtractionOptions } from '../../domain/recognition/extract.ts';
import type { ExtractionOutcome, RecognitionExtractor } from '../../app/ports/recognition-extractor.ts';

const WORKER_URL = new URL('./worker.mjs', import.meta.url);
/** Starting a worker (loading tsx and the domain modules) is not counted against the budget, but it has its own limit. */
const STARTUP_LIMIT_MS = 30_000;

export interface WorkerRecognitionExtractorOptions {
  /** Wall-clock budget of one extraction (DESKHOOK_RECOGNITION_BUDGET_MS). */
  budgetMs: number;
}

interface Job {
  id: number;
  input: ExtractionInput;
  options: ExtractionOptions;
  resolve(outcome: ExtractionOutcome): void;
}

interface Running {
  worker: Worker;
  ready: Promise<void>;
}

type FromWorker = { ready: true } | { id: number; extraction: Extraction } | { id: number; error: string };

export class WorkerRecognitionExtractor implements RecognitionExtractor {
  readonly budgetMs: number;
  #queue: Job[] = [];
  #busy = false;
  #running: Running | null = null;
  #nextId = 1;
  #closed = false;
  /** How many workers were terminated for overrunning the budget (for tests and metrics). */
  timeouts = 0;

  constructor(options: WorkerRecognitionExtractorOptions) {
    this.budgetMs = options.budgetMs;
  }

  extract(input: ExtractionInput, options: ExtractionOptions): Promise<ExtractionOutcome> {
    if (this.#closed) return Promise.resolve({ status: 'failed', message: 'the recognition worker is closed' });
    return new Promise((resolve) => {
      this.#queue.push({ id: this.#nextId++, input, options, resolve });
      void this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.resolve({ status: 'failed', message: 'the recognition worker is closed' });
    const running = this.#running;
    this.#running = null;
    if (running) await running.worker.terminate();
  }

  async #pump(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let job = this.#queue.shift(); job; job = this.#queue.shift()) job.resolve(await this.#run(job));
    } finally {
      this.#busy = false;
    }
  }

  #spawn(): Running {
    const worker = new Worker(WORKER_URL, { name: 'deskhook-recognition', env: {}, execArgv: [] });
    worker.unref();
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the recognition worker did not start within ${STARTUP_LIMIT_MS} ms`)), STARTUP_LIMIT_MS);
      const onMessage = (m: FromWorker) => {
        if (!('ready' in m)) return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('error', (err) => { clearTimeout(timer); reject(err); });
      worker.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the recognition worker exited (code ${code})`)); });
    });
    ready.catch(() => undefined);
    worker.on('exit', () => {
      if (this.#running?.worker === worker) this.#running = null;
    });
    return { worker, ready };
  }

  async #run(job: Job): Promise<ExtractionOutcome> {
    if (this.#closed) return { status: 'failed', message: 'the recognition worker is closed' };
    const running = (this.#running ??= this.#spawn());
    try {
      await running.ready;
    } catch (err) {
      if (this.#running === running) this.#running = null;
      void running.worker.terminate();
      return { status: 'failed', message: (err as Error).message };
    }
    const { worker } = running;
    return new Promise<ExtractionOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: ExtractionOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        worker.unref();
        resolve(outcome);
      };
      const onMessage = (m: FromWorker) => {
        if ('ready' in m || m.id !== job.id) return;
        finish('error' in m ? { status: 'failed', message: m.error } : { status: 'done', extraction: m.extraction });
      };
      const onExit = (code: number) => finish({ status: 'failed', message: `the recognition worker exited (code ${code})` });
      const timer = setTimeout(() => {
        this.timeouts++;
        if (this.#running?.worker === worker) this.#running = null;
        finish({ status: 'timed-out', budgetMs: this.budgetMs });
        void worker.terminate();
      }, this.budgetMs);
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      worker.ref();
      worker.postMessage({ id: job.id, input: job.input, options: job.options });
    });
  }
}
