// JSON data compared by value. Pure.

/**
 * The value with the keys of every object sorted (PostgreSQL's jsonb, for one, keeps an order of
 * its own), leaving out the keys `skip` names at any depth.
 */
export function withSortedKeys(value: unknown, skip: (key: string) => boolean = () => false): unknown {
  if (Array.isArray(value)) return value.map((v) => withSortedKeys(v, skip));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    if (!skip(key)) out[key] = withSortedKeys((value as Record<string, unknown>)[key], skip);
  }
  return out;
}

/** Equal as JSON data, whatever the order of keys. */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(withSortedKeys(a)) === JSON.stringify(withSortedKeys(b));
}
