// Shared by the admin commands (`wharf user …`, `wharf repo …`): the data directory's
// metadata database, found from -c/--config and --data exactly as `wharf serve` finds it.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { type MetadataDb, metadataLocation, openMetadata } from '../metadata/db.js';
import type { MigrateOptions } from '../metadata/migrate.js';
import { type Config, loadConfig } from '../server/config.js';

export interface DataOptions {
  config?: string;
  data?: string;
}

/** Adds `-c, --config FILE` and `--data DIR`, with the same meaning as for `wharf serve`. */
export function withDataOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
    .option('--data <dir>', 'data directory (default ./data)');
}

/** The configuration as `wharf serve` would load it, with --data applied. */
export function loadDataConfig(opts: DataOptions): Config {
  const overrides: [string[], unknown][] = [];
  if (opts.data) overrides.push([['storage', 'root'], opts.data]);
  return loadConfig({ ...(opts.config ? { file: opts.config } : {}), overrides });
}

/**
 * Runs `fn` on the data directory's database and closes it afterwards. With `create`, a
 * missing database is created (and migrated); otherwise it is an error, so that a mistyped
 * --data does not silently start an empty registry.
 */
export async function withDatabase<T>(
  opts: DataOptions,
  options: { create: boolean } & MigrateOptions,
  fn: (db: MetadataDb) => Promise<T>,
): Promise<T> {
  const config = loadDataConfig(opts);
  const location = metadataLocation(config);
  if (location.url === '') {
    if (config.storage.driver === 'memory') {
      throw new Error('storage.driver is memory: there is no data directory to manage');
    }
    if (!options.create && !existsSync(location.sqliteFile)) throw new Error(`no Wharf data in ${config.storage.root}`);
  }
  const db = await openMetadata(location, { migrate: options.migrate, onApplied: options.onApplied });
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}
