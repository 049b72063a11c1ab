import { type MetadataDb, now } from './db.js';
import { lockDigest, queueBlobReview, reviewTime } from './gc.js';

export interface BlobRecord {
  digest: string;
  size: number;
}

/**
 * Records a verified blob in storage and links it into a repository, in one transaction; queues
 * the blob for review at `reviewAfter` (a blob no manifest comes to reference is collected).
 * `prepare` runs first inside it (a quota check, the move of the file under its digest): when it
 * throws, nothing is recorded.
 */
export async function recordAndLinkBlob(
  db: MetadataDb,
  repositoryId: number,
  digest: string,
  size: number,
  options: { reviewAfter?: string; prepare?: (tx: MetadataDb) => Promise<void> } = {},
): Promise<void> {
  const at = now();
  await db.transaction().execute(async (tx) => {
    await options.prepare?.(tx);
    await queueBlobReview(tx, digest, options.reviewAfter ?? reviewTime(), 'upload');
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

/**
 * Links a blob already in the store into a repository (a cross-repository mount). One statement
 * reads the blob row and writes the link, so a blob that GC deleted meanwhile is never relinked.
 * Returns false when the blob is not (or no longer) in the store. `guard` runs first inside the
 * transaction (a quota check) and stops the link by throwing.
 */
export async function linkExistingBlob(
  db: MetadataDb,
  repositoryId: number,
  digest: string,
  options: { reviewAfter?: string; guard?: (tx: MetadataDb) => Promise<void> } = {},
): Promise<boolean> {
  const at = now();
  return db.transaction().execute(async (tx) => {
    await options.guard?.(tx);
    await lockDigest(tx, digest);
    const result = await tx
      .insertInto('repository_blobs')
      .columns(['repository_id', 'digest', 'created_at'])
      .expression((eb) =>
        eb
          .selectFrom('blobs')
          .select([eb.val(repositoryId).as('repository_id'), 'digest', eb.val(at).as('created_at')])
          .where('digest', '=', digest),
      )
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .executeTakeFirst();
    const present = await tx.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst();
    if (present && Number(result.numInsertedOrUpdatedRows ?? 0n) > 0)
      await queueBlobReview(tx, digest, options.reviewAfter ?? reviewTime(), 'mount');
    return present !== undefined;
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

/** Removes a blob's link from a repository and queues the blob; returns false when it was not linked. */
export async function unlinkBlob(
  db: MetadataDb,
  repositoryId: number,
  digest: string,
  reviewAfter: string = reviewTime(),
): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const result = await tx
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    const removed = Number(result.numDeletedRows) > 0;
    if (removed) await queueBlobReview(tx, digest, reviewAfter, 'unlinked');
    return removed;
  });
}
