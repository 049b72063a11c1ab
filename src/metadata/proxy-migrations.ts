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
  // Issue 13's eviction: which manifests a remote filled (the mirror shares its namespace with
  // pushes, so the repository alone does not say), and when each was last pulled, by tag or digest.
  // The row goes with its manifest (cascade): a manifest deleted by the API or fsck leaves none.
  '0009_proxy_manifests': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('proxy_manifests')
        .addColumn('repository_id', 'integer', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('remote', 'text', (c) => c.notNull())
        .addColumn('cached_at', 'text', (c) => c.notNull())
        .addColumn('pulled_at', 'text')
        .addPrimaryKeyConstraint('proxy_manifests_pk', ['repository_id', 'digest'])
        .addForeignKeyConstraint(
          'proxy_manifests_manifest',
          ['repository_id', 'digest'],
          'manifests',
          ['repository_id', 'digest'],
          (c) => c.onDelete('cascade'),
        )
        .execute();
      await db.schema
        .alterTable('gc_runs')
        .addColumn('manifests_evicted', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
};

export interface ProxyTables {
  proxy_tags: ProxyTagsTable;
  proxy_manifests: ProxyManifestsTable;
}

export interface ProxyManifestsTable {
  repository_id: number;
  digest: string;
  remote: string;
  cached_at: string;
  /** Last GET of the manifest (by tag or digest); null until pulled after its fill. */
  pulled_at: string | null;
}

export interface ProxyTagsTable {
  repository: string;
  tag: string;
  remote: string;
  digest: string;
  checked_at: string;
}
