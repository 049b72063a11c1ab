import type { Kysely } from 'kysely';
import { registryMigrations } from './migrations.js';
import type { Database } from './schema.js';
import { openMigratedSqlite } from './sqlite.js';

export type MetadataDb = Kysely<Database>;

/** Name of the metadata database in the data directory (storage.root). */
export const DATABASE_FILE = 'wharf.db';

/** Opens (creating if needed) the registry's metadata database and migrates it. */
export function openSqlite(file: string): Promise<MetadataDb> {
  return openMigratedSqlite<Database>(file, registryMigrations, { label: 'database', busyTimeoutMs: 5000 });
}

export function now(): string {
  return new Date().toISOString();
}
