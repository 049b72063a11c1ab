// `wharf migrate`: brings the metadata database (SQLite in the data directory, or PostgreSQL at
// database.url) up to this version's schema, and says what it applied. `wharf serve` migrates
// too; with several nodes on one PostgreSQL, run this once before starting the new version.
import { Command } from 'commander';
import { type DataOptions, withDatabase, withDataOptions } from './store.js';

export function migrateCommand(): Command {
  return withDataOptions(
    new Command('migrate').description('apply the metadata database migrations of this Wharf version'),
  ).action(async (opts: DataOptions) => {
    let applied: string[] = [];
    const onApplied = (names: string[]) => {
      applied = names;
    };
    await withDatabase(opts, { create: true, onApplied }, async () => {
      process.stdout.write(
        applied.length === 0
          ? 'database schema is up to date\n'
          : `applied ${applied.length} migration(s): ${applied.join(', ')}\n`,
      );
    });
  });
}
