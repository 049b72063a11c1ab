import type { MetadataDb } from './db.js';

/** Tag names of a repository in order, after `last`, at most `limit`. */
export async function listTags(db: MetadataDb, repositoryId: number, limit: number, last?: string): Promise<string[]> {
  let q = db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name').limit(limit);
  if (last !== undefined) q = q.where('name', '>', last);
  return (await q.execute()).map((r) => r.name);
}

/** Removes one tag; the manifest stays. Returns false when the tag did not exist. */
export async function deleteTag(db: MetadataDb, repositoryId: number, tag: string): Promise<boolean> {
  const result = await db
    .deleteFrom('tags')
    .where('repository_id', '=', repositoryId)
    .where('name', '=', tag)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
