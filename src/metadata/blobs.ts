import { type MetadataDb, now } from './db.js';

export interface BlobRecord {
  digest: string;
  size: number;
}

/**
 * Records a verified blob in storage and links it into a repository, in one transaction.
 * `prepare` runs first inside it (a quota check, the move of the file under its digest): when it
 * throws, nothing is recorded.
 */
export async function recordAndLinkBlob(
  db: MetadataDb,
  repositoryId: number,
  digest: string,
  size: number,
  prepare?: (tx: MetadataDb) => Promise<void>,
): Promise<void> {
  const at = now();
  await db.transaction().execute(async (tx) => {
    await prepare?.(tx);
    await tx
      .insertInto('blobs')
      .values({ digest, size, created_at: at })
      .onConflict((oc) => oc.column('digest').doNothing())
      .execute();
    await tx
      .insertInto('repository_blobs')
      .values({ repository_id: repositoryId, digest, created_at: at })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .execute();
  });
}

/** A blob known to the store (in any repository). */
export async function findBlob(db: MetadataDb, digest: string): Promise<BlobRecord | undefined> {
  return db.selectFrom('blobs').select(['digest', 'size']).where('digest', '=', digest).executeTakeFirst();
}

/** A blob readable in the named repository. */
export async function findLinkedBlob(
  db: MetadataDb,
  repository: string,
  digest: string,
): Promise<BlobRecord | undefined> {
  return db
    .selectFrom('repository_blobs as l')
    .innerJoin('repositories as r', 'r.id', 'l.repository_id')
    .innerJoin('blobs as b', 'b.digest', 'l.digest')
    .select(['b.digest', 'b.size'])
    .where('r.name', '=', repository)
    .where('l.digest', '=', digest)
    .executeTakeFirst();
}

/** Which of `digests` are linked into the repository. */
export async function linkedDigests(db: MetadataDb, repositoryId: number, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const rows = await db
    .selectFrom('repository_blobs')
    .select('digest')
    .where('repository_id', '=', repositoryId)
    .where('digest', 'in', digests)
    .execute();
  return new Set(rows.map((r) => r.digest));
}

/** Removes a blob's link from a repository; returns false when it was not linked. */
export async function unlinkBlob(db: MetadataDb, repositoryId: number, digest: string): Promise<boolean> {
  const result = await db
    .deleteFrom('repository_blobs')
    .where('repository_id', '=', repositoryId)
    .where('digest', '=', digest)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
