import {
  defaultWebhookSettings, mergeWebhookSettings, normaliseAddress, WEBHOOK_TIMEOUT_MAX_MS,
  type EmailAccount, type ImapInbound, type Inbound, type SmtpInbound, type SmtpOutbound, type WebhookSettings,
} from '../domain/email-account.ts';
import { HOOKS, type Hook } from '../domain/webhook.ts';
import type { AppDeps } from './deps.ts';
import { AppError, notFound } from './errors.ts';
import { checkExecutorsOnSave } from './executor-check.ts';
import { DuplicateKeyError, type Page, type PageRequest, type SealedAccountSecrets, type Store } from './ports/store.ts';
import { getHookVersion, recordHookVersion, webhookScope } from './webhooks/hook-versions.ts';

/** An email account as the API shows it: passwords replaced by whether one is set. */
export interface EmailAccountView extends Omit<EmailAccount, 'inbound' | 'outbound'> {
  inbound: SmtpInbound | (Omit<ImapInbound, 'password'> & { hasPassword: boolean });
  outbound: (Omit<SmtpOutbound, 'password'> & { hasPassword: boolean }) | null;
}

export interface EmailAccountInput {
  name: string;
  address: string;
  inbound: Inbound;
  outbound?: SmtpOutbound | null;
  webhooks?: Partial<WebhookSettings>;
}

/** How long the previous signing secret stays valid after a rotation (both signatures are sent). */
export const SIGNING_SECRET_OVERLAP_MS = 24 * 3_600_000;

function view(account: EmailAccount, sealed: SealedAccountSecrets): EmailAccountView {
  const { inbound: plainIn, outbound: plainOut } = stripPasswords(account.inbound, account.outbound);
  const inbound = plainIn.type === 'imap' ? { ...plainIn, hasPassword: sealed.imapPassword !== null } : plainIn;
  const outbound = plainOut ? { ...plainOut, hasPassword: sealed.smtpPassword !== null } : null;
  return { ...account, inbound, outbound };
}

export function newSigningSecret(deps: Pick<AppDeps, 'ids'>): string {
  // Standard Webhooks: `whsec_` + base64 of 24 to 64 random bytes.
  return `whsec_${deps.ids.randomBytes(32).toString('base64')}`;
}

function checkWebhooks(webhooks: WebhookSettings): void {
  if (webhooks.timeoutMs < 100 || webhooks.timeoutMs > WEBHOOK_TIMEOUT_MAX_MS) {
    throw new AppError('validation_failed', `webhooks.timeoutMs must be between 100 and ${WEBHOOK_TIMEOUT_MAX_MS}`, { errors: [{ field: 'webhooks.timeoutMs', message: 'out of range' }] });
  }
}

/** Seals the passwords given in the input; a password left out keeps the stored one. */
function sealSecrets(deps: AppDeps, input: { inbound: Inbound; outbound: SmtpOutbound | null }, previous: SealedAccountSecrets | null): SealedAccountSecrets {
  const seal = (value: string | null | undefined, old: string | null): string | null =>
    value === undefined ? old : value === null || value === '' ? null : deps.secretBox.seal(value);
  return {
    imapPassword: input.inbound.type === 'imap' ? seal(input.inbound.password, previous?.imapPassword ?? null) : null,
    smtpPassword: input.outbound ? seal(input.outbound.password, previous?.smtpPassword ?? null) : null,
    signingSecret: previous?.signingSecret ?? deps.secretBox.seal(newSigningSecret(deps)),
    previousSigningSecret: previous?.previousSigningSecret ?? null,
    previousSigningSecretExpiresAt: previous?.previousSigningSecretExpiresAt ?? null,
  };
}

function stripPasswords(inbound: Inbound, outbound: SmtpOutbound | null): { inbound: Inbound; outbound: SmtpOutbound | null } {
  const { password: _i, ...inb } = inbound as Inbound & { password?: unknown };
  const out = outbound ? (({ password: _o, ...rest }) => rest)(outbound) : null;
  return { inbound: inb as Inbound, outbound: out as SmtpOutbound | null };
}

/** Only the executors a request sets are checked: a PATCH of the name never fails on a hook saved earlier. */
function checkHookExecutors(deps: AppDeps, webhooks: Partial<WebhookSettings> | undefined): Promise<void> {
  return checkExecutorsOnSave(deps, [
    ['webhooks.ticketUpdates', webhooks?.ticketUpdates],
    ['webhooks.newEmails', webhooks?.newEmails],
    ['webhooks.shadow.ticketUpdates', webhooks?.shadow?.ticketUpdates],
    ['webhooks.shadow.newEmails', webhooks?.shadow?.newEmails],
  ]);
}

/** Makes an earlier version the hook's executor again; it is checked and kept as a new version. */
export async function rollbackWebhook(deps: AppDeps, id: number, hook: Hook, version: number, actorId: number | null): Promise<EmailAccountView> {
  await accountWithSecrets(deps, id);
  const old = await getHookVersion(deps, webhookScope(id, hook), version);
  return updateEmailAccount(deps, id, { webhooks: { [hook]: old.executor } }, actorId, `rollback to version ${version}`);
}

/** Versions of the hooks a request set (null when it set none). */
async function recordVersions(
  tx: Store, deps: AppDeps, accountId: number, webhooks: WebhookSettings, given: Partial<WebhookSettings> | undefined, actorId: number | null, note: string | null = null,
): Promise<WebhookSettings['versions'] | null> {
  const out: NonNullable<WebhookSettings['versions']> = {};
  for (const hook of HOOKS) {
    if (given?.[hook] === undefined) continue;
    const version = await recordHookVersion(tx, deps, webhookScope(accountId, hook), webhooks[hook], actorId, note);
    if (version > 0) out[hook] = version; // 0: the hook never had an executor
  }
  return Object.keys(out).length ? out : null;
}

const taken = (address: string) => new AppError('conflict', `an email account with address ${address} exists`, { errors: [{ field: 'address', message: 'taken' }] });

export async function createEmailAccount(deps: AppDeps, input: EmailAccountInput, actorId: number | null = null): Promise<EmailAccountView> {
  const now = deps.clock.now().toISOString();
  const webhooks = mergeWebhookSettings(defaultWebhookSettings(), input.webhooks);
  checkWebhooks(webhooks);
  await checkHookExecutors(deps, input.webhooks);
  const outbound = input.outbound ?? null;
  const sealed = sealSecrets(deps, { inbound: input.inbound, outbound }, null);
  const plain = stripPasswords(input.inbound, outbound);
  try {
    const account = await deps.store.transaction(async (tx) => {
      const created = await tx.emailAccounts.insert(
        { name: input.name, address: normaliseAddress(input.address), ...plain, webhooks, createdAt: now, modifiedAt: now },
        sealed,
      );
      const versions = await recordVersions(tx, deps, created.id, webhooks, input.webhooks, actorId);
      if (!versions) return created;
      const withVersions = { ...created, webhooks: { ...created.webhooks, versions } };
      await tx.emailAccounts.update(withVersions, sealed);
      return withVersions;
    });
    return view(account, sealed);
  } catch (err) {
    if (err instanceof DuplicateKeyError) throw taken(input.address);
    throw err;
  }
}

/** The account with its sealed secrets, for use cases that run its hooks; 404 when there is none. */
export async function accountWithSecrets(deps: AppDeps, id: number): Promise<{ account: EmailAccount; sealed: SealedAccountSecrets }> {
  const found = await deps.store.emailAccounts.get(id);
  if (!found) throw notFound('email account', id);
  return found;
}

export async function getEmailAccount(deps: AppDeps, id: number): Promise<EmailAccountView> {
  const found = await deps.store.emailAccounts.get(id);
  if (!found) throw notFound('email account', id);
  return view(found.account, found.sealed);
}

export async function listEmailAccounts(deps: AppDeps, page: PageRequest): Promise<Page<EmailAccountView>> {
  const result = await deps.store.emailAccounts.list(page);
  const items = await Promise.all(result.items.map((a) => getEmailAccount(deps, a.id)));
  return { items, nextCursor: result.nextCursor };
}

export async function updateEmailAccount(
  deps: AppDeps, id: number, patch: Partial<EmailAccountInput>, actorId: number | null = null, note: string | null = null,
): Promise<EmailAccountView> {
  const found = await deps.store.emailAccounts.get(id);
  if (!found) throw notFound('email account', id);
  const current = found.account;
  const inbound = patch.inbound ?? current.inbound;
  const outbound = patch.outbound === undefined ? current.outbound : patch.outbound;
  const webhooks = mergeWebhookSettings(current.webhooks, patch.webhooks);
  checkWebhooks(webhooks);
  await checkHookExecutors(deps, patch.webhooks);
  const sealed = sealSecrets(deps, { inbound, outbound }, found.sealed);
  const next: EmailAccount = {
    ...current,
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.address !== undefined ? { address: normaliseAddress(patch.address) } : {}),
    ...stripPasswords(inbound, outbound),
    webhooks,
    modifiedAt: deps.clock.now().toISOString(),
  };
  try {
    await deps.store.transaction(async (tx) => {
      const versions = await recordVersions(tx, deps, id, webhooks, patch.webhooks, actorId, note);
      if (versions) next.webhooks = { ...next.webhooks, versions: { ...current.webhooks.versions, ...versions } };
      await tx.emailAccounts.update(next, sealed);
    });
  } catch (err) {
    if (err instanceof DuplicateKeyError) throw taken(next.address);
    throw err;
  }
  return view(next, sealed);
}

export async function deleteEmailAccount(deps: AppDeps, id: number): Promise<void> {
  if (!(await deps.store.emailAccounts.delete(id))) throw notFound('email account', id);
}

export interface SigningSecrets {
  signingSecret: string;
  previousSigningSecret: string | null;
  previousExpiresAt: string | null;
}

/** The signing secrets receivers verify with: the current one and, for 24 h after a rotation, the previous one. */
export async function revealSigningSecret(deps: AppDeps, id: number): Promise<SigningSecrets> {
  const found = await deps.store.emailAccounts.get(id);
  if (!found) throw notFound('email account', id);
  return openSigningSecrets(deps, found.sealed);
}

export function openSigningSecrets(
  deps: Pick<AppDeps, 'secretBox' | 'clock'>,
  s: Pick<SealedAccountSecrets, 'signingSecret' | 'previousSigningSecret' | 'previousSigningSecretExpiresAt'>,
): SigningSecrets {
  const live = s.previousSigningSecretExpiresAt !== null && Date.parse(s.previousSigningSecretExpiresAt) > deps.clock.now().getTime();
  return {
    signingSecret: deps.secretBox.open(s.signingSecret!),
    previousSigningSecret: live && s.previousSigningSecret ? deps.secretBox.open(s.previousSigningSecret) : null,
    previousExpiresAt: live ? s.previousSigningSecretExpiresAt : null,
  };
}

/** The secrets a request is signed with: the current one, and the previous one while it still counts. */
export function signingKeys(
  deps: Pick<AppDeps, 'secretBox' | 'clock'>,
  s: Pick<SealedAccountSecrets, 'signingSecret' | 'previousSigningSecret' | 'previousSigningSecretExpiresAt'>,
): string[] {
  const open = openSigningSecrets(deps, s);
  return [open.signingSecret, ...(open.previousSigningSecret ? [open.previousSigningSecret] : [])];
}

export async function rotateSigningSecret(deps: AppDeps, id: number): Promise<SigningSecrets> {
  const found = await deps.store.emailAccounts.get(id);
  if (!found) throw notFound('email account', id);
  const now = deps.clock.now();
  const sealed: SealedAccountSecrets = {
    ...found.sealed,
    signingSecret: deps.secretBox.seal(newSigningSecret(deps)),
    previousSigningSecret: found.sealed.signingSecret,
    previousSigningSecretExpiresAt: new Date(now.getTime() + SIGNING_SECRET_OVERLAP_MS).toISOString(),
  };
  await deps.store.emailAccounts.update({ ...found.account, modifiedAt: now.toISOString() }, sealed);
  return revealSigningSecret(deps, id);
}

/** The account's mail passwords in plain text, for the SMTP sender and the IMAP poller only. */
export async function accountCredentials(deps: AppDeps, id: number): Promise<{ account: EmailAccount; imapPassword: string | null; smtpPassword: string | null } | null> {
  const found = await deps.store.emailAccounts.get(id);
  if (!found) return null;
  const open = (v: string | null) => (v === null ? null : deps.secretBox.open(v));
  return { account: found.account, imapPassword: open(found.sealed.imapPassword), smtpPassword: open(found.sealed.smtpPassword) };
}
