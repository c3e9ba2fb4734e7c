import {
  checkContract, checkCustomer, normaliseId, type Contract, type Customer, type ErpSettings,
} from '../../domain/erp.ts';
import type { AppDeps } from '../deps.ts';
import { checkExecutorsOnSave } from '../executor-check.ts';
import { AppError, notFound } from '../errors.ts';
import { SETTINGS_PROPAGATION_MS, withErpDefaults, type ErpService } from './erp-service.ts';
import { nextTurn } from '../next-turn.ts';
import { badTextAt } from '../../domain/storable-text.ts';

/** The ERP settings as stored (defaults until an admin saves them). */
export async function getErpSettings(deps: AppDeps): Promise<ErpSettings> {
  return withErpDefaults(await deps.store.settings.get<ErpSettings>('erp'));
}

export async function putErpSettings(deps: AppDeps, erp: ErpService, patch: Partial<ErpSettings>): Promise<ErpSettings> {
  await checkExecutorsOnSave(deps, Object.entries(patch.executors ?? {}).map(([operation, executor]) => [`executors.${operation}`, executor] as const));
  const current = await getErpSettings(deps);
  const settings: ErpSettings = {
    ...current,
    ...patch,
    executors: patch.executors ?? current.executors,
    cacheTtlSeconds: { ...current.cacheTtlSeconds, ...(patch.cacheTtlSeconds ?? {}) },
  };
  await deps.store.settings.put('erp', settings, deps.clock.now().toISOString());
  erp.settingsChanged(settings);
  // Answers cached under the old settings may come from another ERP. Other processes pick up the
  // new settings within a few seconds and may cache an old answer meanwhile: clear once more then.
  await erp.clearCache();
  setTimeout(() => void erp.clearCache().catch(() => undefined), SETTINGS_PROPAGATION_MS).unref();
  return settings;
}

function invalidRecord(message: string, line?: number): AppError {
  const field = message.split(' ')[0]!;
  return new AppError('validation_failed', line === undefined ? message : `line ${line}: ${message}`, {
    errors: [{ field: line === undefined ? field : `line ${line}: ${field}`, message }],
  });
}

function pathId(id: string, body?: Record<string, unknown>): string {
  const normalised = normaliseId(id);
  if (!normalised) throw new AppError('validation_failed', 'id must be 1 to 50 characters', { errors: [{ field: 'id', message: 'not an id' }] });
  if (body && body.id !== undefined && normaliseId(body.id) !== normalised) {
    throw new AppError('validation_failed', `the body's id ${String(body.id)} is not the id of the path (${normalised})`, { errors: [{ field: 'id', message: 'differs from the path' }] });
  }
  return normalised;
}

/** Local mode: stores a contract under the id of the path (the body's id, if any, must agree). */
export async function putLocalContract(deps: AppDeps, erp: ErpService, id: string, body: Record<string, unknown>): Promise<Contract> {
  const checked = checkContract({ ...body, id: pathId(id, body) });
  if (!checked.ok) throw invalidRecord(checked.message);
  await deps.store.erp.putContract(checked.value, deps.clock.now().toISOString());
  await erp.invalidate({ contractId: checked.value.id });
  return checked.value;
}

export async function putLocalCustomer(deps: AppDeps, erp: ErpService, id: string, body: Record<string, unknown>): Promise<Customer> {
  const checked = checkCustomer({ ...body, id: pathId(id, body) });
  if (!checked.ok) throw invalidRecord(checked.message);
  await deps.store.erp.putCustomer(checked.value, deps.clock.now().toISOString());
  await erp.invalidate({ customerId: checked.value.id });
  return checked.value;
}

export async function deleteLocalRecord(deps: AppDeps, erp: ErpService, kind: 'contract' | 'customer', id: string): Promise<void> {
  const key = pathId(id);
  const deleted = kind === 'contract' ? await deps.store.erp.deleteContract(key) : await deps.store.erp.deleteCustomer(key);
  if (!deleted) throw notFound(kind, key);
  await erp.invalidate(kind === 'contract' ? { contractId: key } : { customerId: key });
}

export interface ImportResult {
  contracts: number;
  customers: number;
}

/** Lines checked, and records written in one transaction, between two turns of the event loop. */
const IMPORT_CHUNK = 100;

/**
 * The lines of an import, one at a time, without a `\r` at their end. From bytes each line is
 * decoded on its own: decoding 17 MB at once (100k records) held the event loop for 60 ms, and
 * splitting the whole text with a pattern for another 25.
 */
function* linesOf(input: string | Uint8Array): Generator<string> {
  const bytes = typeof input === 'string' ? Buffer.from(input) : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  for (let start = 0; start <= bytes.length;) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    const line = bytes.toString('utf8', start, end);
    yield line.endsWith('\r') ? line.slice(0, -1) : line;
    start = end + 1;
  }
}

/**
 * Bulk import: one JSON object per line, `{"type": "contract"|"customer", ...record}`. All lines
 * are checked first; if one is wrong nothing is written and the error names its line and field.
 * Then the records are written in transactions of IMPORT_CHUNK, yielding between them, so that an
 * import of 100k records neither holds the database's writer nor the event loop (the API, SMTP
 * and the delivery worker share the process) for more than a few milliseconds at a time. A
 * database failure while writing leaves the chunks before it written; records are upserted by id,
 * so running the same import again completes it.
 */
export async function importLocalRecords(deps: AppDeps, erp: ErpService, input: string | Uint8Array): Promise<ImportResult> {
  const records: Array<{ kind: 'contract'; value: Contract } | { kind: 'customer'; value: Customer }> = [];
  let i = -1;
  for (const line of linesOf(input)) {
    i++;
    if (i % IMPORT_CHUNK === IMPORT_CHUNK - 1) await nextTurn();
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw invalidRecord('the line is not JSON', i + 1);
    }
    // The HTTP layer checks JSON bodies for text no database stores; an import's lines are checked here.
    const bad = badTextAt(value, '');
    if (bad) throw invalidRecord(`${bad.path || 'the record'} ${bad.problem}`, i + 1);
    const { type, ...record } = (value ?? {}) as { type?: unknown } & Record<string, unknown>;
    if (type === 'contract') {
      const checked = checkContract(record);
      if (!checked.ok) throw invalidRecord(checked.message, i + 1);
      records.push({ kind: 'contract', value: checked.value });
    } else if (type === 'customer') {
      const checked = checkCustomer(record);
      if (!checked.ok) throw invalidRecord(checked.message, i + 1);
      records.push({ kind: 'customer', value: checked.value });
    } else {
      throw invalidRecord('type must be "contract" or "customer"', i + 1);
    }
  }
  const at = deps.clock.now().toISOString();
  for (let start = 0; start < records.length; start += IMPORT_CHUNK) {
    const chunk = records.slice(start, start + IMPORT_CHUNK);
    const contracts = chunk.flatMap((r) => (r.kind === 'contract' ? [r.value] : []));
    const customers = chunk.flatMap((r) => (r.kind === 'customer' ? [r.value] : []));
    await deps.store.transaction((tx) => tx.erp.putMany(contracts, customers, at));
    await nextTurn();
  }
  const contracts = records.filter((r) => r.kind === 'contract').length;
  await erp.clearCache();
  return { contracts, customers: records.length - contracts };
}
