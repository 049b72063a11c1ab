import { type MetadataDb, now } from './db.js';

export async function findRepositoryId(db: MetadataDb, name: string): Promise<number | undefined> {
  const row = await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
  return row?.id;
}

/** Returns the repository's id, creating the repository on first use. */
export async function ensureRepository(db: MetadataDb, name: string): Promise<number> {
  const found = await findRepositoryId(db, name);
  if (found !== undefined) return found;
  await db
    .insertInto('repositories')
    .values({ name, created_at: now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const id = await findRepositoryId(db, name);
  if (id === undefined) throw new Error(`repository ${name} vanished while being created`);
  return id;
}

/** Repository names in order, after `last`, at most `limit`. */
export async function listRepositories(db: MetadataDb, limit: number, last?: string): Promise<string[]> {
  let q = db.selectFrom('repositories').select('name').orderBy('name').limit(limit);
  if (last !== undefined) q = q.where('name', '>', last);
  return (await q.execute()).map((r) => r.name);
}
