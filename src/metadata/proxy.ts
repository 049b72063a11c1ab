import type { Kysely, Migration } from 'kysely';
import { type MetadataDb, now } from './db.js';

/**
 * Pull-through cache bookkeeping (issue 13): for each cached tag, the remote it comes from, the
 * digest the remote last named and when Wharf last asked. Keyed by repository name so that the
 * row outlives nothing: a repository deleted by GC simply leaves a row that the next pull rewrites.
 */
export const proxyMigrations: Record<string, Migration> = {
  '0008_proxy_tags': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('proxy_tags')
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('remote', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('checked_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('proxy_tags_pk', ['repository', 'tag'])
        .execute();
    },
  },
};

export interface ProxyTables {
  proxy_tags: ProxyTagsTable;
}

export interface ProxyTagsTable {
  repository: string;
  tag: string;
  remote: string;
  digest: string;
  checked_at: string;
}

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
