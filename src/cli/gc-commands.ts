import { Command } from 'commander';
import { humanSize } from '../engine/units.js';
import { nextReviewTime, queueHealth } from '../metadata/gc.js';
import type { RegistryContext } from '../registry/context.js';
import { type FsckReport, fsck } from '../registry/fsck.js';
import { type GcReport, runGc } from '../registry/gc.js';
import { openStorage, registryOptions } from '../server/app.js';
import type { Config } from '../server/config.js';
import { gcOptions } from '../server/gc-status.js';
import { type DataOptions, loadDataConfig, withDatabase, withDataOptions } from './store.js';

/**
 * `wharf gc` and `wharf fsck`, against a data directory. Both work while `wharf serve` runs on
 * it (SQLite in WAL mode; every GC step is its own transaction, as in the server's worker).
 */
async function withRegistry<T>(
  opts: DataOptions,
  fn: (ctx: RegistryContext, config: Config) => Promise<T>,
): Promise<T> {
  const config = loadDataConfig(opts);
  return withDatabase(opts, { create: false }, async (db) =>
    fn(
      {
        db,
        storage: await openStorage(config),
        options: registryOptions(config),
      },
      config,
    ),
  );
}

function printGc(r: GcReport, verbose: boolean): void {
  const out = process.stdout;
  if (verbose || r.dryRun) {
    for (const d of r.deleted) {
      const what = d.kind === 'manifest' ? `manifest ${d.repository}@${d.digest}` : `blob ${d.digest}`;
      const verb = d.evicted
        ? `${r.dryRun ? 'would evict' : 'evicted'} (${d.evicted})`
        : r.dryRun
          ? 'would delete'
          : 'deleted';
      out.write(`${verb} ${what} (${humanSize(d.size)})\n`);
    }
  }
  const verb = r.dryRun ? 'Would delete' : 'Deleted';
  if (r.manifestsEvicted > 0) {
    out.write(
      `${r.dryRun ? 'Would evict' : 'Evicted'} ${r.manifestsEvicted} cached manifest(s) from the pull-through cache\n`,
    );
  }
  out.write(
    `${verb} ${r.manifestsDeleted} manifest(s) and ${r.blobsDeleted} blob(s), ${humanSize(r.bytesFreed)} ` +
      `(${r.bytesFreed} bytes); ${r.uploadsPurged} abandoned upload session(s)` +
      `${r.dryRun ? ' would be purged' : ' purged'}; ${r.failures} failure(s); ${r.seconds.toFixed(2)}s\n`,
  );
  if (r.dryRun) {
    out.write(
      'Only items whose review is due are counted: what their deletion frees is reviewed after gc.review_delay.\n',
    );
  }
}

function printFsck(r: FsckReport): void {
  const out = process.stdout;
  for (const p of r.problems) {
    const where = p.repository ? ` in ${p.repository}` : '';
    out.write(`${p.kind} ${p.digest}${where}: ${p.detail}${p.repaired ? ` [${p.repaired}]` : ''}\n`);
  }
  const orphans = r.problems.filter((p) => p.kind === 'orphan_file').length;
  out.write(
    `Checked ${r.blobsChecked} blob row(s) (${humanSize(r.bytesChecked)} hashed) and ${r.filesChecked} file(s): ` +
      `${r.problems.length - orphans} problem(s), ${orphans} orphan file(s)` +
      `${orphans > 0 ? (r.repaired ? ' (queued for GC)' : ' (run with --repair to queue them for GC)') : ''}\n`,
  );
}

export function gcCommand(): Command {
  return withDataOptions(
    new Command('gc')
      .description('collect garbage now: manifests and blobs whose review is due and that nothing references')
      .option('--dry-run', 'show what would be deleted and how many bytes, delete nothing')
      .option('-v, --verbose', 'list every deleted object')
      .option('--json', 'print the report as JSON'),
  ).action(async (opts: DataOptions & { dryRun?: boolean; verbose?: boolean; json?: boolean }) => {
    await withRegistry(opts, async (ctx, config) => {
      const report = await runGc(ctx, {
        ...gcOptions(config),
        dryRun: opts.dryRun ?? false,
        trigger: 'cli',
      });
      if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else {
        printGc(report, opts.verbose ?? false);
        // What waits for its review delay (a delete a minute ago shows here, not above).
        const at = new Date().toISOString();
        const h = await queueHealth(ctx.db, at, at);
        const next = await nextReviewTime(ctx.db);
        if (next !== undefined) {
          process.stdout.write(
            `Queued for review later: ${h.manifests.queued} manifest(s), ${h.blobs.queued} blob(s); next due ${next}\n`,
          );
        }
      }
    });
  });
}

export function fsckCommand(): Command {
  return withDataOptions(
    new Command('fsck')
      .description("check every blob's file (size and digest) and every reference against storage")
      .option(
        '--repair',
        'remove rows for missing or corrupt files (and the manifests needing them); queue orphan files for GC',
      )
      .option('--no-verify', 'check sizes only, do not hash the files')
      .option('--json', 'print the report as JSON'),
  ).action(async (opts: DataOptions & { repair?: boolean; verify: boolean; json?: boolean }) => {
    await withRegistry(opts, async (ctx) => {
      const report = await fsck(ctx, { repair: opts.repair ?? false, verifyDigests: opts.verify });
      if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else printFsck(report);
      // Problems other than orphan files (which GC removes) make the exit status 1, unless repaired.
      if (!report.clean && !report.repaired) process.exitCode = 1;
    });
  });
}

export function commands(): Command[] {
  return [gcCommand(), fsckCommand()];
}
