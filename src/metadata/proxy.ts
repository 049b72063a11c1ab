/** Queries of the pull-through cache's bookkeeping (schema in proxy-migrations.ts). */
import { type MetadataDb, now } from './db.js';

export interface ProxyTagCheck {
  tag: string;
  remote: string;
  digest: string;
  checkedAt: string;
}

/** Records that `remote` named `digest` for the tag just now. */
export async function recordTagCheck(
  db: MetadataDb,
  repository: string,
  tag: string,
  remote: string,
  digest: string,
): Promise<void> {
  const at = now();
  await db
    .insertInto('proxy_tags')
    .values({ repository, tag, remote, digest, checked_at: at })
    .onConflict((oc) => oc.columns(['repository', 'tag']).doUpdateSet({ remote, digest, checked_at: at }))
    .execute();
}

export async function findTagCheck(
  db: MetadataDb,
  repository: string,
  tag: string,
): Promise<ProxyTagCheck | undefined> {
  return db
    .selectFrom('proxy_tags')
    .select(['tag', 'remote', 'digest', 'checked_at as checkedAt'])
    .where('repository', '=', repository)
    .where('tag', '=', tag)
    .executeTakeFirst();
}

/** Every checked tag of a repository, by tag name. */
export async function listTagChecks(db: MetadataDb, repository: string): Promise<ProxyTagCheck[]> {
  return db
    .selectFrom('proxy_tags')
    .select(['tag', 'remote', 'digest', 'checked_at as checkedAt'])
    .where('repository', '=', repository)
    .orderBy('tag')
    .execute();
}
