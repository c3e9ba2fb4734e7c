import type { Notification } from '../domain/notification.ts';
import type { AppDeps } from './deps.ts';
import type { Page, PageRequest, Store } from './ports/store.ts';

export async function listNotifications(deps: AppDeps, userId: number, unreadOnly: boolean, page: PageRequest): Promise<Page<Notification> & { unread: number }> {
  const [result, unread] = await Promise.all([deps.store.notifications.list(userId, unreadOnly, page), deps.store.notifications.countUnread(userId)]);
  return { ...result, unread };
}

export async function markNotificationsRead(deps: AppDeps, userId: number, ids: number[] | 'all'): Promise<{ marked: number }> {
  return { marked: await deps.store.notifications.markRead(userId, ids, deps.clock.now().toISOString()) };
}

export async function notify(deps: AppDeps, userIds: number[], n: { kind: string; message: string; ticketId: number | null; link: string | null }): Promise<void> {
  const createdAt = deps.clock.now().toISOString();
  for (const userId of new Set(userIds)) await deps.store.notifications.insert({ userId, ...n, createdAt });
}

/** Active human admins: who is told when something nobody in particular owns goes wrong. */
export async function adminIds(store: Store): Promise<number[]> {
  const ids: number[] = [];
  for (let cursor: string | null = null; ;) {
    const page = await store.users.list({ limit: 200, cursor });
    ids.push(...page.items.filter((u) => u.role === 'admin' && !u.disabled && !u.service).map((u) => u.id));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
  }
}
