import { replyAddresses } from '../../domain/conversation.ts';
import { CHARACTERISTICS, type Characteristic, type Characteristics, type Contract, type Customer } from '../../domain/erp.ts';
import { evaluateCriteria, legitimationLevel, levelFromErp, type CriterionResult } from '../../domain/recognition/legitimation.ts';
import { checkRecognitionSettings, DEFAULT_RECOGNITION_SETTINGS, type RecognitionSettings } from '../../domain/recognition/settings.ts';
import type { LegitimationLevel } from '../../domain/ticket.ts';
import type { Actor } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { inProcessExtractor } from '../ports/recognition-extractor.ts';
import type { Lookup } from '../erp/erp-service.ts';
import { AppError, notFound } from '../errors.ts';
import { updateTicket } from '../tickets/update-ticket.ts';

export interface RecognitionInput {
  from: string | null;
  fromName?: string | null;
  subject: string;
  /** Plain text. */
  body: string;
  ticketId?: number | null;
}

export interface DetectionStep {
  step: 'extract' | 'model' | 'search' | 'load' | 'legitimation';
  message: string;
}

export interface ErpCallRecord {
  operation: string;
  cache: 'hit' | 'miss' | 'stale' | 'local' | 'failed';
  durationMs: number;
}

export interface RecognitionResult {
  characteristics: Characteristics;
  contract: Contract | null;
  customer: Customer | null;
  legitimationLevel: LegitimationLevel;
  criteria: CriterionResult[];
  detectionLog: DetectionStep[];
  erpCalls: ErpCallRecord[];
  /** Set when the extraction overran its budget (DESKHOOK_RECOGNITION_BUDGET_MS) and was stopped. */
  timedOut?: boolean;
}

export async function getRecognitionSettings(deps: AppDeps): Promise<RecognitionSettings> {
  return { ...DEFAULT_RECOGNITION_SETTINGS, ...((await deps.store.settings.get<Partial<RecognitionSettings>>('recognition')) ?? {}) };
}

export async function putRecognitionSettings(deps: AppDeps, patch: Partial<RecognitionSettings>): Promise<RecognitionSettings> {
  const settings = { ...(await getRecognitionSettings(deps)), ...patch };
  const problem = checkRecognitionSettings(settings);
  if (problem) throw new AppError('validation_failed', `${problem.field} ${problem.message}`, { errors: [problem] });
  await deps.store.settings.put('recognition', settings, deps.clock.now().toISOString());
  return settings;
}

function callRecord(lookup: Lookup<unknown>): ErpCallRecord {
  return { operation: lookup.operation, cache: lookup.source === 'local' ? 'local' : lookup.stale ? 'stale' : lookup.source === 'cache' ? 'hit' : 'miss', durationMs: lookup.durationMs };
}

/**
 * Who wrote this? Extracts the characteristics (rules, then optionally the model), searches the
 * ERP for at most one contract, loads it and its customer, and rates the legitimation. Changes
 * nothing; every step and ERP call is in the result's log.
 */
export async function recognise(deps: AppDeps, input: RecognitionInput, settings?: RecognitionSettings): Promise<RecognitionResult> {
  const s = settings ?? (await getRecognitionSettings(deps));
  const log: DetectionStep[] = [];
  const erpCalls: ErpCallRecord[] = [];
  // Off the event loop with a time budget when the server wired a worker (deps.recognition).
  const outcome = await (deps.recognition ?? inProcessExtractor).extract(
    { from: input.from, fromName: input.fromName ?? null, subject: input.subject, body: input.body },
    { ...(s.contractPatterns.length ? { contractPatterns: s.contractPatterns } : {}), ...(s.customerPatterns.length ? { customerPatterns: s.customerPatterns } : {}), ownDomains: s.ownDomains },
  );
  if (outcome.status !== 'done') {
    const message = outcome.status === 'timed-out'
      ? `recognition timed out: the rules took longer than ${outcome.budgetMs} ms and were stopped; no customer is recognised`
      : `recognition failed: ${outcome.message}; no customer is recognised`;
    log.push({ step: 'extract', message });
    return { characteristics: {}, contract: null, customer: null, legitimationLevel: 0, criteria: [], detectionLog: log, erpCalls, ...(outcome.status === 'timed-out' ? { timedOut: true } : {}) };
  }
  const extraction = outcome.extraction;
  const characteristics: Characteristics = { ...extraction.characteristics };
  for (const e of extraction.log) log.push({ step: 'extract', message: `${e.field} "${e.value}" from the ${e.source} (${e.rule})` });
  if (!extraction.log.length) log.push({ step: 'extract', message: 'the rules found no characteristics' });

  if (s.useModel && deps.model) {
    const missing = CHARACTERISTICS.filter((c) => characteristics[c] === undefined);
    try {
      const found = await deps.model.extract({ from: input.from, subject: input.subject, body: input.body }, missing);
      for (const [field, value] of Object.entries(found)) {
        if (characteristics[field as Characteristic] !== undefined) continue;
        characteristics[field as Characteristic] = value;
        log.push({ step: 'model', message: `${field} "${value}" from the language model` });
      }
      if (!Object.keys(found).length) log.push({ step: 'model', message: 'the language model found nothing more' });
    } catch (err) {
      log.push({ step: 'model', message: `the language model failed: ${(err as Error).message}` });
    }
  }

  const empty: RecognitionResult = { characteristics, contract: null, customer: null, legitimationLevel: 0, criteria: [], detectionLog: log, erpCalls };
  if (!Object.keys(characteristics).length) {
    log.push({ step: 'search', message: 'nothing to search the ERP with' });
    return empty;
  }
  let match;
  try {
    const lookup = await deps.erp.searchContracts({ ...characteristics, ticketId: input.ticketId ?? null });
    erpCalls.push(callRecord(lookup));
    match = lookup.value;
  } catch (err) {
    erpCalls.push({ operation: 'searchContracts', cache: 'failed', durationMs: 0 });
    log.push({ step: 'search', message: `the search failed: ${(err as Error).message}` });
    return empty;
  }
  if (!match) {
    log.push({ step: 'search', message: 'no single contract matches these characteristics' });
    return empty;
  }
  log.push({ step: 'search', message: `found contract ${match.contractId} of customer ${match.customerId}` });

  const load = async <T>(what: 'contract' | 'customer', get: () => Promise<Lookup<T | null>>): Promise<T | null> => {
    try {
      const lookup = await get();
      erpCalls.push(callRecord(lookup));
      if (!lookup.value) log.push({ step: 'load', message: `the ERP does not know the ${what} it found` });
      return lookup.value;
    } catch (err) {
      erpCalls.push({ operation: what === 'contract' ? 'contractById' : 'customerById', cache: 'failed', durationMs: 0 });
      log.push({ step: 'load', message: `loading the ${what} failed: ${(err as Error).message}` });
      return null;
    }
  };
  const [contract, customer] = await Promise.all([
    load('contract', () => deps.erp.contractById(match.contractId)),
    load('customer', () => deps.erp.customerById(match.customerId)),
  ]);
  if (!contract) return { ...empty, detectionLog: log };

  const criteria = evaluateCriteria(characteristics, input.from, contract, customer);
  for (const c of criteria) log.push({ step: 'legitimation', message: `${c.met ? '✓' : '✗'} ${c.criterion}: ${c.detail}` });
  let level: LegitimationLevel;
  if (match.customerLegitimation !== undefined) {
    level = levelFromErp(match.customerLegitimation);
    log.push({ step: 'legitimation', message: `level ${level} decided by the ERP${match.customerLegitimationMessage ? `: ${match.customerLegitimationMessage}` : ''}` });
  } else {
    const decided = legitimationLevel(true, criteria, s.rules);
    level = decided.level;
    log.push({ step: 'legitimation', message: decided.rule ? `level 20: rule "${decided.rule}" holds` : 'level 10: recognised, but no rule holds' });
  }
  return { characteristics, contract, customer, legitimationLevel: level, criteria, detectionLog: log, erpCalls };
}

const RECOGNITION: Actor = { type: 'system', reason: 'customer recognition', trigger: 'recognition' };

/**
 * Recognition of a new inbound ticket: links the contract and customer it found with their level
 * (TicketUpdated and ContractLinked are published with the change) and keeps the detection log and
 * every ERP call on the ticket's activity, whether or not a contract was found.
 */
export async function recognizeTicket(deps: AppDeps, ticketId: number): Promise<RecognitionResult | null> {
  const settings = await getRecognitionSettings(deps);
  if (!settings.enabled) return null;
  const ticket = await deps.store.tickets.get(ticketId);
  if (!ticket || ticket.contractId) return null;
  // The sender is whom the customer asked answers to go to: Reply-To before From (a form mailer
  // writes `From: noreply@…` and the customer's address into Reply-To).
  const sender = replyAddresses(ticket.from, ticket.fromName, ticket.flags)[0] ?? null;
  const result = await recognise(deps, { from: sender?.address ?? null, fromName: sender?.name || ticket.fromName, subject: ticket.subject, body: ticket.bodyPlain, ticketId }, settings);
  const summary = {
    characteristics: result.characteristics, detectionLog: result.detectionLog, erpCalls: result.erpCalls,
    criteria: result.criteria.filter((c) => c.met).map((c) => c.criterion),
  };
  if (result.contract) {
    await updateTicket(deps, ticketId, {
      contractId: result.contract.id, customerId: result.contract.customerId, legitimationLevel: result.legitimationLevel,
    }, RECOGNITION, { recognition: summary });
  } else {
    await deps.store.activity.add([{ ticketId, field: 'recognition', from: null, to: result.timedOut ? 'recognition timed out' : 'no contract', actor: RECOGNITION, at: deps.clock.now().toISOString(), meta: { recognition: summary } }]);
  }
  return result;
}

/** An agent links (or relinks) a contract they chose: it is looked up in the ERP, and counts as confirmed (30). */
export async function linkContract(deps: AppDeps, ticketId: number, contractId: string, actor: Actor) {
  const lookup = await deps.erp.contractById(contractId);
  if (!lookup.value) throw notFound('contract', contractId);
  return updateTicket(deps, ticketId, { contractId: lookup.value.id, customerId: lookup.value.customerId, legitimationLevel: 30 }, actor);
}

export async function confirmContract(deps: AppDeps, ticketId: number, actor: Actor) {
  const ticket = await deps.store.tickets.get(ticketId);
  if (!ticket) throw notFound('ticket', ticketId);
  if (!ticket.contractId) throw new AppError('conflict', `ticket ${ticketId} has no contract to confirm`);
  return updateTicket(deps, ticketId, { legitimationLevel: 30 }, actor);
}

export async function unlinkContract(deps: AppDeps, ticketId: number, actor: Actor) {
  return updateTicket(deps, ticketId, { contractId: null, customerId: null, legitimationLevel: 0 }, actor);
}
