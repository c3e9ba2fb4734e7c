// Messages between SandboxPool (main thread) and worker.mjs. Everything crossing is plain data;
// values of the script and of the bridge cross as JSON strings so neither side depends on
// structured-clone quirks. One worker runs one job at a time; `runId` ties late messages of an
// abandoned run to nothing.

import type { SandboxBridgeOp, SandboxError, SandboxLimits, SandboxLogEntry } from './types.ts';

export interface RunMessage {
  type: 'run';
  runId: number;
  js: string;
  /** Shown in the script's stack traces, e.g. `custom-code.ts`. */
  filename: string;
  inputJson: string;
  limits: SandboxLimits;
  /**
   * What is left of the time limit when the run leaves the queue: the limit counts from when it
   * was queued, so a run that waited for a worker gets only the rest (a fresh worker's start-up
   * is not charged to the run).
   */
  remainingMs?: number;
}

export type ReplyMessage =
  | { type: 'reply'; runId: number; callId: number; ok: true; /** JSON of `{ v: value }` */ valueJson: string }
  | { type: 'reply'; runId: number; callId: number; ok: false; error: { message: string; code?: string } };

export type ToWorkerMessage = RunMessage | ReplyMessage;

export interface ReadyMessage {
  type: 'ready';
}

export interface CallMessage {
  type: 'call';
  runId: number;
  callId: number;
  op: SandboxBridgeOp;
  args: unknown;
}

export interface WorkerResult {
  ok: boolean;
  outputJson?: string;
  error?: SandboxError;
  logs: SandboxLogEntry[];
}

export interface DoneMessage {
  type: 'done';
  runId: number;
  result: WorkerResult;
  /** The worker could not prepare a QuickJS module: replace the worker. */
  retire: boolean;
}

export type FromWorkerMessage = ReadyMessage | CallMessage | DoneMessage;
