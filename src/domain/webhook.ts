import { sameJson } from './json.ts';
import { TICKET_PRIORITIES, TICKET_STATUSES, type TicketPatch } from './ticket.ts';

export const HOOKS = ['newEmails', 'ticketUpdates'] as const;
export type Hook = (typeof HOOKS)[number];

/** What a synchronous webhook may answer; every key is optional and an empty answer means "go on". */
export interface WebhookAnswer {
  abort: boolean;
  message: string | null;
  ticket: Pick<TicketPatch, 'priority' | 'agentId' | 'addTags' | 'removeTags' | 'status' | 'dueBy'> | null;
  note: string | null;
  spam: boolean;
}

const TICKET_KEYS = ['priority', 'agentId', 'addTags', 'removeTags', 'status', 'dueBy'] as const;
const ANSWER_KEYS = ['abort', 'message', 'ticket', 'note', 'spam'] as const;

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.trim() !== '' && x.length <= 100);

/**
 * Validates a hook's answer against the output schema. An unknown key or a wrong type is a
 * failure of the hook (named in the message), never silently ignored.
 */
export function parseWebhookAnswer(output: unknown): { ok: true; answer: WebhookAnswer } | { ok: false; message: string } {
  const answer: WebhookAnswer = { abort: false, message: null, ticket: null, note: null, spam: false };
  if (output === null || output === undefined) return { ok: true, answer };
  if (typeof output !== 'object' || Array.isArray(output)) return { ok: false, message: 'the answer must be a JSON object' };
  const o = output as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(ANSWER_KEYS as readonly string[]).includes(key)) return { ok: false, message: `unknown key "${key}" in the answer (allowed: ${ANSWER_KEYS.join(', ')})` };
  }
  if (o.abort !== undefined) {
    if (typeof o.abort !== 'boolean') return { ok: false, message: '"abort" must be true or false' };
    answer.abort = o.abort;
  }
  if (o.spam !== undefined) {
    if (typeof o.spam !== 'boolean') return { ok: false, message: '"spam" must be true or false' };
    answer.spam = o.spam;
  }
  for (const key of ['message', 'note'] as const) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v.length > 10_000) return { ok: false, message: `"${key}" must be a string of at most 10000 characters` };
    answer[key] = v;
  }
  if (o.ticket !== undefined && o.ticket !== null) {
    if (typeof o.ticket !== 'object' || Array.isArray(o.ticket)) return { ok: false, message: '"ticket" must be an object' };
    const t = o.ticket as Record<string, unknown>;
    const patch: NonNullable<WebhookAnswer['ticket']> = {};
    for (const key of Object.keys(t)) {
      if (!(TICKET_KEYS as readonly string[]).includes(key)) return { ok: false, message: `unknown key "ticket.${key}" in the answer (allowed: ${TICKET_KEYS.join(', ')})` };
    }
    if (t.priority !== undefined) {
      if (!(TICKET_PRIORITIES as readonly unknown[]).includes(t.priority)) return { ok: false, message: `"ticket.priority" must be one of ${TICKET_PRIORITIES.join(', ')}` };
      patch.priority = t.priority as never;
    }
    if (t.status !== undefined) {
      if (!(TICKET_STATUSES as readonly unknown[]).includes(t.status)) return { ok: false, message: `"ticket.status" must be one of ${TICKET_STATUSES.join(', ')}` };
      patch.status = t.status as never;
    }
    if (t.agentId !== undefined) {
      if (t.agentId !== null && !(Number.isInteger(t.agentId) && (t.agentId as number) > 0)) return { ok: false, message: '"ticket.agentId" must be a user id or null' };
      patch.agentId = t.agentId as number | null;
    }
    if (t.dueBy !== undefined) {
      if (t.dueBy !== null && (typeof t.dueBy !== 'string' || Number.isNaN(Date.parse(t.dueBy)))) return { ok: false, message: '"ticket.dueBy" must be an ISO 8601 date-time or null' };
      patch.dueBy = t.dueBy === null ? null : new Date(t.dueBy as string).toISOString();
    }
    for (const key of ['addTags', 'removeTags'] as const) {
      if (t[key] === undefined) continue;
      if (!isStringArray(t[key])) return { ok: false, message: `"ticket.${key}" must be an array of tag names` };
      patch[key] = t[key] as string[];
    }
    answer.ticket = Object.keys(patch).length ? patch : null;
  }
  return { ok: true, answer };
}

/** One field in which two answers differ (a dotted path such as `ticket.priority`). */
export interface AnswerDifference {
  field: string;
  live: unknown;
  shadow: unknown;
}

/** Null for "no answer" (the call failed). */
function fieldsOf(answer: WebhookAnswer | null): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!answer) return out;
  out.set('abort', answer.abort);
  out.set('message', answer.message);
  out.set('note', answer.note);
  out.set('spam', answer.spam);
  for (const key of TICKET_KEYS) {
    const value = answer.ticket?.[key];
    out.set(`ticket.${key}`, Array.isArray(value) ? [...value].sort() : value ?? null);
  }
  return out;
}

/**
 * What a shadow answer would have changed compared with the live one: every field of the answer
 * (`abort`, `message`, `note`, `spam`, each `ticket.*`, tag lists compared as sets) that differs.
 */
export function compareAnswers(live: WebhookAnswer | null, shadow: WebhookAnswer | null): AnswerDifference[] {
  const a = fieldsOf(live);
  const b = fieldsOf(shadow);
  const diffs: AnswerDifference[] = [];
  for (const field of new Set([...a.keys(), ...b.keys()])) {
    const [x, y] = [a.get(field) ?? null, b.get(field) ?? null];
    if (!sameJson(x, y)) diffs.push({ field, live: x, shadow: y });
  }
  return diffs;
}
