import { usageReport } from '../hub/usage.js';
import type { MetadataDb } from '../metadata/db.js';

/** A Prometheus label value, escaped. */
const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * The wharf_storage_* gauges from the metadata (SQL aggregates; the same numbers as `wharf usage`
 * and /api/admin/usage). Computed at most once per `maxAgeMs`: on a large store (10,000
 * repositories in 100 namespaces: about 1.5 s) a scrape must not redo it every 15 s; a scrape
 * gets the last figures, and one in flight is shared.
 */
export function storageMetrics(db: MetadataDb, maxAgeMs = 60_000): () => Promise<string> {
  let last: { at: number; text: Promise<string> } | undefined;
  return () => {
    if (!last || Date.now() - last.at > maxAgeMs) {
      const text = renderStorageMetrics(db);
      last = { at: Date.now(), text };
      // A failed computation is retried at the next scrape.
      text.catch(() => {
        last = undefined;
      });
    }
    return last.text;
  };
}

async function renderStorageMetrics(db: MetadataDb): Promise<string> {
  const { totals, namespaces } = await usageReport(db);
  const out = [
    '# HELP wharf_storage_bytes Bytes the store holds: blob files and manifests (kept in the metadata database).',
    '# TYPE wharf_storage_bytes gauge',
    `wharf_storage_bytes{kind="blobs"} ${totals.blobBytes}`,
    `wharf_storage_bytes{kind="manifests"} ${totals.manifestBytes}`,
    '# HELP wharf_storage_blobs Blob files in the store.',
    '# TYPE wharf_storage_blobs gauge',
    `wharf_storage_blobs ${totals.blobs}`,
    '# HELP wharf_storage_unlinked_bytes Blob bytes no repository links (garbage collection takes them).',
    '# TYPE wharf_storage_unlinked_bytes gauge',
    `wharf_storage_unlinked_bytes ${totals.unlinkedBytes}`,
    '# HELP wharf_storage_namespace_bytes Bytes of a namespace: only it holds them (unique) or others too (shared).',
    '# TYPE wharf_storage_namespace_bytes gauge',
  ];
  for (const n of namespaces) {
    const ns = label(n.namespace);
    out.push(`wharf_storage_namespace_bytes{namespace="${ns}",sharing="unique"} ${n.uniqueBytes}`);
    out.push(`wharf_storage_namespace_bytes{namespace="${ns}",sharing="shared"} ${n.sharedBytes}`);
  }
  return `${out.join('\n')}\n`;
}
