import type { MetadataDb } from '../metadata/db.js';

/** Marks a repository official or not (administrators only: callers check). False when it does not exist. */
export async function setOfficial(db: MetadataDb, repository: string, official: boolean): Promise<boolean> {
  const r = await db
    .updateTable('repositories')
    .set({ is_official: official ? 1 : 0 })
    .where('name', '=', repository)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
