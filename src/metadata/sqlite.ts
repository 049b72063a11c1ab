import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { type DatabaseConnection, type Driver, Kysely, type Migration, SqliteDialect, SqliteDriver } from 'kysely';
import { type MigrateOptions, type MigrationLock, migrateDatabase } from './migrate.js';

/**
 * SQLite rolls a transaction back by itself when a write or COMMIT fails with SQLITE_FULL,
 * SQLITE_IOERR, SQLITE_NOMEM or SQLITE_BUSY (https://sqlite.org/lang_transaction.html).
 * Kysely then sends ROLLBACK anyway, which fails with "cannot rollback - no transaction is
 * active" and is thrown instead of the real error (a full disk showed up as that). So ROLLBACK
 * is sent only while a transaction is open.
 */
class RollbackSafeSqliteDialect extends SqliteDialect {
  constructor(private readonly sqlite: SQLite.Database) {
    super({ database: sqlite });
  }

  override createDriver(): Driver {
    const sqlite = this.sqlite;
    return new (class extends SqliteDriver {
      override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
        if (sqlite.inTransaction) await super.rollbackTransaction(connection);
      }
    })({ database: sqlite });
  }
}

/** Per database file: the tail of the chain of migrations waiting in this process. */
const migrationsInProcess = new Map<string, Promise<unknown>>();

/**
 * Kysely runs SQLite migrations outside any transaction and without a lock, so two processes
 * (or two connections) opening a new database at once both created the tables and one failed.
 * The lock is one BEGIN IMMEDIATE transaction around all pending migrations: other processes
 * wait (busy_timeout) and then see them applied; a failed migration leaves nothing behind.
 * Connections in this process queue in memory first: a busy wait would block the event loop
 * and with it the connection they wait for.
 */
function migrationLock(sqlite: SQLite.Database, file: string): MigrationLock {
  return async (work) => {
    const key = file === ':memory:' ? `:memory:${Math.random()}` : resolve(file);
    const before = migrationsInProcess.get(key) ?? Promise.resolve();
    const mine = before
      .catch(() => undefined)
      .then(async () => {
        sqlite.exec('BEGIN IMMEDIATE');
        try {
          const result = await work();
          sqlite.exec('COMMIT');
          return result;
        } catch (err) {
          if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
          throw err;
        }
      });
    migrationsInProcess.set(key, mine);
    try {
      return await mine;
    } finally {
      if (migrationsInProcess.get(key) === mine) migrationsInProcess.delete(key);
    }
  };
}

/** SQLite could not write because its disk (or the database's size limit) is full. */
export function isDatabaseFull(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'SQLITE_FULL';
}

/**
 * Opens (creating if needed) an SQLite database and brings its schema up to date with
 * `migrations`. WAL with synchronous=NORMAL: a killed process never leaves a half-applied
 * transaction. Shared by the registry's metadata and the image tool's local store.
 */
export async function openMigratedSqlite<DB>(
  file: string,
  migrations: Record<string, Migration>,
  options: { label: string; busyTimeoutMs: number } & MigrateOptions,
): Promise<Kysely<DB>> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  const db = new Kysely<DB>({ dialect: new RollbackSafeSqliteDialect(sqlite) });
  try {
    await migrateDatabase(db as Kysely<unknown>, migrations, options.label, {
      ...options,
      lock: migrationLock(sqlite, file),
    });
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}
