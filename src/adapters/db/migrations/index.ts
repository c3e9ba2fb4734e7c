import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { DialectKind } from '../dialect.ts';
import * as core from './0001-core.ts';
import * as mail from './0002-mail.ts';
import * as webhooks from './0003-webhooks.ts';
import * as eventHooks from './0004-event-hooks.ts';
import * as erp from './0005-erp.ts';
import * as eventFeed from './0006-event-feed.ts';
import * as authHardening from './0007-auth-hardening.ts';
import * as mailLimits from './0008-mail-limits.ts';
import * as mailAuthentication from './0009-mail-authentication.ts';
import * as erpSearchKeys from './0010-erp-search-keys.ts';
import * as ticketSearch from './0011-ticket-search.ts';
import * as invocationIdentity from './0012-invocation-identity.ts';
import * as eventTrace from './0013-event-trace.ts';
import * as lateWebhooks from './0014-late-webhooks.ts';
import * as webhookMemo from './0015-webhook-memo.ts';
import * as eventHookThrottle from './0016-event-hook-throttle.ts';
import * as hookVersions from './0017-hook-versions.ts';
import * as hookQuarantine from './0018-hook-quarantine.ts';
import * as shadowRuns from './0019-shadow-runs.ts';
import * as erpSearchPrefixes from './0020-erp-search-prefixes.ts';

type VersionedMigration = { up(db: Kysely<unknown>, kind: DialectKind): Promise<void> };

/** In order; names are never changed once released, since databases record them. */
const MIGRATIONS: Record<string, VersionedMigration> = {
  '0001-core': core,
  '0002-mail': mail,
  '0003-webhooks': webhooks,
  '0004-event-hooks': eventHooks,
  '0005-erp': erp,
  '0006-event-feed': eventFeed,
  '0007-auth-hardening': authHardening,
  '0008-mail-limits': mailLimits,
  '0009-mail-authentication': mailAuthentication,
  '0010-erp-search-keys': erpSearchKeys,
  '0011-ticket-search': ticketSearch,
  '0012-invocation-identity': invocationIdentity,
  '0013-event-trace': eventTrace,
  '0014-late-webhooks': lateWebhooks,
  '0015-webhook-memo': webhookMemo,
  '0016-event-hook-throttle': eventHookThrottle,
  '0017-hook-versions': hookVersions,
  '0018-hook-quarantine': hookQuarantine,
  '0019-shadow-runs': shadowRuns,
  '0020-erp-search-prefixes': erpSearchPrefixes,
};

export class DeskhookMigrations implements MigrationProvider {
  constructor(private readonly kind: DialectKind) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const [name, m] of Object.entries(MIGRATIONS)) {
      out[name] = { up: (db) => m.up(db, this.kind) };
    }
    return out;
  }
}
