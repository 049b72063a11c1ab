import type { Kysely, Migration } from 'kysely';

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
