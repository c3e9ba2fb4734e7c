/**
 * What the domain counts for the operator's metrics (mail, synchronous hooks, IMAP polls, ERP
 * calls), as plain calls: the Prometheus implementation is in src/main/domain-metrics.ts; without
 * one (tests, tools) nothing is counted. Calls are cheap and never throw.
 */
export interface Telemetry {
  /** An inbound email was stored (SMTP or IMAP), before it is processed. */
  mailReceived(accountId: number): void;
  /** An outbound email was handed to the account's SMTP server. */
  mailSent(accountId: number | null): void;
  /** An outbound email failed for good (after its retries, or permanently). */
  mailFailed(accountId: number | null): void;
  /** A bounce (delivery status notification) came in for the account. */
  mailBounced(accountId: number | null): void;
  /** A synchronous hook (`newEmails`, `ticketUpdates`) was called: its outcome and how long it took. */
  webhookCalled(accountId: number, hook: string, trigger: string, outcome: 'ok' | 'aborted' | 'failed' | 'memoized', durationMs: number): void;
  /** An IMAP poll of an account finished: `ok` with the messages it fetched, or `failed`. */
  imapPolled(accountId: number, result: 'ok' | 'failed', fetched: number): void;
  /** A call to the team's ERP (a cache miss or a refresh): the operation, whether it answered usably, its duration. */
  erpCalled(operation: string, ok: boolean, durationMs: number): void;
}

export const NO_TELEMETRY: Telemetry = {
  mailReceived: () => undefined,
  mailSent: () => undefined,
  mailFailed: () => undefined,
  mailBounced: () => undefined,
  webhookCalled: () => undefined,
  imapPolled: () => undefined,
  erpCalled: () => undefined,
};
