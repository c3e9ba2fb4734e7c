// Quality of characteristic extraction against a labelled set: micro precision, recall and F1
// per field and over all fields. Shared by the recognition test and the benchmark.
import { CHARACTERISTICS, type Characteristic, type Characteristics } from '../../src/domain/erp.ts';

/** Fields compared without regard to case (and inner whitespace); all others must match exactly. */
const CASE_INSENSITIVE = new Set<Characteristic>(['firstname', 'lastname', 'company', 'street', 'city']);

export function normaliseForComparison(field: Characteristic, value: string): string {
  const trimmed = value.trim();
  return CASE_INSENSITIVE.has(field) ? trimmed.replace(/\s+/g, ' ').toLowerCase() : trimmed;
}

export interface FieldScore {
  field: Characteristic | 'overall';
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface Mismatch {
  id: string;
  field: Characteristic;
  expected: string | null;
  predicted: string | null;
}

export interface LabelledPrediction {
  id: string;
  expected: Characteristics;
  predicted: Characteristics;
}

function score(field: FieldScore['field'], tp: number, fp: number, fn: number): FieldScore {
  // No prediction and nothing expected is perfect, not undefined.
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { field, tp, fp, fn, precision, recall, f1 };
}

/**
 * A predicted value equal to the expected one (after normalisation) is a true positive; a wrong
 * value counts as a false positive and a false negative; a value where none is expected is a
 * false positive; a missing one a false negative.
 */
export function evaluate(items: readonly LabelledPrediction[]): { fields: FieldScore[]; overall: FieldScore; mismatches: Mismatch[] } {
  const counts = new Map<Characteristic, { tp: number; fp: number; fn: number }>(CHARACTERISTICS.map((f) => [f, { tp: 0, fp: 0, fn: 0 }]));
  const mismatches: Mismatch[] = [];
  for (const item of items) {
    for (const field of CHARACTERISTICS) {
      const c = counts.get(field)!;
      const expected = item.expected[field];
      const predicted = item.predicted[field];
      if (expected === undefined && predicted === undefined) continue;
      if (expected !== undefined && predicted !== undefined && normaliseForComparison(field, expected) === normaliseForComparison(field, predicted)) {
        c.tp++;
        continue;
      }
      if (predicted !== undefined) c.fp++;
      if (expected !== undefined) c.fn++;
      mismatches.push({ id: item.id, field, expected: expected ?? null, predicted: predicted ?? null });
    }
  }
  const fields = CHARACTERISTICS.map((f) => {
    const c = counts.get(f)!;
    return score(f, c.tp, c.fp, c.fn);
  });
  const sum = (k: 'tp' | 'fp' | 'fn'): number => fields.reduce((n, f) => n + f[k], 0);
  return { fields, overall: score('overall', sum('tp'), sum('fp'), sum('fn')), mismatches };
}

/** A fixed-width table of the scores, for console output and reports. */
export function formatScores(fields: readonly FieldScore[], overall: FieldScore): string {
  const pct = (x: number): string => x.toFixed(3).padStart(9);
  const head = `${'field'.padEnd(12)}${'tp'.padStart(5)}${'fp'.padStart(5)}${'fn'.padStart(5)}${'precision'.padStart(10)}${'recall'.padStart(9)}${'f1'.padStart(9)}`;
  const row = (s: FieldScore): string =>
    `${s.field.padEnd(12)}${String(s.tp).padStart(5)}${String(s.fp).padStart(5)}${String(s.fn).padStart(5)} ${pct(s.precision)}${pct(s.recall)}${pct(s.f1)}`;
  return [head, ...fields.map(row), '-'.repeat(head.length), row(overall)].join('\n');
}
