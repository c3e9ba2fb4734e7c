import type { AppDeps } from '../deps.ts';

let lastSequence = 0;
function nextSequence(): string {
  lastSequence = Math.max(lastSequence + 1, Math.floor((performance.timeOrigin + performance.now()) * 1000));
  return lastSequence.toString(36).padStart(11, '0');
}

/** `inv_` + time-ordered (then random), so the log sorts newest first even within one millisecond. */
export function newInvocationId(deps: AppDeps): string {
  return `inv_${nextSequence()}${deps.ids.token('').replace(/[^a-z0-9]/gi, '').slice(0, 12)}`;
}
