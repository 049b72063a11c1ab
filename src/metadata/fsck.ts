import { type MetadataDb, now } from './db.js';
import { deleteManifestRows, queueBlobReview, queueManifestDependents, reviewTime } from './gc.js';

/** Queries behind `wharf fsck` (registry/fsck.ts): pages of blob rows and broken references. */

/** Blob rows after `after`, in digest order. */
export async function blobRowsPage(
  db: MetadataDb,
  limit: number,
  after?: string,
): Promise<{ digest: string; size: number }[]> {
  let q = db.selectFrom('blobs').select(['digest', 'size']).orderBy('digest').limit(limit);
  if (after !== undefined) q = q.where('digest', '>', after);
  return (await q.execute()).map((r) => ({ digest: r.digest, size: Number(r.size) }));
}

/** Which of `digests` have a blob row. */
export async function blobRowsAmong(db: MetadataDb, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const rows = await db.selectFrom('blobs').select('digest').where('digest', 'in', digests).execute();
  return new Set(rows.map((r) => r.digest));
}

/** Digests whose file GC is removing (a crash may have left the mark). */
export async function markedForDeletion(db: MetadataDb, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const rows = await db.selectFrom('gc_blob_deletions').select('digest').where('digest', 'in', digests).execute();
  return new Set(rows.map((r) => r.digest));
}

export interface BrokenReference {
  repository: string;
  repositoryId: number;
  manifest: string;
  digest: string;
  kind: 'blob' | 'manifest';
}

/** Manifest references to blobs without a row or to child manifests that do not exist. */
export async function brokenReferences(db: MetadataDb): Promise<BrokenReference[]> {
  const blobs = await db
    .selectFrom('manifest_references as mr')
    .innerJoin('repositories as r', 'r.id', 'mr.repository_id')
    .leftJoin('blobs as b', 'b.digest', 'mr.child_digest')
    .select([
      'r.name as repository',
      'mr.repository_id as repositoryId',
      'mr.manifest_digest as manifest',
      'mr.child_digest as digest',
    ])
    .where('mr.kind', '=', 'blob')
    .where('b.digest', 'is', null)
    .execute();
  const children = await db
    .selectFrom('manifest_references as mr')
    .innerJoin('repositories as r', 'r.id', 'mr.repository_id')
    .leftJoin('manifests as m', (j) =>
      j.onRef('m.repository_id', '=', 'mr.repository_id').onRef('m.digest', '=', 'mr.child_digest'),
    )
    .select([
      'r.name as repository',
      'mr.repository_id as repositoryId',
      'mr.manifest_digest as manifest',
      'mr.child_digest as digest',
    ])
    .where('mr.kind', '=', 'manifest')
    .where('m.digest', 'is', null)
    .execute();
  return [
    ...blobs.map((b) => ({ ...b, kind: 'blob' as const })),
    ...children.map((c) => ({ ...c, kind: 'manifest' as const })),
  ];
}

/** Repository links to blobs without a row. */
export async function danglingLinks(
  db: MetadataDb,
): Promise<{ repository: string; repositoryId: number; digest: string }[]> {
  return db
    .selectFrom('repository_blobs as l')
    .innerJoin('repositories as r', 'r.id', 'l.repository_id')
    .leftJoin('blobs as b', 'b.digest', 'l.digest')
    .select(['r.name as repository', 'l.repository_id as repositoryId', 'l.digest'])
    .where('b.digest', 'is', null)
    .execute();
}

/**
 * Removes a blob whose file is missing or wrong, consistently, in one transaction: the manifests
 * that reference it (an image missing a layer cannot be pulled; their tags go with them and what
 * they pointed at is queued), its links, its row. A wrong file is queued for GC to remove.
 * Returns the manifests removed.
 */
export async function dropBrokenBlob(
  db: MetadataDb,
  digest: string,
  fileLeft: boolean,
): Promise<{ repositoryId: number; digest: string }[]> {
  return db.transaction().execute(async (tx) => {
    await tx.deleteFrom('repository_blobs').where('digest', '=', digest).execute();
    const users = await tx
      .selectFrom('manifest_references')
      .select(['repository_id as repositoryId', 'manifest_digest as digest'])
      .distinct()
      .where('child_digest', '=', digest)
      .where('kind', '=', 'blob')
      .execute();
    for (const m of users) await dropManifest(tx, m.repositoryId, m.digest);
    await tx.deleteFrom('blobs').where('digest', '=', digest).execute();
    if (fileLeft) await queueBlobReview(tx, digest, now(), 'fsck');
    return users;
  });
}

/** Removes a manifest (and its tags), queueing what it pointed at for review now. */
export async function dropManifest(db: MetadataDb, repositoryId: number, digest: string): Promise<void> {
  await queueManifestDependents(db, repositoryId, digest, reviewTime(0));
  await deleteManifestRows(db, repositoryId, digest);
}

export async function dropLink(db: MetadataDb, repositoryId: number, digest: string): Promise<void> {
  await db
    .deleteFrom('repository_blobs')
    .where('repository_id', '=', repositoryId)
    .where('digest', '=', digest)
    .execute();
}
