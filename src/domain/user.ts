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
  | { type: 'system'; reason: string }
  | { type: 'webhook'; hook: string; invocationId: string };

export function actorUserId(actor: Actor): number | null {
  return actor.type === 'user' ? actor.userId : null;
}
