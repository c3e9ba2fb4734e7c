import { scopeFitsRole, type ApiKeyScope, type User, type UserRole } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { checkPassword } from './password-policy.ts';
import { AppError, notFound } from '../errors.ts';
import { DuplicateKeyError, type AccessToken, type Page, type PageRequest } from '../ports/store.ts';
import { publish } from '../record-change.ts';

export interface CreateUserInput {
  email: string;
  name: string;
  role: UserRole;
  /** Omitted for service users, which only authenticate with API keys. */
  password?: string;
  service?: boolean;
}

export { MIN_PASSWORD_LENGTH } from '../../domain/password-policy.ts';

/** What the strength estimate treats as known words: the user's own address and name. */
function personalWords(email: string, name: string | undefined): string[] {
  const local = email.split('@')[0] ?? '';
  return [email, local, ...(name ? [name, ...name.split(' ').filter(Boolean)] : [])];
}

export async function createUser(deps: AppDeps, input: CreateUserInput): Promise<User> {
  const service = input.service ?? false;
  if (!service && input.password === undefined) {
    throw new AppError('validation_failed', 'password is required for users who log in', { errors: [{ field: 'password', message: 'required' }] });
  }
  if (input.password !== undefined && !service) await checkPassword(deps, input.password, personalWords(input.email, input.name));
  const passwordHash = input.password !== undefined && !service ? await deps.hasher.hash(input.password) : null;
  try {
    return await deps.store.transaction(async (tx) => {
      const user = await tx.users.insert({
        email: input.email.trim().toLowerCase(), name: input.name, role: input.role, service, disabled: false, passwordHash,
        createdAt: deps.clock.now().toISOString(),
      });
      if (!service) await publish(tx, deps, [{ type: 'ProfileCreated', ticketId: null, userId: user.id, data: profileData(user) }]);
      return user;
    });
  } catch (err) {
    if (err instanceof DuplicateKeyError) throw new AppError('conflict', `a user with e-mail ${input.email} exists`, { errors: [{ field: 'email', message: 'taken' }] });
    throw err;
  }
}

/**
 * Changes a user. Their sessions end when the password, the role or the account's state changes
 * (`keepSession`: the caller's own session, kept when they change their own password); disabling
 * also ends their API keys for good, so enabling again revives neither.
 */
export async function updateUser(
  deps: AppDeps, id: number, fields: { name?: string; role?: UserRole; disabled?: boolean; password?: string }, options: { keepSession?: number | null } = {},
): Promise<User> {
  const user = await deps.store.users.get(id);
  if (!user) throw notFound('user', id);
  const demotes = user.role === 'admin' && !user.disabled && (fields.role === 'agent' || fields.disabled === true);
  if (demotes && (await deps.store.users.countAdmins()) <= 1) {
    throw new AppError('conflict', 'the last active admin cannot be demoted or disabled');
  }
  if (fields.password !== undefined) await checkPassword(deps, fields.password, personalWords(user.email, fields.name ?? user.name));
  const passwordHash = fields.password !== undefined ? await deps.hasher.hash(fields.password) : undefined;
  return deps.store.transaction(async (tx) => {
    const updated = (await tx.users.update(id, {
      ...(fields.name !== undefined ? { name: fields.name } : {}),
      ...(fields.role !== undefined ? { role: fields.role } : {}),
      ...(fields.disabled !== undefined ? { disabled: fields.disabled } : {}),
      ...(passwordHash !== undefined ? { passwordHash } : {}),
    }))!;
    const disabling = fields.disabled === true;
    if (updated.role !== user.role || updated.disabled !== user.disabled || disabling) await tx.tokens.revokeSessions(id, null);
    else if (passwordHash !== undefined) await tx.tokens.revokeSessions(id, options.keepSession ?? null);
    if (disabling) await tx.tokens.revokeApiKeys(id);
    if (!updated.service) {
      // Users are never deleted (their history stays attributed); deactivating one is its ProfileDeleted.
      const type = !user.disabled && updated.disabled ? 'ProfileDeleted' : 'ProfileUpdated';
      const changed = (['name', 'role', 'disabled'] as const).filter((k) => user[k] !== updated[k]);
      await publish(tx, deps, [{
        type, ticketId: null, userId: updated.id,
        data: { ...profileData(updated), changes: Object.fromEntries(changed.map((k) => [k, updated[k]])), passwordChanged: passwordHash !== undefined },
      }]);
    }
    return updated;
  });
}

function profileData(user: User): Record<string, unknown> {
  return { userId: user.id, email: user.email, name: user.name, role: user.role, disabled: user.disabled };
}

/**
 * On a database without an active admin (a first start, even after `user create` made an
 * agent), creates one: with the given password, or with a random one that the caller prints
 * once. Returns null when an admin exists already.
 */
export async function bootstrapAdmin(deps: AppDeps, email: string | null, password: string | null): Promise<{ user: User; generatedPassword: string | null } | null> {
  if ((await deps.store.users.countAdmins()) > 0) return null;
  const generated = password ? null : deps.ids.token('');
  try {
    const user = await createUser(deps, { email: email ?? 'admin@localhost', name: 'Administrator', role: 'admin', password: password ?? generated! });
    return { user, generatedPassword: generated };
  } catch (err) {
    // Another process created it first.
    if (err instanceof AppError && err.code === 'conflict') return null;
    throw err;
  }
}

/** An API key as listed: always with its scope. */
export type ApiKey = AccessToken & { scope: ApiKeyScope };

function asApiKey(t: AccessToken): ApiKey {
  return { ...t, scope: t.scope ?? 'agent' };
}

export interface ApiKeyOptions {
  /** Default: what the owner's role allows (agent or admin). */
  scope?: ApiKeyScope;
  /** ISO date-time after which the key no longer works; never when left out. */
  expiresAt?: string | null;
}

export async function createApiKey(deps: AppDeps, userId: number, name: string, options: ApiKeyOptions = {}): Promise<{ key: string; apiKey: ApiKey }> {
  const user = await deps.store.users.getRecord(userId);
  if (!user) throw new AppError('validation_failed', `user ${userId} does not exist`, { errors: [{ field: 'userId', message: 'no such user' }] });
  if (user.disabled) throw new AppError('validation_failed', `user ${userId} is disabled`, { errors: [{ field: 'userId', message: 'disabled' }] });
  const scope = options.scope ?? user.role;
  if (!scopeFitsRole(scope, user.role)) {
    throw new AppError('validation_failed', `a key cannot do more than its owner: ${user.email} is an ${user.role}`, { errors: [{ field: 'scope', message: `exceeds the owner's role (${user.role})` }] });
  }
  const now = deps.clock.now();
  let expiresAt: string | null = null;
  if (options.expiresAt) {
    const at = Date.parse(options.expiresAt);
    if (!Number.isFinite(at) || at <= now.getTime()) {
      throw new AppError('validation_failed', 'expiresAt must be a date-time in the future', { errors: [{ field: 'expiresAt', message: 'not in the future' }] });
    }
    expiresAt = new Date(at).toISOString();
  }
  const key = deps.ids.token('dhk_');
  const apiKey = await deps.store.tokens.insert({
    userId, kind: 'apiKey', name, prefix: key.slice(0, 10), digest: deps.ids.digest(key), createdAt: now.toISOString(), expiresAt, scope, epoch: user.keyEpoch,
  });
  return { key, apiKey: asApiKey(apiKey) };
}

export async function listApiKeys(deps: AppDeps, userId: number | null, page: PageRequest): Promise<Page<ApiKey>> {
  const listed = await deps.store.tokens.listApiKeys(userId, page);
  return { ...listed, items: listed.items.map(asApiKey) };
}

export async function revokeApiKey(deps: AppDeps, id: number): Promise<void> {
  const token = await deps.store.tokens.get(id);
  if (!token || token.kind !== 'apiKey') throw notFound('API key', id);
  await deps.store.tokens.delete(id);
}

export const CUSTOM_CODE_USER = 'custom-code@deskhook.internal';

/**
 * A short-lived token of the service user that custom code acts as (`ctx.deskhook`): an agent,
 * never an admin, so code can read and work tickets but not settings or secrets.
 */
export async function customCodeToken(deps: AppDeps): Promise<{ token: string; expiresAt: string }> {
  let user = await deps.store.users.getByEmail(CUSTOM_CODE_USER);
  if (!user) {
    try {
      await createUser(deps, { email: CUSTOM_CODE_USER, name: 'Custom code', role: 'agent', service: true });
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'conflict')) throw err;
    }
    user = await deps.store.users.getByEmail(CUSTOM_CODE_USER);
  }
  const now = deps.clock.now();
  const token = deps.ids.token('dhs_');
  const expiresAt = new Date(now.getTime() + 3_600_000).toISOString();
  await deps.store.tokens.insert({
    userId: user!.id, kind: 'session', name: 'custom code', prefix: token.slice(0, 8), digest: deps.ids.digest(token), createdAt: now.toISOString(), expiresAt, epoch: user!.sessionEpoch,
  });
  return { token, expiresAt };
}
