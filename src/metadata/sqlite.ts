import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  type DatabaseConnection,
  type Driver,
  Kysely,
  type Migration,
  Migrator,
  SqliteDialect,
  SqliteDriver,
} from 'kysely';

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
  options: { label: string; busyTimeoutMs: number },
): Promise<Kysely<DB>> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  const db = new Kysely<DB>({ dialect: new RollbackSafeSqliteDialect(sqlite) });
  const migrator = new Migrator({
    db: db as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
    // Kysely's default (localeCompare) loads ICU's collator: ~80 ms of every CLI start.
    nameComparator: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${options.label} migration ${failed} failed: ${message}`, { cause: error });
  }
  return db;
}
