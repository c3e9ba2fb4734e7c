import { extractCharacteristics, type Extraction, type ExtractionInput, type ExtractionOptions } from '../../domain/recognition/extract.ts';

/**
 * The rule-based extraction of the characteristics, behind a port so that the server runs it off
 * its event loop with a time budget (adapters/recognition-worker). An extraction that overruns the
 * budget is no error: recognition goes on without characteristics, and the ticket is kept.
 */
export type ExtractionOutcome =
  | { status: 'done'; extraction: Extraction }
  | { status: 'timed-out'; budgetMs: number }
  | { status: 'failed'; message: string };

export interface RecognitionExtractor {
  extract(input: ExtractionInput, options: ExtractionOptions): Promise<ExtractionOutcome>;
}

/** Extraction on the calling thread, without a budget: for unit tests, benchmarks and the CLI. */
export const inProcessExtractor: RecognitionExtractor = {
  async extract(input, options) {
    try {
      return { status: 'done', extraction: extractCharacteristics(input, options) };
    } catch (err) {
      return { status: 'failed', message: (err as Error).message };
    }
  },
};
