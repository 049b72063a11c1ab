import type { Generated } from 'kysely';

/** Tables of online garbage collection (migration 0005_gc_review_queues). */
export interface GcTables {
  gc_blob_review: GcBlobReviewTable;
  gc_manifest_review: GcManifestReviewTable;
  gc_blob_deletions: GcBlobDeletionsTable;
  gc_runs: GcRunsTable;
}

/** A blob to re-check once `review_after` (ISO time) has passed. One row per digest. */
export interface GcBlobReviewTable {
  digest: string;
  review_after: string;
  /** What queued it last (e.g. `upload`, `manifest_deleted`, `unlinked`, `fsck`). */
  reason: string;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: string;
}

/** A manifest of one repository to re-check once `review_after` has passed. */
export interface GcManifestReviewTable {
  repository_id: number;
  digest: string;
  review_after: string;
  reason: string;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: string;
}

/** A blob whose row is gone and whose file is being removed. */
export interface GcBlobDeletionsTable {
  digest: string;
  started_at: string;
}

/** One garbage collection run, for the history in the admin API and UI. */
export interface GcRunsTable {
  id: Generated<number>;
  started_at: string;
  finished_at: string | null;
  dry_run: number;
  /** `schedule`, `api`, `cli`. */
  trigger: string;
  manifests_deleted: number;
  blobs_deleted: number;
  bytes_freed: number;
  uploads_purged: number;
  /** Cached manifests removed by the pull-through cache's eviction (0009). */
  manifests_evicted: Generated<number>;
  error: string | null;
}
