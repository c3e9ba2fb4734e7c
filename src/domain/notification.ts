export interface Notification {
  id: number;
  userId: number;
  kind: string;
  message: string;
  ticketId: number | null;
  link: string | null;
  readAt: string | null;
  createdAt: string;
}

export type NewNotification = Omit<Notification, 'id' | 'readAt' | 'createdAt'>;
