import { usageReport } from '../hub/usage.js';
import type { MetadataDb } from '../metadata/db.js';

/** A Prometheus label value, escaped. */
const label = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * The wharf_storage_* gauges, computed from the metadata at each scrape (SQL aggregates; the
 * same numbers as `wharf usage` and /api/admin/usage).
 */
export async function storageMetrics(db: MetadataDb): Promise<string> {
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
