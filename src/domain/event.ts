export const EVENT_TYPES = [
  'TicketCreated', 'TicketUpdated', 'TicketResponse', 'ConversationCreated', 'EmailSent', 'EmailFailed',
  'ContractLinked', 'WebhookFailed', 'WebhookQuarantined', 'ProfileCreated', 'ProfileUpdated', 'ProfileDeleted',
  'CronMinute', 'CronHour', 'CronDay', 'CronWeek',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A state change, written in the same transaction as the change itself (outbox). */
export interface DomainEvent {
  id: string;
  type: EventType;
  ticketId: number | null;
  userId: number | null;
  data: Record<string, unknown>;
  createdAt: string;
}

export type NewEvent = Omit<DomainEvent, 'id' | 'createdAt'>;
