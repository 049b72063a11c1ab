import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Online garbage collection (issue 11): review queues in the style of GitLab's container
 * registry. Every change that may leave a manifest or a blob unreferenced queues it with a
 * `review_after` time; the worker (registry/gc.ts) re-checks each due item in one transaction.
 * `gc_blob_deletions` marks blob rows already deleted whose file is still to be removed, so that
 * an upload of the same digest waits instead of racing the file delete.
 */
export const gcMigrations: Record<string, Migration> = {
  '0005_gc_review_queues': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('gc_blob_review')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('review_after', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('gc_blob_review_due').on('gc_blob_review').column('review_after').execute();
      await db.schema
        .createTable('gc_manifest_review')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('review_after', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('gc_manifest_review_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('gc_manifest_review_due').on('gc_manifest_review').column('review_after').execute();
      await db.schema
        .createTable('gc_blob_deletions')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('gc_runs')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('dry_run', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('manifests_deleted', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('blobs_deleted', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('bytes_freed', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('uploads_purged', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('gc_runs_started').on('gc_runs').column('started_at').execute();
      // Reviews and deletes look tags up by manifest: without this, each is a scan of every tag.
      await db.schema.createIndex('tags_manifest').on('tags').columns(['repository_id', 'manifest_digest']).execute();
      // The digest an upload is being finished under: GC never deletes a blob an upload claims.
      await db.schema.alterTable('uploads').addColumn('finishing_digest', 'text').execute();
      await db.schema.createIndex('uploads_finishing_digest').on('uploads').column('finishing_digest').execute();
      // What was already garbage before this migration (untagged manifests, blobs no manifest
      // uses) had no event to queue it: queued once here, a day out (the default review delay).
      const at = new Date();
      const after = new Date(at.getTime() + 24 * 3_600_000).toISOString();
      await sql`insert into gc_manifest_review (repository_id, digest, review_after, reason, attempts, created_at)
        select m.repository_id, m.digest, ${after}, 'backfill', 0, ${at.toISOString()} from manifests m
        where not exists (select 1 from tags t where t.repository_id = m.repository_id and t.manifest_digest = m.digest)`.execute(
        db,
      );
      await sql`insert into gc_blob_review (digest, review_after, reason, attempts, created_at)
        select b.digest, ${after}, 'backfill', 0, ${at.toISOString()} from blobs b
        where not exists (select 1 from manifest_references r where r.child_digest = b.digest and r.kind = 'blob')`.execute(
        db,
      );
    },
  },
};
