import { describe, expect, it } from 'vitest';
import { memoContent } from './webhook-memo.ts';

describe('memoContent', () => {
  const input = {
    hook: 'ticketUpdates', invocationId: 'inv_1', timestamp: '2026-12-08T10:00:00.000Z', ticketId: 42,
    changes: { priority: 'high' }, ticket: { id: 42, version: 3, priority: 'high', modifiedAt: '2026-12-08T10:00:00.000Z', tags: ['a'] },
  };

  it('is the same for a payload that differs only in ids of invocations, time stamps and versions', () => {
    const again = { ...input, invocationId: 'inv_2', timestamp: '2026-12-08T10:05:00.000Z', ticket: { ...input.ticket, version: 4, modifiedAt: '2026-12-08T10:05:00.000Z' } };
    expect(memoContent(again)).toBe(memoContent(input));
    // Key order does not matter.
    expect(memoContent(Object.fromEntries(Object.entries(input).reverse()))).toBe(memoContent(input));
  });

  it('differs for anything else the hook sees', () => {
    expect(memoContent({ ...input, changes: { priority: 'urgent' } })).not.toBe(memoContent(input));
    expect(memoContent({ ...input, ticket: { ...input.ticket, tags: ['a', 'b'] } })).not.toBe(memoContent(input));
    expect(memoContent({ ...input, userId: 7 })).not.toBe(memoContent(input));
  });
});
