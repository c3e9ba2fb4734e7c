import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type SqliteDatabase, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import { DeskhookMigrations } from './migrations/index.ts';
import type { Database } from './schema.ts';

export type DialectKind = 'sqlite' | 'postgres';

export type DatabaseTarget =
  | { kind: 'sqlite'; path: string; synchronous?: 'NORMAL' | 'FULL' }
  | { kind: 'postgres'; url: string; poolSize?: number; schema?: string };

/**
 * What differs between the backends, as flags the adapters consult; use cases never ask which
 * database they run on.
 */
export interface Capabilities {
  /** `FOR UPDATE SKIP LOCKED` exists: several workers can claim rows concurrently. */
  readonly skipLocked: boolean;
  /** Several processes may share this database. */
  readonly multiProcess: boolean;
}

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly kind: DialectKind;
  /** The PostgreSQL schema the tables live in, when not the default search path. */
  readonly schema?: string;
  readonly capabilities: Capabilities;
  close(): Promise<void>;
}

/**
 * Transactions take the write lock up front (`BEGIN IMMEDIATE`). With a plain deferred BEGIN, a
 * transaction that reads and then writes can meet another process's writer and fail at once with
 * SQLITE_BUSY instead of waiting for busy_timeout (e.g. `deskhook user create` while serving).
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly sqliteConfig: SqliteDialectConfig) {
    super(sqliteConfig);
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.sqliteConfig);
  }
}

/**
 * Kysely prepares every query anew; the query shapes are few and fixed, so keeping the prepared
 * statements saves SQLite's parse and plan on every call. Bounded, oldest dropped first.
 */
function withStatementCache(connection: SQLite.Database, max = 500): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => connection.close(),
    prepare(query: string) {
      let statement = cache.get(query);
      if (!statement) {
        statement = connection.prepare(query);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(query, statement);
      }
      return statement as unknown as ReturnType<SqliteDatabase['prepare']>;
    },
  };
}

// count(*) and bigint columns come back from pg as strings; every id and count here fits a double.
pg.types.setTypeParser(20, (v) => Number(v));
// jsonb comes back as text, as it does from SQLite, so one reader parses both (a jsonb string
// scalar would otherwise be indistinguishable from JSON text).
pg.types.setTypeParser(3802, (v) => v);
pg.types.setTypeParser(114, (v) => v);

/**
 * The database holds every ticket and email: readable by its owner only, like secret.key. An
 * empty file is a valid empty database, so it is created 0600 before SQLite opens it, and SQLite
 * gives its -wal and -shm files the database file's mode. Files from before (0644) are tightened;
 * the directory is left as it is.
 */
function ownerOnly(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'wx', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    } catch {
      // Not there (yet), or not ours to change: SQLite reports what matters when it opens.
    }
  }
}

export function openDatabase(target: DatabaseTarget): DatabaseHandle {
  if (target.kind === 'sqlite') {
    if (target.path !== ':memory:') {
      mkdirSync(dirname(target.path), { recursive: true, mode: 0o700 });
      ownerOnly(target.path);
    }
    const connection = new SQLite(target.path);
    connection.pragma('journal_mode = WAL');
    // WAL + NORMAL: a commit survives a crash of the process (kill -9); FULL also survives a power
    // loss of the machine, at an fsync per commit (DESKHOOK_SQLITE_SYNCHRONOUS).
    connection.pragma(`synchronous = ${target.synchronous ?? 'NORMAL'}`);
    connection.pragma('foreign_keys = ON');
    connection.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(connection) }) });
    return {
      db,
      kind: 'sqlite',
      capabilities: { skipLocked: false, multiProcess: false },
      close: () => db.destroy(),
    };
  }
  const pool = new pg.Pool({
    connectionString: target.url,
    max: target.poolSize ?? 10,
    ...(target.schema ? { options: `-c search_path=${target.schema}` } : {}),
  });
  // A client that loses its connection (database restart, a killed backend) must not crash the
  // process: idle ones report through the pool, checked-out ones through their own 'error' event.
  // The query in flight fails, its caller retries like after any database error, and the pool
  // drops the broken client.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: 'postgres',
    ...(target.schema ? { schema: target.schema } : {}),
    capabilities: { skipLocked: true, multiProcess: true },
    close: () => db.destroy(),
  };
}

function migrator(handle: DatabaseHandle): Migrator {
  // Kysely looks for its bookkeeping tables in every schema; naming ours keeps two deskhook
  // schemas in one database (as the tests use) from mistaking each other's tables for their own.
  return new Migrator({ db: handle.db, provider: new DeskhookMigrations(handle.kind), ...(handle.schema ? { migrationTableSchema: handle.schema } : {}) });
}

/** Applies every pending migration; safe to run from several processes at once. */
export async function migrateToLatest(handle: DatabaseHandle): Promise<string[]> {
  const { error, results } = await migrator(handle).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Applies the migrations up to and including `name` (an upgrade from an older release, in tests). */
export async function migrateTo(handle: DatabaseHandle, name: string): Promise<void> {
  const { error } = await migrator(handle).migrateTo(name);
  if (error) throw error instanceof Error ? error : new Error(String(error));
}

export async function pendingMigrations(handle: DatabaseHandle): Promise<string[]> {
  const all = await migrator(handle).getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}

export async function ping(handle: DatabaseHandle): Promise<void> {
  await sql`select 1`.execute(handle.db);
}

/** The tables an FTS5 index keeps its data in, by suffix of its name. */
const FTS5_SHADOW = ['_data', '_idx', '_content', '_docsize', '_config'];

/** SQLite's ordinary tables, and the tables virtual tables (FTS5) keep their data in. */
async function sqliteTables(handle: DatabaseHandle): Promise<{ ordinary: string[]; shadow: string[] }> {
  const { rows } = await sql<{ name: string; virtual: number }>`
    SELECT name, sql LIKE 'CREATE VIRTUAL TABLE%' AS virtual FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`.execute(handle.db);
  const shadows = new Set(rows.filter((r) => r.virtual).flatMap((r) => FTS5_SHADOW.map((suffix) => r.name + suffix)));
  const isShadow = (name: string) => shadows.has(name);
  return {
    ordinary: rows.filter((r) => !r.virtual && !isShadow(r.name)).map((r) => r.name),
    shadow: rows.filter((r) => !r.virtual && isShadow(r.name)).map((r) => r.name),
  };
}

/**
 * Brings the planner's statistics up to date. Without them SQLite picks poor plans on large tables
 * (an inbox filtered by status took hundreds of milliseconds at 100k tickets, one after ANALYZE),
 * and PostgreSQL would depend on autovacuum having run. Cheap by design: SQLite analyses a bounded
 * sample of each ordinary table's indexes (`analysis_limit`), PostgreSQL a fixed number of rows per
 * table. Run after migrations and periodically.
 */
export async function refreshStatistics(handle: DatabaseHandle): Promise<void> {
  if (handle.kind === 'sqlite') {
    const { ordinary, shadow } = await sqliteTables(handle);
    // Statistics of a full-text index's own tables mislead its internal statements: taken while
    // the index was nearly empty (right after the migrations), they made every ERP upsert slower
    // the more records there were (importing 40k records took 10 s instead of 2.7 s). Only
    // ordinary tables are analysed, and what an earlier version recorded for the others is dropped.
    if (shadow.length) {
      await sql`DELETE FROM sqlite_stat1 WHERE tbl IN (${sql.join(shadow)})`.execute(handle.db).catch(() => undefined);
    }
    // A bounded sample per index: the cost stays flat however large the tables grow.
    await sql`PRAGMA analysis_limit = 1000`.execute(handle.db);
    for (const name of ordinary) await sql`ANALYZE ${sql.id(name)}`.execute(handle.db);
    // Loads what was just written (and forgets what was dropped) into this connection's planner.
    await sql`ANALYZE sqlite_schema`.execute(handle.db);
    return;
  }
  const { rows } = await sql<{ name: string }>`SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = current_schema()`.execute(handle.db);
  if (rows.length) await sql.raw(`ANALYZE ${rows.map((r) => r.name).join(', ')}`).execute(handle.db);
}
