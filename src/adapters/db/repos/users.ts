import { sql, type Kysely, type Selectable } from 'kysely';
import type {
  AccessToken, LoginThrottleStore, Page, PageRequest, TokenKind, TokenStore, UserRecord, UserStore,
} from '../../../app/ports/store.ts';
import type { ApiKeyScope, User, UserRole } from '../../../domain/user.ts';
import type { AccessTokensTable, Database, UsersTable } from '../schema.ts';
import { cursorAfter, pageOf } from './paging.ts';
import { bool, flag, iso, isoOrNull, uniquely } from '../values.ts';

function toUser(r: Selectable<UsersTable>): User {
  return { id: r.id, email: r.email, name: r.name, role: r.role as UserRole, service: bool(r.service), disabled: bool(r.disabled), createdAt: iso(r.created_at) };
}

function toToken(r: Selectable<AccessTokensTable>): AccessToken {
  return {
    id: r.id, userId: r.user_id, kind: r.kind as TokenKind, name: r.name, prefix: r.prefix,
    createdAt: iso(r.created_at), expiresAt: isoOrNull(r.expires_at), lastUsedAt: isoOrNull(r.last_used_at),
    scope: r.scope as ApiKeyScope | null,
  };
}

function toRecord(r: Selectable<UsersTable>): UserRecord {
  return { ...toUser(r), passwordHash: r.password_hash, sessionEpoch: Number(r.session_epoch), keyEpoch: Number(r.key_epoch) };
}

export class UserRepo implements UserStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(u: Omit<UserRecord, 'id' | 'createdAt' | 'sessionEpoch' | 'keyEpoch'> & { createdAt: string }): Promise<User> {
    const row = await uniquely('email', () => this.db
      .insertInto('users')
      .values({ email: u.email, name: u.name, role: u.role, service: flag(u.service), disabled: flag(u.disabled), password_hash: u.passwordHash, created_at: u.createdAt })
      .returningAll()
      .executeTakeFirstOrThrow());
    return toUser(row);
  }

  async get(id: number): Promise<User | null> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async getByEmail(email: string): Promise<UserRecord | null> {
    const row = await this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async getRecord(id: number): Promise<UserRecord | null> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async list(page: PageRequest): Promise<Page<User>> {
    let q = this.db.selectFrom('users').selectAll();
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('id', '>', after);
    const rows = await q.orderBy('id').limit(page.limit + 1).execute();
    return pageOf(rows.map(toUser), page.limit);
  }

  async update(id: number, fields: Partial<Pick<UserRecord, 'name' | 'role' | 'disabled' | 'passwordHash'>>): Promise<User | null> {
    const set: { name?: string; role?: string; disabled?: number; password_hash?: string | null } = {};
    if (fields.name !== undefined) set.name = fields.name;
    if (fields.role !== undefined) set.role = fields.role;
    if (fields.disabled !== undefined) set.disabled = flag(fields.disabled);
    if (fields.passwordHash !== undefined) set.password_hash = fields.passwordHash;
    if (Object.keys(set).length) await this.db.updateTable('users').set(set).where('id', '=', id).execute();
    return this.get(id);
  }

  async count(): Promise<number> {
    const r = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async countAdmins(): Promise<number> {
    const r = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('role', '=', 'admin').where('disabled', '=', 0).executeTakeFirstOrThrow();
    return Number(r.n);
  }
}

export class TokenRepo implements TokenStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(t: Omit<AccessToken, 'id' | 'lastUsedAt' | 'scope'> & { digest: string; epoch?: number; scope?: ApiKeyScope | null }): Promise<AccessToken> {
    const row = await this.db
      .insertInto('access_tokens')
      .values({
        user_id: t.userId, kind: t.kind, name: t.name, prefix: t.prefix, digest: t.digest, created_at: t.createdAt, expires_at: t.expiresAt,
        scope: t.scope ?? null, epoch: t.epoch ?? 0,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toToken(row);
  }

  async findActive(digest: string, now: string): Promise<{ token: AccessToken; user: User } | null> {
    const row = await this.db
      .selectFrom('access_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .selectAll('t')
      .select(['u.email', 'u.name as user_name', 'u.role', 'u.service', 'u.disabled', 'u.created_at as user_created_at'])
      .where('t.digest', '=', digest)
      .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', now)]))
      // A token made before its owner's sessions or keys were revoked stays dead.
      .where((eb) => eb('t.epoch', '=', eb.case().when('t.kind', '=', 'session').then(eb.ref('u.session_epoch')).else(eb.ref('u.key_epoch')).end()))
      .executeTakeFirst();
    if (!row || bool(row.disabled)) return null;
    const user: User = {
      id: row.user_id, email: row.email, name: row.user_name, role: row.role as UserRole,
      service: bool(row.service), disabled: false, createdAt: iso(row.user_created_at),
    };
    return { token: toToken(row), user };
  }

  async revokeSessions(userId: number, keep: number | null): Promise<void> {
    await this.db.updateTable('users').set((eb) => ({ session_epoch: eb('session_epoch', '+', 1) })).where('id', '=', userId).execute();
    let del = this.db.deleteFrom('access_tokens').where('user_id', '=', userId).where('kind', '=', 'session');
    if (keep !== null) {
      del = del.where('id', '!=', keep);
      await this.db.updateTable('access_tokens')
        .set({ epoch: this.db.selectFrom('users').select('session_epoch').where('id', '=', userId) })
        .where('id', '=', keep).where('user_id', '=', userId).where('kind', '=', 'session')
        .execute();
    }
    await del.execute();
  }

  async revokeApiKeys(userId: number): Promise<void> {
    await this.db.updateTable('users').set((eb) => ({ key_epoch: eb('key_epoch', '+', 1) })).where('id', '=', userId).execute();
    await this.db.deleteFrom('access_tokens').where('user_id', '=', userId).where('kind', '=', 'apiKey').execute();
  }

  async listApiKeys(userId: number | null, page: PageRequest): Promise<Page<AccessToken>> {
    let q = this.db.selectFrom('access_tokens').selectAll().where('kind', '=', 'apiKey');
    if (userId !== null) q = q.where('user_id', '=', userId);
    const after = cursorAfter(page.cursor);
    if (after !== null) q = q.where('id', '>', after);
    const rows = await q.orderBy('id').limit(page.limit + 1).execute();
    return pageOf(rows.map(toToken), page.limit);
  }

  async get(id: number): Promise<AccessToken | null> {
    const row = await this.db.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toToken(row) : null;
  }

  async delete(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('access_tokens').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async touch(id: number, at: string): Promise<void> {
    await this.db.updateTable('access_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async deleteExpired(now: string): Promise<number> {
    const r = await this.db.deleteFrom('access_tokens').where('expires_at', '<=', now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

export class LoginThrottleRepo implements LoginThrottleStore {
  constructor(private readonly db: Kysely<Database>) {}

  async hit(subject: string, now: string, expiredAt: string): Promise<{ count: number; windowStart: string }> {
    // One statement: the row is locked (PostgreSQL) or the database is (SQLite) while it counts,
    // and both CASEs read the row as it was before this attempt.
    const over = sql<boolean>`login_attempts.window_start <= ${expiredAt}`;
    const row = await this.db
      .insertInto('login_attempts')
      .values({ subject, window_start: now, count: 1 })
      .onConflict((oc) => oc.column('subject').doUpdateSet({
        count: sql<number>`CASE WHEN ${over} THEN 1 ELSE login_attempts.count + 1 END`,
        window_start: sql<string>`CASE WHEN ${over} THEN excluded.window_start ELSE login_attempts.window_start END`,
      }))
      .returning(['count', 'window_start'])
      .executeTakeFirstOrThrow();
    return { count: Number(row.count), windowStart: iso(row.window_start) };
  }

  async refund(subject: string, windowStart: string): Promise<void> {
    await this.db.updateTable('login_attempts')
      .set((eb) => ({ count: eb('count', '-', 1) }))
      .where('subject', '=', subject).where('window_start', '=', windowStart).where('count', '>', 0)
      .execute();
  }

  async prune(expiredAt: string): Promise<number> {
    const r = await this.db.deleteFrom('login_attempts').where('window_start', '<=', expiredAt).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
