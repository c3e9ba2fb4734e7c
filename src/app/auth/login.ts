import { effectiveRole, type ApiKeyScope, type User } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';

export interface Principal {
  /** The user as this token may act: an agent-scoped key of an admin carries the role agent. */
  user: User;
  tokenId: number;
  kind: 'session' | 'apiKey';
  /** An API key's scope; null for sessions. */
  scope: ApiKeyScope | null;
}

// Verifying against a fixed hash when the user does not exist keeps the response time from
// telling which e-mail addresses have accounts.
let decoyHash: Promise<string> | null = null;

/**
 * Exchanges e-mail and password for a session token.
 *
 * Throttling: every attempt is counted before the password is checked, per e-mail address and
 * per client address, in fixed windows of `loginWindowSeconds` that start with the first attempt
 * (one atomic statement each, shared by all processes through the database). Attempt number
 * `loginMaxFailures + 1` and later in a window get 429 with Retry-After (the seconds until that
 * window ends), even with the right password, and never reach the password hash. A successful
 * login takes back its own attempt only, so it neither uses up the budget nor erases anyone
 * else's failures; so does an attempt refused for its account's count, on the address's count.
 * However large a burst, it locks an account for at most one window.
 */
export async function login(deps: AppDeps, email: string, password: string, ip: string): Promise<{ token: string; expiresAt: string; user: User }> {
  const now = deps.clock.now();
  const key = email.trim().toLowerCase();
  const windowMs = deps.auth.loginWindowSeconds * 1000;
  const expiredAt = new Date(now.getTime() - windowMs).toISOString();
  const counted: Array<{ subject: string; windowStart: string }> = [];
  // The address first: a caller already over its limit does not also lock the account it names.
  for (const subject of [`ip:${ip}`, `email:${key}`]) {
    const hit = await deps.store.loginThrottle.hit(subject, now.toISOString(), expiredAt);
    if (hit.count > deps.auth.loginMaxFailures) {
      // Refused unchecked: the address's attempt is taken back, so an owner retrying against a
      // locked account does not also lock their own address beyond the account's window.
      for (const c of counted) await deps.store.loginThrottle.refund(c.subject, c.windowStart);
      const retryAfterSeconds = Math.max(1, Math.ceil((Date.parse(hit.windowStart) + windowMs - now.getTime()) / 1000));
      throw new AppError('too_many_requests', 'too many failed logins; try again later', { retryAfterSeconds });
    }
    counted.push({ subject, windowStart: hit.windowStart });
  }
  const record = await deps.store.users.getByEmail(key);
  decoyHash ??= deps.hasher.hash('decoy password');
  const valid = record?.passwordHash
    ? await deps.hasher.verify(password, record.passwordHash)
    : (await deps.hasher.verify(password, await decoyHash), false);
  if (!record || !valid || record.disabled || record.service) {
    throw new AppError('invalid_credentials', 'wrong e-mail or password');
  }
  for (const c of counted) await deps.store.loginThrottle.refund(c.subject, c.windowStart);
  const token = deps.ids.token('dhs_');
  const expiresAt = new Date(now.getTime() + deps.auth.tokenTtlHours * 3_600_000).toISOString();
  // The epoch as read before the password check: if the user's sessions were revoked meanwhile
  // (disabled, password or role changed), this token is born dead.
  await deps.store.tokens.insert({
    userId: record.id, kind: 'session', name: 'login', prefix: token.slice(0, 8), digest: deps.ids.digest(token),
    createdAt: now.toISOString(), expiresAt, epoch: record.sessionEpoch,
  });
  const { passwordHash: _h, sessionEpoch: _s, keyEpoch: _k, ...user } = record;
  return { token, expiresAt, user };
}

/** The user behind a bearer token (session or API key), or null. */
export async function authenticate(deps: AppDeps, token: string): Promise<Principal | null> {
  if (!/^dh[sk]_[\w-]{20,}$/.test(token)) return null;
  const now = deps.clock.now();
  const found = await deps.store.tokens.findActive(deps.ids.digest(token), now.toISOString());
  if (!found) return null;
  // lastUsedAt is for people auditing keys; minute precision spares a write per request.
  const last = found.token.lastUsedAt ? Date.parse(found.token.lastUsedAt) : 0;
  if (now.getTime() - last > 60_000) await deps.store.tokens.touch(found.token.id, now.toISOString());
  const scope = found.token.kind === 'apiKey' ? found.token.scope ?? 'agent' : null;
  const user = { ...found.user, role: effectiveRole(found.user.role, scope) };
  return { user, tokenId: found.token.id, kind: found.token.kind, scope };
}

export async function logout(deps: AppDeps, principal: Principal): Promise<void> {
  if (principal.kind === 'session') await deps.store.tokens.delete(principal.tokenId);
}
