import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { formatTraceparent, parseTraceHeaders, type TraceContext } from '../domain/trace-context.ts';

/**
 * The trace context of the step running now, carried across awaits (AsyncLocalStorage): the
 * HTTP adapter enters it for each request, a delivery for each event it sends, and whatever the
 * step calls (a synchronous hook, `ctx.fetch`, the ERP) and the events it writes continue it.
 */
const scope = new AsyncLocalStorage<TraceContext>();

export function withTrace<T>(trace: TraceContext, fn: () => T): T {
  return scope.run(trace, fn);
}

export function currentTrace(): TraceContext | undefined {
  return scope.getStore();
}

const spanId = () => randomBytes(8).toString('hex');

/** A step's own span: continuing the caller's trace when its headers carry a valid one, else a new, sampled trace. */
export function continueTrace(traceparent?: string | readonly string[] | null, tracestate?: string | readonly string[] | null): TraceContext {
  const parent = parseTraceHeaders(traceparent, tracestate);
  return parent
    ? { traceId: parent.traceId, spanId: spanId(), flags: parent.flags, tracestate: parent.tracestate }
    : { traceId: randomBytes(16).toString('hex'), spanId: spanId(), flags: '01', tracestate: null };
}

/** What an outgoing request carries: a span of its own under `trace` (the current step's by default). */
export function outgoingTraceHeaders(trace: TraceContext = currentTrace() ?? continueTrace()): { traceparent: string; tracestate?: string } {
  return { traceparent: formatTraceparent(trace, spanId()), ...(trace.tracestate ? { tracestate: trace.tracestate } : {}) };
}

/** How an event keeps the context of the step that wrote it, for its deliveries; null outside any step. */
export function storedTrace(): { traceparent: string; tracestate: string | null } | null {
  const trace = currentTrace();
  return trace ? { traceparent: formatTraceparent(trace, trace.spanId), tracestate: trace.tracestate } : null;
}
