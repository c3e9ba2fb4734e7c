import type { Page, PageRequest } from './ports/store.ts';

/** Every item of a paged list, read page after page (for the CLI and checks over all records, not for requests). */
export async function allPages<T>(list: (page: PageRequest) => Promise<Page<T>>, pageSize = 100): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | null = null;
  do {
    const page = await list({ limit: pageSize, cursor });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}
