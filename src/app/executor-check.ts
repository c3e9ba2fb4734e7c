// Mistakes in an executor that are certain when it is saved, refused then rather than found by
// the first customer whose email runs it: code that does not compile (with line and column), a
// secret it names that is not set, an address the egress policy refuses. Every saved hook and
// ERP operation goes through here.
import { referencedSecrets, type Executor } from '../domain/executor.ts';
import type { AppDeps } from './deps.ts';
import { AppError } from './errors.ts';

export interface ExecutorSaveError {
  field: string;
  message: string;
  code: 'syntax_error' | 'secret_missing' | 'egress_refused';
  line?: number;
  column?: number;
  secret?: string;
}

/** `entries`: the field each executor is saved under (`webhooks.ticketUpdates`, `executor`, ...) and the executor, if any. */
export async function checkExecutorsOnSave(
  deps: AppDeps,
  entries: ReadonlyArray<readonly [field: string, executor: Executor | null | undefined]>,
): Promise<void> {
  const errors: ExecutorSaveError[] = [];
  let known: Set<string> | null = null;
  for (const [field, executor] of entries) {
    if (!executor) continue;
    for (const p of deps.executors.check?.(executor) ?? []) {
      errors.push({ field, message: p.message, code: p.code, ...(p.line !== undefined ? { line: p.line } : {}), ...(p.column !== undefined ? { column: p.column } : {}) });
    }
    const named = referencedSecrets(executor);
    if (named.length === 0) continue;
    known ??= new Set((await deps.store.secrets.list()).map((s) => s.key));
    for (const secret of named) {
      if (known.has(secret)) continue;
      errors.push({ field, code: 'secret_missing', secret, message: `refers to secret ${secret}, which is not set: create it first (PUT /api/v1/secrets/${secret})` });
    }
  }
  if (errors.length > 0) {
    throw new AppError('validation_failed', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
  }
}
