// Quarantine of a sick synchronous hook: a circuit breaker per hook. Each process judges the
// calls it made (a window of the last `windowCalls`); when too many fail or the slow ones are too
// slow, the hook is quarantined for all processes (a row in the database): calls are skipped and
// handled by the failure policy, admins are told, WebhookQuarantined is published. After the
// cool-down the next call is a probe: a healthy answer ends the quarantine, anything else starts
// another cool-down. An admin can end it at once.
import type { EmailAccount } from '../../domain/email-account.ts';
import { healthOf, p95LimitMs, quarantineReason, type CallSample, type HookHealth } from '../../domain/hook-health.ts';
import { HOOKS, type Hook } from '../../domain/webhook.ts';
import type { AppDeps } from '../deps.ts';
import { accountWithSecrets } from '../email-accounts.ts';
import { adminIds, notify } from '../notifications.ts';
import type { HookQuarantine } from '../ports/store.ts';
import { publish } from '../record-change.ts';
import { webhookScope } from './hook-versions.ts';

/** How long a process trusts what it read about a quarantine (another process may start or end one). */
const STATE_TTL_MS = 1_000;

interface ProcessState {
  windows: Map<string, CallSample[]>;
  read: Map<string, { state: HookQuarantine | null; at: number }>;
}
// Per store: tests run many databases in one process, each with its own account 1.
const states = new WeakMap<object, ProcessState>();
function processState(deps: AppDeps): ProcessState {
  let s = states.get(deps.store);
  if (!s) states.set(deps.store, (s = { windows: new Map(), read: new Map() }));
  return s;
}

/** Whether calls of this kind count and may be skipped: not a settings test, not a manual retry. */
export function judged(trigger: string): boolean {
  return trigger !== 'test' && trigger !== 'retry';
}

/** The hook's quarantine as this process last read it (at most STATE_TTL_MS ago). */
export async function currentQuarantine(deps: AppDeps, accountId: number, hook: Hook): Promise<HookQuarantine | null> {
  const scope = webhookScope(accountId, hook);
  const cache = processState(deps).read;
  const hit = cache.get(scope);
  if (hit && Date.now() - hit.at < STATE_TTL_MS) return hit.state;
  const state = await deps.store.hookQuarantine.get(scope);
  cache.set(scope, { state, at: Date.now() });
  return state;
}

/** True while the quarantine holds (its cool-down has not ended): the call is skipped. */
export function holds(deps: AppDeps, q: HookQuarantine | null): q is HookQuarantine {
  return q !== null && deps.clock.now().getTime() < Date.parse(q.until);
}

/**
 * After a real call: counts it, and starts a quarantine (the window judges the hook sick) or, for
 * the probe after a cool-down (`probing`), ends it or starts another cool-down.
 */
export async function afterCall(deps: AppDeps, account: EmailAccount, hook: Hook, sample: CallSample, probing: HookQuarantine | null): Promise<void> {
  const settings = account.webhooks.quarantine;
  if (!settings.enabled) return;
  const scope = webhookScope(account.id, hook);
  const own = processState(deps);
  const now = deps.clock.now();
  if (probing) {
    const healthy = sample.ok && sample.durationMs <= p95LimitMs(settings, account.webhooks.timeoutMs);
    own.read.delete(scope);
    if (healthy) {
      own.windows.delete(scope);
      if (await deps.store.hookQuarantine.end(scope)) deps.logger.info({ scope }, 'webhook quarantine ended: the probe call was healthy');
    } else {
      await deps.store.hookQuarantine.extend(scope, new Date(now.getTime() + settings.coolDownSeconds * 1000).toISOString());
    }
    return;
  }
  const window = [...(own.windows.get(scope) ?? []), sample].slice(-settings.windowCalls);
  own.windows.set(scope, window);
  const reason = quarantineReason(window, settings, account.webhooks.timeoutMs);
  if (!reason) return;
  own.windows.delete(scope);
  own.read.delete(scope);
  const q: HookQuarantine = { scope, since: now.toISOString(), until: new Date(now.getTime() + settings.coolDownSeconds * 1000).toISOString(), reason };
  if (!(await deps.store.hookQuarantine.start(q))) return; // another process started it
  const health = healthOf(window);
  deps.logger.warn({ scope, reason }, 'webhook quarantined');
  await deps.store.transaction((tx) => publish(tx, deps, [{
    type: 'WebhookQuarantined', ticketId: null, userId: null,
    data: { emailAccountId: account.id, hook, reason, since: q.since, until: q.until, failureRate: health.failureRate, p95Ms: health.p95Ms },
  }]));
  const name = hook === 'newEmails' ? 'webhook for new emails' : 'webhook for ticket updates';
  await notify(deps, await adminIds(deps.store), {
    kind: 'webhook_quarantined', ticketId: null, link: `/settings/email-accounts/${account.id}`,
    message: `The ${name} of "${account.name}" is quarantined: ${reason}. Its calls are skipped (failure policy ${account.webhooks.failurePolicy}) until a probe after ${settings.coolDownSeconds} s is healthy, or an admin releases it.`,
  });
}

/** The failure a skipped call reports: what the user reads (in a warning or a problem) and the log keeps. */
export function quarantinedMessage(q: HookQuarantine): string {
  return `the hook is quarantined since ${q.since} (${q.reason}); it is tried again after ${q.until}`;
}

export interface HookHealthView extends HookHealth {
  hook: Hook;
  state: 'healthy' | 'quarantined' | 'probing';
  quarantine: HookQuarantine | null;
}

/** Health of both hooks from the invocation log (every process's calls), with the quarantine state. */
export async function hookHealth(deps: AppDeps, accountId: number): Promise<HookHealthView[]> {
  const { account } = await accountWithSecrets(deps, accountId);
  return Promise.all(HOOKS.map(async (hook) => {
    const [calls, quarantine] = await Promise.all([
      deps.store.webhookInvocations.recentCalls(account.id, hook, account.webhooks.quarantine.windowCalls),
      deps.store.hookQuarantine.get(webhookScope(account.id, hook)),
    ]);
    const state = quarantine === null ? 'healthy' : holds(deps, quarantine) ? 'quarantined' : 'probing';
    return { hook, state, quarantine, ...healthOf(calls) };
  }));
}

/** An admin ends a quarantine at once. */
export async function releaseQuarantine(deps: AppDeps, accountId: number, hook: Hook): Promise<boolean> {
  await accountWithSecrets(deps, accountId);
  const scope = webhookScope(accountId, hook);
  const own = processState(deps);
  own.read.delete(scope);
  own.windows.delete(scope);
  return deps.store.hookQuarantine.end(scope);
}
