import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';

export type MetadataDb = Kysely<Database>;

/** Name of the metadata database in the data directory (storage.root). */
export const DATABASE_FILE = 'wharf.db';

/**
 * Opens (creating if needed) the SQLite metadata database and migrates it.
 * WAL with synchronous=NORMAL: a killed process never leaves a half-applied transaction.
 */
export async function openSqlite(file: string): Promise<MetadataDb> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrateToLatest(db as Kysely<unknown>);
  return db;
}

export function now(): string {
  return new Date().toISOString();
}
