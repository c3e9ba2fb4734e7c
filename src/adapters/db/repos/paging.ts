import { AppError } from '../../../app/errors.ts';
import type { Page } from '../../../app/ports/store.ts';
import { decodeCursor, encodeCursor } from '../values.ts';

/** The id a keyset page continues after, from a cursor made by `pageOf`. */
export function cursorAfter(cursor: string | null): number | null {
  if (!cursor) return null;
  const value = decodeCursor(cursor);
  if (!value || typeof value.after !== 'number') throw new AppError('validation_failed', 'cursor is not valid', { errors: [{ field: 'cursor', message: 'not a cursor returned by this list' }] });
  return value.after;
}

/** `rows` was fetched with limit + 1: the extra row only tells that another page exists. */
export function pageOf<T>(rows: T[], limit: number, key: (row: T) => number = (r) => (r as { id: number }).id): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor({ after: key(last) }) : null };
}
