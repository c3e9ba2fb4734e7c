/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
 * headers that let a team's tracing follow one step of deskhook from the request that caused it
 * into the hooks, events and ERP calls it makes.
 *
 * `traceparent` is `version-traceid-parentid-flags` in lowercase hex (`00-` + 32 + `-` + 16 + `-`
 * + 2). A trace id or parent id of all zeros is invalid, and so is version `ff`; a later version
 * may append fields, which are ignored. `tracestate` is passed on unchanged with a valid
 * traceparent, and dropped without one, as the specification asks.
 */
export interface TraceContext {
  traceId: string;
  /** The span of this step: the parent id of every request it makes. */
  spanId: string;
  /** `01` when sampled. */
  flags: string;
  tracestate: string | null;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** Longer lists may be cut by whoever passes them on; 512 characters is what the specification has every vendor keep. */
const TRACESTATE_MAX = 512;
const PRINTABLE = /^[\x20-\x7e]*$/;

export interface ParentTrace {
  traceId: string;
  parentId: string;
  flags: string;
  tracestate: string | null;
}

/** The caller's trace context from its headers (a header repeated is joined with commas), or null when absent or invalid. */
export function parseTraceHeaders(traceparent: string | readonly string[] | undefined | null, tracestate?: string | readonly string[] | null): ParentTrace | null {
  if (typeof traceparent !== 'string') return null; // absent, or sent twice: invalid
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m) return null;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return null;
  const state = (Array.isArray(tracestate) ? tracestate.join(',') : typeof tracestate === 'string' ? tracestate : '').trim();
  return { traceId, parentId, flags, tracestate: state && state.length <= TRACESTATE_MAX && PRINTABLE.test(state) ? state : null };
}

/** The `traceparent` a request of this step carries: this trace, with `spanId` as the parent. */
export function formatTraceparent(trace: Pick<TraceContext, 'traceId' | 'flags'>, spanId: string): string {
  // Version 00 is the one this implementation speaks; only its defined flag (sampled) is kept.
  const sampled = (parseInt(trace.flags, 16) & 1) === 1 ? '01' : '00';
  return `00-${trace.traceId}-${spanId}-${sampled}`;
}
