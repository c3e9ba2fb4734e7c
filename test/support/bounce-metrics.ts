// Bounce recognition against the labelled set of real bounces (test/corpus-labels/bounces.tsv):
// how many hard bounces are recognised with their recipient, status and returned Message-ID,
// and how many messages that are not hard bounces would mark an email failed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BounceInfo } from '../../src/domain/mail/inbound-email.ts';
import { parseEmail } from '../../src/adapters/mail-parse/parse-email.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LABELS = path.join(repoRoot, 'test', 'corpus-labels', 'bounces.tsv');
/** The corpus lives next to the checkout, never inside it. */
export const CORPUS_DIR = path.resolve(repoRoot, '..', 'shared', 'corpus', 'mail');
export const haveBounceCorpus = existsSync(path.join(CORPUS_DIR, 'MANIFEST.tsv')) && existsSync(LABELS);

export type BounceKind = 'hard' | 'soft' | 'delivered' | 'not-bounce';

export interface BounceLabel {
  file: string;
  kind: BounceKind;
  status: string | null;
  recipients: string[];
  originalMessageId: string | null;
  format: string;
}

export function readLabels(file = LABELS): BounceLabel[] {
  const [header, ...lines] = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const columns = (header ?? '').split('\t');
  const at = (cells: string[], name: string): string => (cells[columns.indexOf(name)] ?? '').trim();
  return lines.map((line) => {
    const cells = line.split('\t');
    return {
      file: at(cells, 'file'),
      kind: at(cells, 'kind') as BounceKind,
      status: at(cells, 'status') || null,
      recipients: at(cells, 'recipients').split(',').map((a) => a.trim().toLowerCase()).filter(Boolean),
      originalMessageId: at(cells, 'originalMessageId') || null,
      format: at(cells, 'format'),
    };
  });
}

export interface BounceVerdict {
  label: BounceLabel;
  bounce: BounceInfo | null;
  /** A hard bounce detected as a permanent failure of every labelled recipient. */
  recognised: boolean;
  /** ... with the labelled status code and returned Message-ID as well (where labelled). */
  exact: boolean;
  /** Not a hard bounce, yet read as a permanent failure: it would mark an email failed. */
  falseFailed: boolean;
  problems: string[];
}

export function judge(label: BounceLabel, bounce: BounceInfo | null): BounceVerdict {
  const problems: string[] = [];
  const named = new Set((bounce?.recipients ?? []).map((a) => a.toLowerCase()));
  if (label.kind !== 'hard') {
    const falseFailed = bounce?.permanent === true;
    if (falseFailed) problems.push(`read as a permanent failure (${bounce.format}, ${bounce.status ?? 'no status'})`);
    return { label, bounce, recognised: false, exact: false, falseFailed, problems };
  }
  if (!bounce) problems.push('not recognised as a bounce');
  else if (!bounce.permanent) problems.push(`read as ${bounce.action}, not a permanent failure`);
  const missing = label.recipients.filter((a) => !named.has(a));
  if (bounce && missing.length) problems.push(`recipients ${missing.join(', ')} missing (got ${[...named].join(', ') || 'none'})`);
  const recognised = bounce?.permanent === true && missing.length === 0;
  if (label.status && bounce?.status !== label.status) problems.push(`status ${bounce?.status ?? 'none'}, labelled ${label.status}`);
  if (label.originalMessageId && bounce?.originalMessageId !== label.originalMessageId) {
    problems.push(`Message-ID ${bounce?.originalMessageId ?? 'none'}, labelled ${label.originalMessageId}`);
  }
  return { label, bounce, recognised, exact: recognised && problems.length === 0, falseFailed: false, problems };
}

export interface BounceScore {
  verdicts: BounceVerdict[];
  hard: number;
  recognised: number;
  exact: number;
  others: number;
  falseFailed: number;
}

export async function evaluateBounces(labels = readLabels()): Promise<BounceScore> {
  const verdicts: BounceVerdict[] = [];
  for (const label of labels) {
    const email = await parseEmail(readFileSync(path.join(CORPUS_DIR, label.file)));
    verdicts.push(judge(label, email.bounce));
  }
  const hard = verdicts.filter((v) => v.label.kind === 'hard');
  return {
    verdicts,
    hard: hard.length,
    recognised: hard.filter((v) => v.recognised).length,
    exact: hard.filter((v) => v.exact).length,
    others: verdicts.length - hard.length,
    falseFailed: verdicts.filter((v) => v.falseFailed).length,
  };
}

const pct = (n: number, of: number): string => (of === 0 ? '-' : `${((100 * n) / of).toFixed(1)} %`);

/** A Markdown summary, as docs/benchmarks.md shows it. */
export function formatBounceScore(score: BounceScore): string {
  const lines = [
    '| Labelled set | Messages | Result |',
    '|---|---|---|',
    `| Hard bounces recognised (permanent, every failed recipient) | ${score.hard} | ${score.recognised} (${pct(score.recognised, score.hard)}) |`,
    `| ... also with the labelled status code and returned Message-ID | ${score.hard} | ${score.exact} (${pct(score.exact, score.hard)}) |`,
    `| Not hard bounces (delays, successes, auto-replies, reports, mail) read as failed | ${score.others} | ${score.falseFailed} |`,
  ];
  const misses = score.verdicts.filter((v) => v.problems.length > 0);
  if (misses.length) lines.push('', ...misses.map((v) => `- ${v.label.file} (${v.label.kind}): ${v.problems.join('; ')}`));
  return lines.join('\n');
}
