import type { ZxcvbnFactory } from '@zxcvbn-ts/core';
import type { PasswordStrength } from '../../app/ports/password-strength.ts';
import type { PasswordEstimate } from '../../domain/password-policy.ts';

// The dictionaries (common passwords, English and German words and names) take a few MB and a
// few hundred ms to load: loaded on the first estimate, once per process.
let factory: Promise<ZxcvbnFactory> | null = null;

function load(): Promise<ZxcvbnFactory> {
  factory ??= (async () => {
    const [core, common, en, de] = await Promise.all([
      import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common'), import('@zxcvbn-ts/language-en'), import('@zxcvbn-ts/language-de'),
    ]);
    return new core.ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...en.dictionary, ...de.dictionary },
      graphs: common.adjacencyGraphs,
      translations: en.translations,
    });
  })();
  factory.catch(() => { factory = null; });
  return factory;
}

/** zxcvbn's estimate; only the first 256 characters are looked at (its own bound on the work). */
export class ZxcvbnPasswordStrength implements PasswordStrength {
  async estimate(password: string, userInputs: readonly string[]): Promise<PasswordEstimate> {
    const zxcvbn = await load();
    const result = zxcvbn.check(password, [...userInputs]);
    return { score: result.score, warning: result.feedback.warning, suggestions: result.feedback.suggestions };
  }
}
