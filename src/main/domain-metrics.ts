import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import type { ErpOperationCounts } from '../app/erp/erp-service.ts';
import type { Telemetry } from '../app/ports/telemetry.ts';
import type { ErpOperation } from '../domain/erp.ts';

/**
 * Node's default process metrics under `deskhook_`, without the three gauges prom-client also
 * names with `_total` (a suffix Prometheus keeps for counters; `promtool check metrics` flags
 * them). The same values stay as `deskhook_nodejs_active_handles`, `_requests` and `_resources`.
 */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: 'deskhook_' });
  for (const name of ['active_handles', 'active_requests', 'active_resources']) registry.removeSingleMetric(`deskhook_nodejs_${name}_total`);
}

const HOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The domain's own metrics (docs/operations.md lists them with the dashboard built on them):
 * mail per account, synchronous hooks per account and hook, IMAP polls, ERP calls and cache
 * outcomes per operation. `account` is the email account's id.
 */
export function registerDomainMetrics(registry: Registry, erpCounts: () => Readonly<Record<ErpOperation, Readonly<ErpOperationCounts>>>): Telemetry {
  const mail = (name: string, help: string) => new Counter({ name, help, labelNames: ['account'] as const, registers: [registry] });
  const received = mail('deskhook_mail_received_total', 'Inbound emails stored (SMTP or IMAP), by email account.');
  const sent = mail('deskhook_mail_sent_total', 'Outbound emails handed to the account\'s SMTP server, by email account.');
  const failed = mail('deskhook_mail_send_failures_total', 'Outbound emails that failed for good (permanently or after their retries), by email account.');
  const bounced = mail('deskhook_mail_bounced_total', 'Bounces (delivery status notifications) received, by email account.');
  const hookCalls = new Counter({
    name: 'deskhook_webhook_calls_total', help: 'Synchronous webhook calls by email account, hook, trigger and outcome (ok, aborted, failed).',
    labelNames: ['account', 'hook', 'trigger', 'outcome'] as const, registers: [registry],
  });
  const hookDuration = new Histogram({
    name: 'deskhook_webhook_duration_seconds', help: 'Time a synchronous webhook took to answer (or fail), by email account and hook.',
    labelNames: ['account', 'hook'] as const, buckets: HOOK_BUCKETS, registers: [registry],
  });
  const imapPolls = new Counter({
    name: 'deskhook_imap_polls_total', help: 'IMAP polls by email account and result (ok, failed).', labelNames: ['account', 'result'] as const, registers: [registry],
  });
  const imapFetched = new Counter({
    name: 'deskhook_imap_messages_fetched_total', help: 'Messages fetched by IMAP polls, by email account.', labelNames: ['account'] as const, registers: [registry],
  });
  const imapLastOk = new Gauge({
    name: 'deskhook_imap_last_success_timestamp_seconds', help: 'When an IMAP poll of the account last succeeded (Unix time); time() minus it is the lag.',
    labelNames: ['account'] as const, registers: [registry],
  });
  const erpCalls = new Counter({
    name: 'deskhook_erp_calls_total', help: 'Calls to the ERP (cache misses and refreshes) by operation and result (ok, failed).',
    labelNames: ['operation', 'result'] as const, registers: [registry],
  });
  const erpDuration = new Histogram({
    name: 'deskhook_erp_call_duration_seconds', help: 'Time the ERP took to answer, by operation.', labelNames: ['operation'] as const, buckets: HOOK_BUCKETS, registers: [registry],
  });
  // Cache outcomes are counted by the ERP service on its hot path; read here at scrape time.
  new Counter({
    name: 'deskhook_erp_lookups_total', help: 'ERP lookups by operation and how they were answered (hit: fresh from the cache, miss: from the ERP, stale: an expired answer while the ERP failed).',
    labelNames: ['operation', 'cache'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const [operation, c] of Object.entries(erpCounts())) {
        this.inc({ operation, cache: 'hit' }, c.hits);
        this.inc({ operation, cache: 'miss' }, c.misses);
        this.inc({ operation, cache: 'stale' }, c.staleServed);
      }
    },
  });
  const account = (id: number | null) => (id === null ? 'none' : String(id));
  return {
    mailReceived: (id) => received.inc({ account: account(id) }),
    mailSent: (id) => sent.inc({ account: account(id) }),
    mailFailed: (id) => failed.inc({ account: account(id) }),
    mailBounced: (id) => bounced.inc({ account: account(id) }),
    webhookCalled: (id, hook, trigger, outcome, durationMs) => {
      hookCalls.inc({ account: account(id), hook, trigger, outcome });
      hookDuration.observe({ account: account(id), hook }, durationMs / 1000);
    },
    imapPolled: (id, result, fetched) => {
      imapPolls.inc({ account: account(id), result });
      if (fetched > 0) imapFetched.inc({ account: account(id) }, fetched);
      if (result === 'ok') imapLastOk.set({ account: account(id) }, Date.now() / 1000);
    },
    erpCalled: (operation, ok, durationMs) => {
      erpCalls.inc({ operation, result: ok ? 'ok' : 'failed' });
      erpDuration.observe({ operation }, durationMs / 1000);
    },
  };
}
