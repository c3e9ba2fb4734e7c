import { describe, expect, it } from 'vitest';
import { boundBody, MAX_RECOGNITION_BODY_CHARS, MAX_RECOGNITION_LINES } from './bounds.ts';
import { extractCharacteristics, stripQuotedHistory } from './extract.ts';

/**
 * Inputs made to make regular expressions backtrack (long blank runs, repeated quote markers, a
 * megabyte on one line, deep `>` nesting, attribution lines without their colon). Recognition
 * reads them in linear time: here they must finish (a quadratic pattern took seconds to minutes
 * on them) and give the right answer. No timing thresholds: robustness-stall.test.ts measures
 * the server.
 */
const spaces = (n: number) => ' '.repeat(n);

describe('recognition of pathological input', () => {
  const cases: [string, string][] = [
    ['40k spaces and an x', `${spaces(40_000)}x`],
    ['200k spaces and an x', `${spaces(200_000)}x`],
    ['tabs and spaces', `${' \t'.repeat(100_000)}x`],
    ['deep > nesting', Array.from({ length: 5_000 }, (_, i) => `${'> '.repeat(1 + (i % 500))}text`).join('\n')],
    ['repeated quote markers', `${'>'.repeat(200_000)} x`],
    ['1 MB single line', 'a1 '.repeat(350_000)],
    ['attribution lines without colon', Array.from({ length: 5_000 }, () => 'Am 1.1.2026 schrieb').join('\n')],
    ['blank lines', `${'\n'.repeat(100_000)}x`],
    ['an attribution padded with blanks', `Am 1.1.2026 schrieb${spaces(60_000)}:x`],
    ['a label and blanks', `Zählernummer ist${spaces(60_000)}!`],
    ['trailing punctuation runs', `Viele Grüße${' ,.!'.repeat(20_000)}x`],
  ];

  it.each(cases)('%s: completes and finds nothing but the sender', (_name, body) => {
    const result = extractCharacteristics({ from: 'erika@example.org', subject: 'Frage', body });
    expect(result.characteristics).toEqual({ email: 'erika@example.org' });
  });

  it('still reads what the customer wrote above such a body', () => {
    const body = `Meine Vertragsnummer ist 4000123456.\n\nErika Mustermann\n${spaces(200_000)}x\n${'> '.repeat(5_000)}`;
    expect(extractCharacteristics({ from: 'erika@example.org', subject: 'Frage', body }).characteristics).toMatchObject({ contractId: '4000123456' });
  });

  it('cuts quoted history at a real attribution even among pathological lines', () => {
    const body = `Neue Frage\n${spaces(50_000)}x\nAm 12.03.2026 um 09:14 schrieb Service <service@stadtwerke.example>:\n> alt`;
    expect(stripQuotedHistory(body)).toBe(`Neue Frage\n${spaces(50_000)}x`);
    expect(stripQuotedHistory(`${spaces(50_000)}\n> a\nb${spaces(10)}`)).toBe(`${spaces(50_000)}\nb`);
  });

  it('reads at most 64 KiB and 2,000 lines of the body', () => {
    expect(boundBody('x'.repeat(200_000))).toHaveLength(MAX_RECOGNITION_BODY_CHARS);
    expect(boundBody('a\n'.repeat(5_000)).split('\n')).toHaveLength(MAX_RECOGNITION_LINES);
    expect(boundBody('kurz\ntext')).toBe('kurz\ntext');
    // A contract number after the bound is not read.
    const late = `${'Text.\n'.repeat(3_000)}Vertragsnummer 4000123456`;
    expect(extractCharacteristics({ from: null, subject: '', body: late }).characteristics.contractId).toBeUndefined();
  });
});
