// `wharf migrate-storage --from DIR|FILE --to FILE [--resume]`: moves an embedded registry
// (SQLite + filesystem storage in a data directory) to the PostgreSQL database and/or the
// object store that the target configuration names (registry/migrate-storage.ts does the work).
import { existsSync, statSync } from 'node:fs';
import { Command } from 'commander';
import { humanSize } from '../engine/units.js';
import { type MetadataDb, metadataLocation, openMetadata } from '../metadata/db.js';
import { migrateStorage } from '../registry/migrate-storage.js';
import { openStorage } from '../server/app.js';
import { type Config, loadConfig } from '../server/config.js';
import type { StorageDriver } from '../storage/driver.js';

interface Options {
  from: string;
  to: string;
  resume?: boolean;
  concurrency: string;
}

/** The source: a data directory, or a configuration file naming one (WHARF_* variables are the target's). */
function sourceConfig(from: string): Config {
  const isDir = existsSync(from) && statSync(from).isDirectory();
  const config = isDir
    ? loadConfig({ env: {}, overrides: [[['storage', 'root'], from]] })
    : loadConfig({ env: {}, file: from });
  if (config.database.url !== '' || config.storage.driver !== 'filesystem') {
    throw new Error(`--from must be an embedded registry (SQLite and filesystem storage); ${from} is not`);
  }
  if (!existsSync(metadataLocation(config).sqliteFile)) throw new Error(`no Wharf data in ${config.storage.root}`);
  return config;
}

function describe(config: Config): string {
  const db = config.database.url !== '' ? `PostgreSQL ${redact(config.database.url)}` : 'SQLite';
  const s3 = config.storage.s3;
  const storage =
    config.storage.driver === 's3'
      ? `s3://${s3.bucket}${s3.prefix ? `/${s3.prefix}` : ''}${s3.endpoint ? ` at ${s3.endpoint}` : ''}`
      : `${config.storage.driver} ${config.storage.root}`;
  return `${db}, ${storage}`;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'database';
  }
}

export function migrateStorageCommand(): Command {
  return new Command('migrate-storage')
    .description('move an embedded registry (SQLite + data directory) to PostgreSQL and/or S3 storage')
    .requiredOption('--from <dir|file>', 'the data directory of the embedded registry, or its configuration file')
    .requiredOption(
      '--to <file>',
      'configuration of the target (database.url, storage.driver s3); WHARF_* variables apply',
    )
    .option('--resume', 'continue an interrupted migration into a non-empty target')
    .option('--concurrency <n>', 'blobs copied at a time', '4')
    .action(async (opts: Options) => {
      const from = sourceConfig(opts.from);
      const to = loadConfig({ file: opts.to });
      const fromDb = metadataLocation(from);
      const toDb = metadataLocation(to);
      const sameDb = toDb.url === '' && toDb.sqliteFile === fromDb.sqliteFile;
      const sameStorage = to.storage.driver === 'filesystem' && to.storage.root === from.storage.root;
      if (sameDb && sameStorage) throw new Error('--to names the same database and storage as --from: nothing to move');
      if (to.storage.driver === 'memory')
        throw new Error('--to names the memory storage driver: nothing would be kept');
      const out = process.stdout;
      const err = process.stderr;
      err.write(`moving ${describe(from)} to ${describe(to)}\n`);
      const opened: MetadataDb[] = [];
      try {
        const sourceDb = await openMetadata(fromDb);
        opened.push(sourceDb);
        const targetDb = sameDb ? undefined : await openMetadata(toDb);
        if (targetDb) opened.push(targetDb);
        const targetStorage: StorageDriver | undefined = sameStorage ? undefined : await openStorage(to);
        let shown = 0;
        const report = await migrateStorage({
          source: { db: sourceDb, storage: await openStorage(from) },
          target: { ...(targetDb ? { db: targetDb } : {}), ...(targetStorage ? { storage: targetStorage } : {}) },
          resume: opts.resume === true,
          concurrency: Number(opts.concurrency) || 4,
          onBlob: (p) => {
            // At most one line a second, and the last one.
            if (p.done < p.total && Date.now() - shown < 1000) return;
            shown = Date.now();
            const present = p.present > 0 ? `, ${p.present} already there` : '';
            err.write(`blobs: ${p.done}/${p.total} (${humanSize(p.bytes)} copied${present})\n`);
          },
          onTable: (t) => err.write(`table ${t.table}: ${t.rows} rows\n`),
        });
        const rows = report.tables.reduce((n, t) => n + t.rows, 0);
        const { blobs } = report;
        const present = blobs.present > 0 ? `, ${blobs.present} already there` : '';
        out.write(
          `migrated ${blobs.done} blobs (${humanSize(blobs.bytes)} copied, digests verified${present}) and ` +
            `${rows} rows in ${report.tables.length} tables\n`,
        );
        if (sameDb) out.write('metadata stays in the SQLite database of the data directory\n');
        if (sameStorage) out.write('blobs stay in the data directory\n');
      } finally {
        for (const db of opened) await db.destroy();
      }
    });
}
