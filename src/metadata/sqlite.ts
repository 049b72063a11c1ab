import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { type DatabaseConnection, type Driver, Kysely, type Migration, SqliteDialect, SqliteDriver } from 'kysely';
import { migrateDatabase } from './migrate.js';

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
  options: { label: string; busyTimeoutMs: number; migrate?: boolean },
): Promise<Kysely<DB>> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  const db = new Kysely<DB>({ dialect: new RollbackSafeSqliteDialect(sqlite) });
  try {
    await migrateDatabase(db as Kysely<unknown>, migrations, options.label, options.migrate ?? true);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}
