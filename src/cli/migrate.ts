// `wharf migrate`: brings the metadata database (SQLite in the data directory, or PostgreSQL at
// database.url) up to this version's schema, and says what it applied. `wharf serve` migrates
// too; with several nodes on one PostgreSQL, run this once before starting the new version.
import { Command } from 'commander';
import type { Kysely } from 'kysely';
import { migrateDatabase } from '../metadata/migrate.js';
import { registryMigrations } from '../metadata/migrations.js';
import { type DataOptions, withDatabase, withDataOptions } from './store.js';

export function migrateCommand(): Command {
  return withDataOptions(
    new Command('migrate').description('apply the metadata database migrations of this Wharf version'),
  ).action(async (opts: DataOptions) => {
    await withDatabase(opts, { create: true, migrate: false }, async (db) => {
      const applied = await migrateDatabase(db as Kysely<unknown>, registryMigrations, 'database');
      process.stdout.write(
        applied.length === 0
          ? 'database schema is up to date\n'
          : `applied ${applied.length} migration(s): ${applied.join(', ')}\n`,
      );
    });
  });
}
