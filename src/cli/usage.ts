import { Command } from 'commander';
import { formatBytes } from '../hub/quotas.js';
import { totalsJson, usageJson, usageReport } from '../hub/usage.js';
import { type DataOptions, withDatabase, withDataOptions } from './store.js';
import { formatTable, parseFormat } from './table.js';

/**
 * `wharf usage`: the server's disk usage per namespace, from its metadata (works while the server
 * runs): the bytes only the namespace holds, those it shares with other namespaces (layers are
 * stored once), and its total; then the whole store, which is what `du` counts under blobs/.
 */
export function usageCommand(): Command {
  return withDataOptions(
    new Command('usage')
      .description("the registry's disk usage per namespace: unique, shared and total bytes")
      .option('--format <format>', 'table or json')
      .option('--bytes', 'exact byte counts instead of KiB/MiB/GiB'),
  ).action(async (opts: DataOptions & { format?: string; bytes?: boolean }) => {
    const format = parseFormat(opts.format);
    await withDatabase(opts, { create: false }, async (db) => {
      const report = await usageReport(db);
      if (format === 'json') {
        process.stdout.write(
          `${JSON.stringify({
            ...totalsJson(report.totals),
            namespaces: report.namespaces.map((n) => ({
              namespace: n.namespace,
              repositories: n.repositories,
              ...usageJson(n),
            })),
          })}\n`,
        );
        return;
      }
      const size = (n: number) => (opts.bytes ? String(n) : formatBytes(n));
      const rows = report.namespaces.map((n) => [
        n.namespace === '' ? '(top level)' : n.namespace,
        String(n.repositories),
        size(n.uniqueBytes),
        size(n.sharedBytes),
        size(n.totalBytes),
      ]);
      process.stdout.write(formatTable(['NAMESPACE', 'REPOSITORIES', 'UNIQUE', 'SHARED', 'TOTAL'], rows));
      const t = report.totals;
      process.stdout.write(
        `\nstore: ${size(t.totalBytes)} (blobs ${size(t.blobBytes)} in ${t.blobs} files, ` +
          `manifests ${size(t.manifestBytes)}; not linked to any repository: ${size(t.unlinkedBytes)})\n`,
      );
    });
  });
}
