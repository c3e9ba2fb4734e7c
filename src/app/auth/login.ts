import type { User } from '../../domain/user.ts';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';

export interface Principal {
  user: User;
  tokenId: number;
  kind: 'session' | 'apiKey';
}

// Verifying against a fixed hash when the user does not exist keeps the response time from
// telling which e-mail addresses have accounts.
let decoyHash: Promise<string> | null = null;

/**
 * Exchanges e-mail and password for a session token. Failures are counted per e-mail address
 * and per client address in the database (so every process sees them); past the limit the
 * answer is 429 with Retry-After, even for the right password.
 */
export async function login(deps: AppDeps, email: string, password: string, ip: string): Promise<{ token: string; expiresAt: string; user: User }> {
  const now = deps.clock.now();
  const key = email.trim().toLowerCase();
  const windowMs = deps.auth.loginWindowSeconds * 1000;
  const since = new Date(now.getTime() - windowMs).toISOString();
  const failures = await deps.store.loginThrottle.countFailures(key, ip, since);
  if (failures.byEmail >= deps.auth.loginMaxFailures || failures.byIp >= deps.auth.loginMaxFailures) {
    const oldest = failures.oldest ? Date.parse(failures.oldest) : now.getTime();
    const retryAfterSeconds = Math.max(1, Math.ceil((oldest + windowMs - now.getTime()) / 1000));
    throw new AppError('too_many_requests', 'too many failed logins; try again later', { retryAfterSeconds });
  }
  const record = await deps.store.users.getByEmail(key);
  decoyHash ??= deps.hasher.hash('decoy password');
  const valid = record?.passwordHash
    ? await deps.hasher.verify(password, record.passwordHash)
    : (await deps.hasher.verify(password, await decoyHash), false);
  if (!record || !valid || record.disabled || record.service) {
    await deps.store.loginThrottle.recordFailure(key, ip, now.toISOString());
    throw new AppError('invalid_credentials', 'wrong e-mail or password');
  }
  await deps.store.loginThrottle.clearEmail(key);
  const token = deps.ids.token('dhs_');
  const expiresAt = new Date(now.getTime() + deps.auth.tokenTtlHours * 3_600_000).toISOString();
  await deps.store.tokens.insert({ userId: record.id, kind: 'session', name: 'login', prefix: token.slice(0, 8), digest: deps.ids.digest(token), createdAt: now.toISOString(), expiresAt });
  const { passwordHash: _h, ...user } = record;
  return { token, expiresAt, user };
}

/** The user behind a bearer token (session or API key), or null. */
export async function authenticate(deps: AppDeps, token: string): Promise<Principal | null> {
  if (!/^dh[sk]_[A-Za-z0-9_-]{20,}$/.test(token)) return null;
  const now = deps.clock.now();
  const found = await deps.store.tokens.findActive(deps.ids.digest(token), now.toISOString());
  if (!found) return null;
  // lastUsedAt is for people auditing keys; minute precision spares a write per request.
  const last = found.token.lastUsedAt ? Date.parse(found.token.lastUsedAt) : 0;
  if (now.getTime() - last > 60_000) await deps.store.tokens.touch(found.token.id, now.toISOString());
  return { user: found.user, tokenId: found.token.id, kind: found.token.kind };
}

export async function logout(deps: AppDeps, principal: Principal): Promise<void> {
  if (principal.kind === 'session') await deps.store.tokens.delete(principal.tokenId);
}
