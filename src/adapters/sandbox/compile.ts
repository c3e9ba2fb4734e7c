import { createHash } from 'node:crypto';
import { transform } from 'sucrase';
import type { SandboxLanguage } from './types.ts';

export interface CompileError {
  code: 'syntax_error';
  message: string;
  line?: number;
  column?: number;
}

export type CompileResult = { ok: true; js: string } | { ok: false; error: CompileError };

/**
 * Strips TypeScript and checks the syntax sucrase understands; for JavaScript only the check.
 * The result stays an ES module (QuickJS evaluates it as one, so `export default` needs no
 * rewriting) and keeps every line where it was, so QuickJS's line numbers point into the
 * author's source (columns move where types were removed).
 *
 * A quick check, not the last word: sucrase is lenient (a duplicate `const` passes) and places an
 * error inside a parenthesised non-async arrow function at the arrow's start. QuickJS's own
 * parse in the worker reports the rest as `syntax_error` too, and SandboxPool gives it
 * JavaScript unchanged.
 */
export function compile(code: string, language: SandboxLanguage): CompileResult {
  try {
    const { code: js } = transform(code, {
      transforms: language === 'typescript' ? ['typescript'] : [],
      // QuickJS-ng runs ES2023 as is; lowering would only move columns.
      disableESTransforms: true,
    });
    return { ok: true, js };
  } catch (error) {
    return { ok: false, error: toCompileError(error) };
  }
}

function toCompileError(error: unknown): CompileError {
  const message = error instanceof Error ? error.message : String(error);
  const loc = (error as { loc?: { line?: unknown; column?: unknown } } | null)?.loc;
  if (typeof loc?.line === 'number' && typeof loc.column === 'number') {
    // Sucrase reports a 0-based column; QuickJS stack traces (and editors) count from 1.
    const line = loc.line;
    const column = loc.column + 1;
    const text = message.replace(/\s*\(\d+:\d+\)$/, '');
    return { code: 'syntax_error', message: `SyntaxError: ${text} (line ${line}, column ${column})`, line, column };
  }
  return { code: 'syntax_error', message: `SyntaxError: ${message}` };
}

/**
 * Compiled code by hash of (language, code): a stored executor compiles once per version. Bounded,
 * least recently used out first; owned by a SandboxPool, not a module-level singleton.
 */
export class CompileCache {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, CompileResult>();

  constructor(maxEntries = 500) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  compile(code: string, language: SandboxLanguage): CompileResult {
    const key = createHash('sha256').update(language).update('\0').update(code).digest('base64url');
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const result = compile(code, language);
    this.#entries.set(key, result);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    return result;
  }
}
