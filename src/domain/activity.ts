import type { Actor } from './user.ts';

/** One line of a ticket's history: a property change, or something that happened to it. */
export interface ActivityEntry {
  id: number;
  ticketId: number;
  field: string;
  from: unknown;
  to: unknown;
  actor: Actor;
  at: string;
  meta: Record<string, unknown> | null;
}

export type NewActivity = Omit<ActivityEntry, 'id'>;
