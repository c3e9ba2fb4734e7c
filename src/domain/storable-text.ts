/**
 * Text deskhook stores must hold no NUL character (PostgreSQL refuses it) and no lone surrogate
 * (SQLite and PostgreSQL would store different text, or none). Checked at the edge, so a client
 * gets a clear 400 naming the field instead of a 500 from the database.
 */

export const NUL = 'must not contain the NUL character';
export const LONE_SURROGATE = 'must be well-formed Unicode (a lone surrogate is not)';

/** What is wrong with a string deskhook would store, or null. */
export function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return NUL;
  // JSON may spell half of a surrogate pair (`"\ud800"`); the databases store such a string
  // differently (or not at all), so it is refused the same way on both.
  return (text as string & { isWellFormed(): boolean }).isWellFormed() ? null : LONE_SURROGATE;
}

/**
 * The path and problem of the first string or property name holding a NUL character or a lone
 * surrogate, or null (depth-limited walk of parsed JSON). A bad property name is reported at its
 * parent, since the name itself cannot be echoed safely. Bytes are not text: a Buffer is the
 * caller's to check, line by line (walking it as an object would visit every byte).
 */
export function badTextAt(value: unknown, path: string, depth = 0): { path: string; problem: string } | null {
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? { path, problem } : null;
  }
  if (depth > 32 || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return null;
  for (const [k, v] of Object.entries(value)) {
    const keyProblem = textProblem(k);
    if (keyProblem === NUL) return { path: path ? `${path}.${k}` : k, problem: NUL };
    if (keyProblem) return { path, problem: `property names ${keyProblem}` };
    const found = badTextAt(v, path ? `${path}.${k}` : k, depth + 1);
    if (found !== null) return found;
  }
  return null;
}
