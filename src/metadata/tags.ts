import type { MetadataDb } from './db.js';
import { queueManifestReview, reviewTime } from './gc.js';

/** Tag names of a repository in order, after `last`, at most `limit`. */
export async function listTags(db: MetadataDb, repositoryId: number, limit: number, last?: string): Promise<string[]> {
  let q = db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name').limit(limit);
  if (last !== undefined) q = q.where('name', '>', last);
  return (await q.execute()).map((r) => r.name);
}

/**
 * Removes one tag; the manifest stays, queued for review at `reviewAfter` (GC deletes it then if
 * nothing else reaches it). Returns false when the tag did not exist.
 */
export async function deleteTag(
  db: MetadataDb,
  repositoryId: number,
  tag: string,
  reviewAfter: string = reviewTime(),
): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .deleteFrom('tags')
      .where('repository_id', '=', repositoryId)
      .where('name', '=', tag)
      .returning('manifest_digest')
      .executeTakeFirst();
    if (!row) return false;
    await queueManifestReview(tx, repositoryId, row.manifest_digest, reviewAfter, 'tag_deleted');
    return true;
  });
}
