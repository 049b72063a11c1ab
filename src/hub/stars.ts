import { type MetadataDb, now } from '../metadata/db.js';
import { lockRepository } from '../metadata/repositories.js';

// Stars: one per account and repository; repositories.star_count is kept with them (in the same
// transaction) so that search can rank by it without counting.

async function recount(db: MetadataDb, repositoryId: number): Promise<number> {
  const n = await db
    .selectFrom('stars')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('repository_id', '=', repositoryId)
    .executeTakeFirstOrThrow();
  await db
    .updateTable('repositories')
    .set({ star_count: Number(n.n) })
    .where('id', '=', repositoryId)
    .execute();
  return Number(n.n);
}

/** Stars (idempotent); returns the new star count. */
export async function star(db: MetadataDb, repositoryId: number, accountId: number): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await lockRepository(tx, repositoryId);
    await tx
      .insertInto('stars')
      .values({ repository_id: repositoryId, account_id: accountId, created_at: now() })
      .onConflict((oc) => oc.columns(['repository_id', 'account_id']).doNothing())
      .execute();
    return recount(tx, repositoryId);
  });
}

/** Removes the star (idempotent); returns the new star count. */
export async function unstar(db: MetadataDb, repositoryId: number, accountId: number): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await lockRepository(tx, repositoryId);
    await tx
      .deleteFrom('stars')
      .where('repository_id', '=', repositoryId)
      .where('account_id', '=', accountId)
      .execute();
    return recount(tx, repositoryId);
  });
}

export async function hasStarred(db: MetadataDb, repositoryId: number, accountId: number): Promise<boolean> {
  const row = await db
    .selectFrom('stars')
    .select('repository_id')
    .where('repository_id', '=', repositoryId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return row !== undefined;
}
