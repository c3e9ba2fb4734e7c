// What a synchronous hook's answer is remembered by: the input as the hook sees it, less what
// differs on every call by construction. Pure; the caller hashes it (deps.ids.digest).
import { withSortedKeys } from './json.ts';

/**
 * Removed before comparing: the invocation's own id and time, every `…At` time stamp (a ticket's
 * `modifiedAt`, a message's `createdAt`) and a ticket's `version`, which count changes rather
 * than say anything about them.
 */
const IGNORED = new Set(['invocationId', 'timestamp', 'version']);

/** The canonical JSON of the input: keys sorted, the ignored fields left out. */
export function memoContent(input: unknown): string {
  return JSON.stringify(withSortedKeys(input, (key) => IGNORED.has(key) || key.endsWith('At')));
}
