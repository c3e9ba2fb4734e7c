import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { meets, readResults } from '../bench/harness.ts';

describe('benchmark targets', () => {
  it('compares a value with its target by the target\'s operator', () => {
    expect(meets(0.118, { op: '>=', value: 0.25 })).toBe(false);
    expect(meets(0.25, { op: '>=', value: 0.25 })).toBe(true);
    expect(meets(1.946, { op: '<=', value: 1.1 })).toBe(false);
    expect(meets(1, { op: '==', value: 1 })).toBe(true);
    expect(meets(2, { op: '==', value: 1 })).toBe(false);
  });

  it('every recorded figure carries its target as data, and the table in docs/benchmarks.md says whether it holds', () => {
    const { figures } = readResults();
    const doc = readFileSync(new URL('../docs/benchmarks.md', import.meta.url), 'utf8');
    expect(Object.keys(figures).length).toBeGreaterThan(0);
    for (const [name, f] of Object.entries(figures)) {
      expect(f.check, `${name} has no target as data`).toMatchObject({ op: expect.stringMatching(/^(<=|>=|==)$/), value: expect.any(Number) });
      expect(f.target).not.toMatch(/informative|none/i);
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, `${name} is missing from the table`).toBeDefined();
      expect(row!.includes('| met |')).toBe(meets(f.value, f.check));
    }
  });
});
