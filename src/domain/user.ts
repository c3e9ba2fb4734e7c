export const ROLES = ['admin', 'agent'] as const;
export type UserRole = (typeof ROLES)[number];

export interface User {
  id: number;
  email: string;
  name: string;
  role: UserRole;
  /** Service users exist for integrations: they hold API keys and cannot log in with a password. */
  service: boolean;
  disabled: boolean;
  createdAt: string;
}

/** Who did something: shown in the activity log and carried on events. */
export type Actor =
  | { type: 'user'; userId: number }
  | { type: 'system'; reason: string; trigger?: SystemTrigger }
  | { type: 'webhook'; hook: string; invocationId: string };

/** What made deskhook change a ticket on its own. */
export type SystemTrigger = 'inboundEmail' | 'reopenedByCustomerReply' | 'dueBy' | 'recognition';

/**
 * What caused a change, as receivers see it in `trigger`: `user` (a person or an API key),
 * `webhook` (a hook's answer) or the system trigger (`system` for one without a name).
 */
export type ChangeTrigger = 'user' | 'webhook' | SystemTrigger | 'system';

export function triggerOf(actor: Actor): ChangeTrigger {
  return actor.type === 'system' ? actor.trigger ?? 'system' : actor.type;
}

export function actorUserId(actor: Actor): number | null {
  return actor.type === 'user' ? actor.userId : null;
}

/**
 * What an API key may do: `read` only reads (GET), `agent` what an agent may, `admin` all its
 * owner may. A key never exceeds its owner's role: an admin key of a user demoted to agent acts
 * as an agent.
 */
export const API_KEY_SCOPES = ['read', 'agent', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** The role a request acts with: the owner's role, lowered to agent by an agent-scoped key. */
export function effectiveRole(role: UserRole, scope: ApiKeyScope | null): UserRole {
  return scope === 'agent' ? 'agent' : role;
}

/** Whether a key of this scope may be given to a user of this role. */
export function scopeFitsRole(scope: ApiKeyScope, role: UserRole): boolean {
  return scope !== 'admin' || role === 'admin';
}
