// What a synchronous hook's answer is remembered by: the input as the hook sees it, less what
// differs on every call by construction. Pure; the caller hashes it (deps.ids.digest).

/**
 * Removed before comparing: the invocation's own id and time, every `…At` time stamp (a ticket's
 * `modifiedAt`, a message's `createdAt`) and a ticket's `version`, which count changes rather
 * than say anything about them.
 */
const IGNORED = new Set(['invocationId', 'timestamp', 'version']);

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    if (IGNORED.has(key) || key.endsWith('At')) continue;
    out[key] = canonical((value as Record<string, unknown>)[key]);
  }
  return out;
}

/** The canonical JSON of the input: keys sorted, the ignored fields left out. */
export function memoContent(input: unknown): string {
  return JSON.stringify(canonical(input));
}
