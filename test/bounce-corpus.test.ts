// Bounce recognition on the labelled set of real bounces from many MTAs: at least 95 % of the
// hard bounces recognised, and nothing that is not a hard bounce read as a failure.
import { describe, expect, it } from 'vitest';
import { CORPUS_DIR, evaluateBounces, formatBounceScore, haveBounceCorpus } from './support/bounce-metrics.ts';

describe.skipIf(!haveBounceCorpus)(`bounce recognition on the labelled real bounces in ${CORPUS_DIR}`, () => {
  it('recognises at least 95 % of the hard bounces and marks nothing else failed', { timeout: 60_000 }, async () => {
    const score = await evaluateBounces();
    console.log(formatBounceScore(score));
    expect(score.hard).toBeGreaterThan(50);
    expect(score.verdicts.filter((v) => v.falseFailed).map((v) => `${v.label.file}: ${v.problems.join('; ')}`)).toEqual([]);
    expect(score.recognised / score.hard).toBeGreaterThanOrEqual(0.95);
  });
});
