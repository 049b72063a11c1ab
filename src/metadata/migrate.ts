import { type Kysely, type Migration, Migrator, PostgresAdapter } from 'kysely';

/** Raised when the database was migrated by a newer Wharf than this one. */
export class SchemaTooNewError extends Error {}

/** Is this database PostgreSQL (else SQLite)? For the few places where the dialects differ. */
export function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** How a database is opened: migrated (the default) or only version-checked; who hears what was applied. */
export interface MigrateOptions {
  migrate?: boolean;
  onApplied?: (names: string[]) => void;
}

/** Runs `work` while no other connection can migrate the same database. */
export type MigrationLock = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * Refuses a database that holds a migration this code does not know (a newer Wharf migrated it:
 * an older node must not write to a schema it does not understand), then applies the missing
 * migrations (unless `migrate` is false) under `lock` and tells `onApplied` their names.
 * Kysely locks PostgreSQL itself; SQLite's caller passes a lock (see sqlite.ts).
 */
export async function migrateDatabase(
  db: Kysely<unknown>,
  migrations: Record<string, Migration>,
  label: string,
  options: MigrateOptions & { lock?: MigrationLock } = {},
): Promise<void> {
  const recorded = await recordedMigrations(db);
  const unknown = recorded.filter((name) => !(name in migrations));
  if (unknown.length > 0) {
    throw new SchemaTooNewError(
      `${label} schema is newer than this Wharf: it has migration ${unknown.join(', ')}, which this version does not know; ` +
        'upgrade Wharf on this node (or restore a backup taken before the upgrade)',
    );
  }
  // Up to date (every start but the first after an upgrade): no lock, no write.
  if (options.migrate === false || Object.keys(migrations).every((name) => recorded.includes(name))) {
    options.onApplied?.([]);
    return;
  }
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // Kysely's default (localeCompare) loads ICU's collator: ~80 ms of every CLI start.
    nameComparator: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
  });
  const lock = options.lock ?? ((work) => work());
  // Throws on failure, so that the lock's transaction (SQLite) is rolled back, not committed.
  const applied = await lock(async () => {
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${label} migration ${failed} failed: ${message}`, { cause: error });
    }
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  });
  options.onApplied?.(applied);
}

/** Migrations recorded in the database (Kysely's table). */
async function recordedMigrations(db: Kysely<unknown>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === 'kysely_migration')) return [];
  const rows = await (db as Kysely<{ kysely_migration: { name: string } }>)
    .selectFrom('kysely_migration')
    .select('name')
    .execute();
  return rows.map((r) => r.name);
}
