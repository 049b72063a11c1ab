import type { Kysely } from 'kysely';
import type { MetadataDb } from '../metadata/db.js';
import { isPostgres } from '../metadata/migrate.js';
import { lockNamespace } from '../metadata/namespaces.js';
import { findRepositoryId } from '../metadata/repositories.js';
import { linkedInScope, scopeTotal } from '../metadata/usage.js';
import type { QuotaAddition, StorageQuota } from '../registry/context.js';

// Storage quotas (issue 11): bytes per namespace, from its plan (plans.quota_bytes). A push that
// would take the namespace over is refused at the blob upload's last request or at the manifest
// PUT; nothing stored is ever removed for a quota, and a smaller plan only refuses new bytes.
// Usage is what the store holds for the namespace (blobs its repositories link, counted once,
// plus its manifests), so a deleted tag frees room only when garbage collection removes its bytes.

const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  KIB: 1024,
  MB: 1e6,
  MIB: 1024 ** 2,
  GB: 1e9,
  GIB: 1024 ** 3,
  TB: 1e12,
  TIB: 1024 ** 4,
};

/** "10MiB", "512 KB", "1GiB" or a number of bytes → bytes; undefined when it is not a size. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = UNITS[(m[2] ?? 'B').toUpperCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Bytes in binary units, as quotas are written: "10.0 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[i]}`;
}

export interface NamespaceQuota {
  namespace: string;
  plan: string;
  /** Null: no quota. */
  quotaBytes: number | null;
  usedBytes: number;
}

/** A namespace's quota (from its plan) and how much of it is used; undefined for an unknown namespace. */
export async function namespaceQuota(db: MetadataDb, namespace: string): Promise<NamespaceQuota | undefined> {
  const row = await db
    .selectFrom('namespaces as n')
    .innerJoin('plans as p', 'p.id', 'n.plan_id')
    .select(['p.name', 'p.quota_bytes'])
    .where('n.name', '=', namespace)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    namespace,
    plan: row.name,
    quotaBytes: row.quota_bytes === null ? null : Number(row.quota_bytes),
    usedBytes: await scopeTotal(db, { namespace }),
  };
}

/** The refusal message of a write of `size` more bytes into a namespace at its quota. */
export function quotaMessage(q: NamespaceQuota, size: number): string {
  return (
    `storage quota exceeded: namespace ${q.namespace} uses ${formatBytes(q.usedBytes)} of its ` +
    `${formatBytes(q.quotaBytes ?? 0)} quota (plan ${q.plan}); this push needs ${formatBytes(size)} more`
  );
}

/** Whether the addition is already held by the namespace (then it adds no bytes). */
async function alreadyHeld(db: MetadataDb, namespace: string, repository: string, added: QuotaAddition) {
  if (added.kind === 'blob') return linkedInScope(db, { namespace }, added.digest);
  const id = await findRepositoryId(db, repository);
  if (id === undefined) return false;
  const row = await db
    .selectFrom('manifests')
    .select('digest')
    .where('repository_id', '=', id)
    .where('digest', '=', added.digest)
    .executeTakeFirst();
  return row !== undefined;
}

/** The registry's quota hook (RegistryContext.quota). */
export function createStorageQuota(): StorageQuota {
  return {
    async refusal(db, repository, added) {
      const slash = repository.indexOf('/');
      if (slash < 0) return undefined;
      const namespace = repository.slice(0, slash);
      // Cheap first: most namespaces have no quota.
      const plan = await db
        .selectFrom('namespaces as n')
        .innerJoin('plans as p', 'p.id', 'n.plan_id')
        .select('p.quota_bytes')
        .where('n.name', '=', namespace)
        .executeTakeFirst();
      if (plan?.quota_bytes === null || plan?.quota_bytes === undefined) return undefined;
      // Inside the write's transaction on PostgreSQL: the namespace is held until commit, so that
      // concurrent writes into it are counted one after the other (SQLite has one writer anyway).
      if (db.isTransaction && isPostgres(db as Kysely<unknown>)) await lockNamespace(db, namespace);
      if (await alreadyHeld(db, namespace, repository, added)) return undefined;
      const q = await namespaceQuota(db, namespace);
      if (!q || q.quotaBytes === null || q.usedBytes + added.size <= q.quotaBytes) return undefined;
      return quotaMessage(q, added.size);
    },
  };
}
