import { DuplicateKeyError } from '../../app/ports/store.ts';
/** Conversions between the two databases' column values and the domain's. */

export function iso(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  throw new TypeError(`expected a timestamp, got ${typeof value}`);
}

export function isoOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : iso(value);
}

export function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function jsonOrNull<T>(value: unknown): T | null {
  return value === null || value === undefined ? null : json<T>(value);
}

export const toJson = (value: unknown): string => JSON.stringify(value ?? null);

export const bool = (value: unknown): boolean => value === 1 || value === true || value === '1';
export const flag = (value: boolean): number => (value ? 1 : 0);

/** Opaque cursors: clients must not build them, so they are base64url of a small JSON. */
export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

export function decodeCursor(cursor: string | null): Record<string, unknown> | null {
  if (!cursor) return null;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Runs a write and turns either database's unique-constraint error into DuplicateKeyError. */
export async function uniquely<T>(target: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE') throw new DuplicateKeyError(target);
    throw err;
  }
}
