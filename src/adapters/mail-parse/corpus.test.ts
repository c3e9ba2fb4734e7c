// Every message of the shared corpus through parseEmail: none may throw, hang or go missing.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { InboundEmail } from '../../domain/mail/inbound-email.ts';
import { parseEmail } from './parse-email.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const corpusDir = path.resolve(repoRoot, '..', 'shared', 'corpus', 'mail');
const manifest = path.join(corpusDir, 'MANIFEST.tsv');
const haveCorpus = existsSync(manifest);

// Generous for 2 shared cores; the slowest message takes well under 200 ms.
const PER_MESSAGE_MS = 5_000;

describe.skipIf(!haveCorpus)(`corpus ${haveCorpus ? corpusDir : `${corpusDir} (missing: suite skipped)`}`, () => {
  it('parses every manifest row within bounded time, none lost', { timeout: 60_000 }, async () => {
    const rows = readFileSync(manifest, 'utf8')
      .split('\n')
      .slice(1)
      .filter((line) => line.trim() !== '')
      .map((line) => line.split('\t'));
    expect(rows.length).toBeGreaterThan(0);

    const results: Array<{ file: string; ms: number; email: InboundEmail; flags: string }> = [];
    for (const row of rows) {
      const file = row[0] ?? '';
      const raw = readFileSync(path.join(corpusDir, file));
      const started = performance.now();
      const email = await parseEmail(raw);
      results.push({ file, ms: performance.now() - started, email, flags: row[10] ?? '' });
    }

    expect(results).toHaveLength(rows.length);
    const slow = results.filter((r) => r.ms > PER_MESSAGE_MS).map((r) => `${r.file}: ${Math.round(r.ms)} ms`);
    expect(slow).toEqual([]);
    for (const { file, email } of results) {
      expect(typeof email.subject, file).toBe('string');
      expect(typeof email.bodyPlain, file).toBe('string');
      expect(Array.isArray(email.parseWarnings), file).toBe(true);
      expect(email.subject.includes('\u0000') || email.bodyPlain.includes('\u0000'), file).toBe(false);
    }

    // Spot checks across the whole set: the corpus flags every DSN and auto-reply it found.
    const flagged = (flag: RegExp): typeof results => results.filter((r) => flag.test(r.flags));
    const notAuto = flagged(/bounce\/DSN|auto-reply|auto-submitted|x-autoreply|x-auto-response-suppress/).filter((r) => !r.email.autoReply.auto);
    expect(notAuto.map((r) => r.file)).toEqual([]);
    const germanGarbled = flagged(/german/).filter((r) => /\uFFFD|ï¿½/.test(r.email.subject) && !r.file.endsWith('m1011.txt'));
    expect(germanGarbled.map((r) => `${r.file}: ${r.email.subject}`)).toEqual([]);

    const warned = results.filter((r) => r.email.parseWarnings.length > 0);
    const fellBack = results.filter((r) => r.email.parseWarnings.some((w) => /^(?:parser failed|no header section|body not understood)/.test(w)));
    const slowest = results.reduce((a, b) => (b.ms > a.ms ? b : a));
    const bounces = results.filter((r) => r.email.bounce !== null).length;
    const autos = results.filter((r) => r.email.autoReply.auto).length;
    console.info(
      `corpus: ${results.length} messages, ${warned.length} with parse warnings, ${fellBack.length} via fallback ` +
        `(${fellBack.map((r) => r.file).join(', ')}), ${autos} auto, ${bounces} DSN bounces, ` +
        `slowest ${slowest.file} ${Math.round(slowest.ms)} ms, total ${Math.round(results.reduce((s, r) => s + r.ms, 0))} ms`,
    );
  });
});
