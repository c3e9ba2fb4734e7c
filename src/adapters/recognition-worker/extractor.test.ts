import { afterAll, describe, expect, it } from 'vitest';
import { WorkerRecognitionExtractor } from './extractor.ts';

describe('recognition in a worker thread with a time budget', () => {
  const extractor = new WorkerRecognitionExtractor({ budgetMs: 1_500 });
  afterAll(() => extractor.close());

  it('extracts as the domain does', async () => {
    const outcome = await extractor.extract({ from: 'erika@example.org', subject: 'Vertragsnummer 4000123456', body: 'Hallo' }, {});
    expect(outcome).toMatchObject({ status: 'done', extraction: { characteristics: { contractId: '4000123456', email: 'erika@example.org' } } });
  });

  it('stops an extraction that overruns the budget, while this thread keeps running, and serves the next one', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    // A configured pattern that backtracks exponentially on this body.
    const outcome = await extractor.extract({ from: null, subject: '', body: `Vertrag ${'1'.repeat(40)}!` }, { contractPatterns: ['Vertrag ((?:\\d|\\d)+)#'] });
    clearInterval(timer);
    expect(outcome).toEqual({ status: 'timed-out', budgetMs: 1_500 });
    expect(ticks).toBeGreaterThan(5);
    expect(extractor.timeouts).toBe(1);
    const next = await extractor.extract({ from: null, subject: 'Kundennummer 123456', body: '' }, {});
    expect(next).toMatchObject({ status: 'done', extraction: { characteristics: { customerId: '123456' } } });
  });
});
