import type { MetadataDb } from '../metadata/db.js';
import { allNamespaceUsage, type StoreTotals, scopeUsage, storeTotals, type Usage } from '../metadata/usage.js';

// Honest disk usage (issue 11): per namespace and repository, the bytes only it holds and the
// bytes it shares with others (layers are stored once), from the metadata's aggregates. The same
// numbers feed the API, the UI, `wharf usage` and the wharf_storage_* metrics.

export interface NamespaceUsage extends Usage {
  /** '' for top-level repositories (no namespace). */
  namespace: string;
  repositories: number;
}

export interface UsageReport {
  totals: StoreTotals;
  namespaces: NamespaceUsage[];
}

export async function namespaceUsage(db: MetadataDb, namespace: string): Promise<NamespaceUsage> {
  const usage = await scopeUsage(db, { namespace });
  const q = db.selectFrom('repositories').select((eb) => eb.fn.countAll().as('n'));
  const n = await (namespace === ''
    ? q.where('name', 'not like', '%/%')
    : q.where('name', '>', `${namespace}/`).where('name', '<', `${namespace}0`)
  ).executeTakeFirstOrThrow();
  return { namespace, repositories: Number(n.n), ...usage };
}

export function repositoryUsage(db: MetadataDb, repositoryId: number): Promise<Usage> {
  return scopeUsage(db, { repositoryId });
}

/** The whole store, and every namespace that holds a repository, by name. */
export async function usageReport(db: MetadataDb): Promise<UsageReport> {
  const all = await allNamespaceUsage(db);
  const namespaces = [...all.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([namespace, u]) => ({ namespace, ...u }));
  return { totals: await storeTotals(db), namespaces };
}

/** The API's (and `wharf usage --format json`'s) shape of a usage. */
export function usageJson(u: Usage) {
  return {
    unique_bytes: u.uniqueBytes,
    shared_bytes: u.sharedBytes,
    total_bytes: u.totalBytes,
    blob_bytes: u.blobBytes,
    manifest_bytes: u.manifestBytes,
    blobs: u.blobs,
    manifests: u.manifests,
  };
}

export function totalsJson(t: StoreTotals) {
  return {
    total_bytes: t.totalBytes,
    blob_bytes: t.blobBytes,
    unlinked_blob_bytes: t.unlinkedBytes,
    manifest_bytes: t.manifestBytes,
    blobs: t.blobs,
    manifests: t.manifests,
  };
}
