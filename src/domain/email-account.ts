import type { Executor } from './executor.ts';
import { DEFAULT_QUARANTINE, type QuarantineSettings } from './hook-health.ts';

export interface SmtpInbound {
  type: 'smtp';
}

export interface ImapInbound {
  type: 'imap';
  host: string;
  port: number;
  secure: boolean;
  user: string;
  /** Write-only: stored encrypted, never returned; `hasPassword` tells whether one is set. */
  password?: string | null;
  folder: string;
}

export type Inbound = SmtpInbound | ImapInbound;

export interface SmtpOutbound {
  host: string;
  port: number;
  secure: boolean;
  user: string | null;
  password?: string | null;
  senderName: string | null;
}

export const FAILURE_POLICIES = ['notify', 'block'] as const;
export type FailurePolicy = (typeof FAILURE_POLICIES)[number];

export const WEBHOOK_TIMEOUT_DEFAULT_MS = 10_000;
export const WEBHOOK_TIMEOUT_MAX_MS = 30_000;

export interface WebhookSettings {
  /** The switch: hooks fire only when on. */
  enabled: boolean;
  ticketUpdates: Executor | null;
  newEmails: Executor | null;
  timeoutMs: number;
  failurePolicy: FailurePolicy;
  /**
   * A call that fails under policy `notify` is delivered again later, from the durable outbox,
   * with the events' retry schedule; its answer is recorded, never applied.
   */
  deliverLate: boolean;
  /**
   * Per hook: an idempotent hook is not called again, within `memoSeconds`, for a payload equal
   * to one it answered (see domain/webhook-memo.ts); its remembered answer is applied instead.
   */
  memo: { ticketUpdates: HookMemo | null; newEmails: HookMemo | null };
  /** Per hook: a second executor run after the live one with the same input; recorded, compared, never applied. */
  shadow: { ticketUpdates: Executor | null; newEmails: Executor | null };
  /** When a sick hook is taken out of the user's path (domain/hook-health.ts). */
  quarantine: QuarantineSettings;
  /** Read only: the version of each hook's executor (kept in hook_versions), named by every invocation. */
  versions?: { ticketUpdates?: number; newEmails?: number };
}

export interface HookMemo {
  idempotent: boolean;
  memoSeconds: number;
}

export const MEMO_SECONDS_MAX = 86_400;

export interface EmailAccount {
  id: number;
  name: string;
  address: string;
  inbound: Inbound;
  outbound: SmtpOutbound | null;
  webhooks: WebhookSettings;
  createdAt: string;
  modifiedAt: string;
}

export function defaultWebhookSettings(): WebhookSettings {
  return { enabled: false, ticketUpdates: null, newEmails: null, timeoutMs: WEBHOOK_TIMEOUT_DEFAULT_MS, failurePolicy: 'notify', deliverLate: true, memo: { ticketUpdates: null, newEmails: null }, quarantine: { ...DEFAULT_QUARANTINE }, shadow: { ticketUpdates: null, newEmails: null } };
}

/**
 * Settings with `patch` laid over `base`, the nested objects (`memo`, `quarantine`, `shadow`)
 * key by key: what a request or an older stored account leaves out keeps its value.
 */
export function mergeWebhookSettings(base: WebhookSettings, patch: Partial<WebhookSettings> | undefined): WebhookSettings {
  return {
    ...base, ...patch,
    memo: { ...base.memo, ...patch?.memo },
    quarantine: { ...base.quarantine, ...patch?.quarantine },
    shadow: { ...base.shadow, ...patch?.shadow },
  };
}

export function normaliseAddress(address: string): string {
  return address.trim().toLowerCase();
}
