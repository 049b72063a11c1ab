import type { Kysely, Migration } from 'kysely';

/**
 * Storage lifecycle (issue 11, the part beside GC): a storage quota on plans, and retention
 * policies per repository or per namespace. Shared SQL only (SQLite and PostgreSQL).
 */
export const lifecycleMigrations: Record<string, Migration> = {
  '0006_lifecycle_quota_retention': {
    async up(db: Kysely<unknown>) {
      // Null: no quota. Changing it never deletes anything; it only refuses pushes that would go over.
      await db.schema.alterTable('plans').addColumn('quota_bytes', 'bigint').execute();
      await db.schema
        .createTable('retention_policies')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        // Exactly one of the two is set: a repository's own policy or its namespace's.
        .addColumn('repository_id', 'integer', (c) => c.references('repositories.id').onDelete('cascade'))
        .addColumn('namespace_id', 'integer', (c) => c.references('namespaces.id').onDelete('cascade'))
        .addColumn('keep_last', 'integer')
        .addColumn('keep_patterns', 'text', (c) => c.notNull())
        .addColumn('protect_patterns', 'text', (c) => c.notNull())
        .addColumn('remove_unpulled_days', 'integer')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('last_run_at', 'text')
        .execute();
      await db.schema
        .createIndex('retention_policies_repository')
        .unique()
        .on('retention_policies')
        .column('repository_id')
        .execute();
      await db.schema
        .createIndex('retention_policies_namespace')
        .unique()
        .on('retention_policies')
        .column('namespace_id')
        .execute();
    },
  },
};
