import { describe, expect, it } from 'vitest';
import { abba, abbaOrder, MIN_ROUNDS, median, percentile, sideStats, startLoadWorker, startReceiver } from '../bench/harness.ts';

describe('benchmark harness', () => {
  it('runs two sides in ABBA order, the warm-up first, and keeps only the measured rounds', async () => {
    const calls: string[] = [];
    let a = 0;
    let b = 100;
    const result = await abba({ rounds: 6, warmupRounds: 1 }, {
      a: async () => { calls.push('A'); return a++; },
      b: async () => { calls.push('B'); return b++; },
    });
    // Warm-up A B, then the measured rounds continue the alternation: B A, A B, B A, …
    expect(calls.join('')).toBe('AB' + 'BAABBAABBAAB');
    expect(result.a.values).toEqual([1, 2, 3, 4, 5, 6]);
    expect(result.b.values).toEqual([101, 102, 103, 104, 105, 106]);
    expect(result.a).toMatchObject({ min: 1, median: 3.5, max: 6 });
  });

  it('alternates three sides forward and backward, so each goes first and last equally often', () => {
    expect(abbaOrder(['a', 'b', 'c'], 4)).toEqual([['a', 'b', 'c'], ['c', 'b', 'a'], ['a', 'b', 'c'], ['c', 'b', 'a']]);
  });

  it(`refuses fewer than ${MIN_ROUNDS} rounds per side`, async () => {
    await expect(abba({ rounds: MIN_ROUNDS - 1 }, { a: async () => 1, b: async () => 1 })).rejects.toThrow(/at least 5 rounds/);
  });

  it('computes median, nearest-rank percentiles and min/median/max', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(sideStats([5, 1, 9, 3, 7])).toEqual({ min: 1, median: 5, max: 9, values: [5, 1, 9, 3, 7] });
  });

  it('sends a timed sequence from the load worker to a receiver in its own worker, which counts marked requests', async () => {
    const receiver = await startReceiver({ status: 200, answer: '{"ok":true}', markHeader: 'webhook-id' });
    const client = await startLoadWorker();
    try {
      const answers = await client.sequence([
        { url: receiver.url, method: 'POST', headers: { 'webhook-id': 'x' }, body: '{"n":1}', json: true },
        { url: receiver.url, method: 'POST', body: '{"n":2}', json: true },
      ]);
      expect(answers.map((a) => [a.status, a.body])).toEqual([[200, '{"ok":true}'], [200, '{"ok":true}']]);
      expect(answers.every((a) => a.ms > 0)).toBe(true);
      expect(await receiver.count()).toEqual({ received: 2, bytes: 14, marked: 1, distinct: 1, lastMarkedBody: '{"n":1}' });
    } finally {
      await client.close();
      await receiver.close();
    }
  });
});
