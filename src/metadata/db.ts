import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { MigrateOptions } from './migrate.js';
import { registryMigrations } from './migrations.js';
import type { PoolSettings } from './postgres.js';
import type { Database } from './schema.js';
import { openMigratedSqlite } from './sqlite.js';

export type MetadataDb = Kysely<Database>;

/** Name of the metadata database in the data directory (storage.root). */
export const DATABASE_FILE = 'wharf.db';

/** Opens (creating if needed) the registry's metadata database and migrates it. */
export function openSqlite(file: string, options: MigrateOptions = {}): Promise<MetadataDb> {
  return openMigratedSqlite<Database>(file, registryMigrations, { label: 'database', busyTimeoutMs: 5000, ...options });
}

/** Where the metadata lives: PostgreSQL when `url` is set, else SQLite in the data directory. */
export interface MetadataLocation {
  /** `postgres://…` (database.url); '' for SQLite. */
  url: string;
  pool: PoolSettings;
  /** SQLite file (':memory:' for the memory driver), used when url is ''. */
  sqliteFile: string;
}

/** The metadata location of a configuration (the database and storage sections). */
export function metadataLocation(config: {
  database: { url: string; pool_max: number; pool_idle_timeout: number; connect_timeout: number };
  storage: { driver: string; root: string };
}): MetadataLocation {
  return {
    url: config.database.url,
    pool: {
      max: config.database.pool_max,
      idleTimeoutMs: config.database.pool_idle_timeout,
      connectTimeoutMs: config.database.connect_timeout,
    },
    sqliteFile: config.storage.driver === 'memory' ? ':memory:' : join(config.storage.root, DATABASE_FILE),
  };
}

/**
 * Opens the metadata database (PostgreSQL or SQLite). With `migrate` (the default) the missing
 * migrations are applied (and reported to `onApplied`); without, only the version check runs (a
 * schema newer than this code is refused either way).
 */
export async function openMetadata(location: MetadataLocation, options: MigrateOptions = {}): Promise<MetadataDb> {
  if (location.url !== '') {
    // `pg` is loaded only when it is used.
    const { openMigratedPostgres } = await import('./postgres.js');
    return openMigratedPostgres<Database>(location.url, registryMigrations, {
      label: 'database',
      pool: location.pool,
      ...options,
    });
  }
  return openSqlite(location.sqliteFile, options);
}

export function now(): string {
  return new Date().toISOString();
}
