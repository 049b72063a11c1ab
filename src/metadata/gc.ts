import { type Kysely, sql } from 'kysely';
import { type MetadataDb, now } from './db.js';
import { isPostgres } from './migrate.js';
import { lockRepository } from './repositories.js';

/**
 * The garbage collector's review queues (GitLab's container registry design). Whatever may leave
 * a manifest or a blob unreferenced calls queue… in the same transaction as the change; the
 * worker (registry/gc.ts) later re-checks each due item with review… below, one transaction per
 * item, so that the check and the delete see the same references as any concurrent push.
 */

/** `gc.review_delay` when nothing else is configured: a day, as GitLab's registry. */
export const DEFAULT_REVIEW_DELAY = 24 * 3_600_000;

/** The review time `delayMs` from now (ISO, comparable as text). */
export function reviewTime(delayMs: number = DEFAULT_REVIEW_DELAY, from: number = Date.now()): string {
  return new Date(from + delayMs).toISOString();
}

/** Keeps the later of two review times: a fresh event postpones a review, never brings it forward. */
const laterReview = (table: string) =>
  sql<string>`case when excluded.review_after > ${sql.ref(`${table}.review_after`)} then excluded.review_after else ${sql.ref(`${table}.review_after`)} end`;

const CHUNK = 200;

/** Queues blobs for review at `after` (ISO time). */
export async function queueBlobReview(
  db: MetadataDb,
  digests: string | string[],
  after: string,
  reason: string,
): Promise<void> {
  const list = [...new Set(typeof digests === 'string' ? [digests] : digests)];
  const at = now();
  for (let i = 0; i < list.length; i += CHUNK) {
    await db
      .insertInto('gc_blob_review')
      .values(
        list
          .slice(i, i + CHUNK)
          .map((digest) => ({ digest, review_after: after, reason, last_error: null, created_at: at })),
      )
      .onConflict((oc) => oc.column('digest').doUpdateSet({ review_after: laterReview('gc_blob_review'), reason }))
      .execute();
  }
}

/** Queues manifests of one repository for review at `after`. */
export async function queueManifestReview(
  db: MetadataDb,
  repositoryId: number,
  digests: string | string[],
  after: string,
  reason: string,
): Promise<void> {
  const list = [...new Set(typeof digests === 'string' ? [digests] : digests)];
  const at = now();
  for (let i = 0; i < list.length; i += CHUNK) {
    await db
      .insertInto('gc_manifest_review')
      .values(
        list.slice(i, i + CHUNK).map((digest) => ({
          repository_id: repositoryId,
          digest,
          review_after: after,
          reason,
          last_error: null,
          created_at: at,
        })),
      )
      .onConflict((oc) =>
        oc
          .columns(['repository_id', 'digest'])
          .doUpdateSet({ review_after: laterReview('gc_manifest_review'), reason }),
      )
      .execute();
  }
}

/**
 * Queues what a manifest's deletion may leave unreferenced: its blobs, its child manifests, its
 * subject and its referrers. Call it in the deleting transaction, before the rows go.
 */
export async function queueManifestDependents(
  db: MetadataDb,
  repositoryId: number,
  digest: string,
  after: string,
): Promise<void> {
  const refs = await db
    .selectFrom('manifest_references')
    .select(['child_digest', 'kind'])
    .where('repository_id', '=', repositoryId)
    .where('manifest_digest', '=', digest)
    .execute();
  const blobs = refs.filter((r) => r.kind === 'blob').map((r) => r.child_digest);
  const manifests = refs.filter((r) => r.kind === 'manifest').map((r) => r.child_digest);
  const own = await db
    .selectFrom('manifests')
    .select('subject_digest')
    .where('repository_id', '=', repositoryId)
    .where('digest', '=', digest)
    .executeTakeFirst();
  if (own?.subject_digest) manifests.push(own.subject_digest);
  const referrers = await db
    .selectFrom('manifests')
    .select('digest')
    .where('repository_id', '=', repositoryId)
    .where('subject_digest', '=', digest)
    .execute();
  manifests.push(...referrers.map((r) => r.digest));
  if (blobs.length > 0) await queueBlobReview(db, blobs, after, 'manifest_deleted');
  const others = manifests.filter((d) => d !== digest);
  if (others.length > 0) await queueManifestReview(db, repositoryId, others, after, 'parent_deleted');
}

/** Queues every manifest and blob of a repository that is about to be deleted (call before the delete). */
export async function queueRepositoryContents(db: MetadataDb, repositoryId: number, after: string): Promise<void> {
  const blobs = await db
    .selectFrom('repository_blobs')
    .select('digest')
    .where('repository_id', '=', repositoryId)
    .execute();
  await queueBlobReview(
    db,
    blobs.map((b) => b.digest),
    after,
    'repository_deleted',
  );
}

// ---------------------------------------------------------------------------------------------
// Reviews: one transaction each. The first statement is a write (the claim), so that on SQLite
// the transaction holds the write lock from its start and reads the latest committed state.

export interface DueManifest {
  repositoryId: number;
  digest: string;
  reviewAfter: string;
}

/** Due manifest reviews after the cursor, oldest first. */
export async function dueManifestReviews(
  db: MetadataDb,
  at: string,
  limit: number,
  after?: DueManifest,
): Promise<DueManifest[]> {
  let q = db
    .selectFrom('gc_manifest_review')
    .select(['repository_id as repositoryId', 'digest', 'review_after as reviewAfter'])
    .where('review_after', '<=', at)
    .orderBy('review_after')
    .orderBy('repository_id')
    .orderBy('digest')
    .limit(limit);
  if (after) {
    q = q.where((eb) =>
      eb.or([
        eb('review_after', '>', after.reviewAfter),
        eb.and([eb('review_after', '=', after.reviewAfter), eb('repository_id', '>', after.repositoryId)]),
        eb.and([
          eb('review_after', '=', after.reviewAfter),
          eb('repository_id', '=', after.repositoryId),
          eb('digest', '>', after.digest),
        ]),
      ]),
    );
  }
  return q.execute();
}

export interface DueBlob {
  digest: string;
  reviewAfter: string;
}

/** Due blob reviews after the cursor, oldest first. */
export async function dueBlobReviews(db: MetadataDb, at: string, limit: number, after?: DueBlob): Promise<DueBlob[]> {
  let q = db
    .selectFrom('gc_blob_review')
    .select(['digest', 'review_after as reviewAfter'])
    .where('review_after', '<=', at)
    .orderBy('review_after')
    .orderBy('digest')
    .limit(limit);
  if (after) {
    q = q.where((eb) =>
      eb.or([
        eb('review_after', '>', after.reviewAfter),
        eb.and([eb('review_after', '=', after.reviewAfter), eb('digest', '>', after.digest)]),
      ]),
    );
  }
  return q.execute();
}

export interface ReviewOptions {
  /** Delete manifests that no tag reaches (gc.delete_untagged). */
  deleteUntagged: boolean;
  /** When what a deleted manifest leaves behind is reviewed (ISO time). */
  childrenAfter: string;
  /** Links younger than this (ISO time) are kept: a push may be between its blobs and its manifest. */
  linkCutoff: string;
  /** Do everything, report it, then roll back. */
  dryRun: boolean;
  at: string;
}

export type ManifestReview =
  | { deleted: false; reason: string }
  | { deleted: true; repository: string; digest: string; size: number };

export type BlobReview =
  | { deleted: false; reason: string }
  /** The row is gone (or there was none) and a deletion mark set: remove the file, then clear the mark. */
  | { deleted: true; digest: string; size: number | undefined };

class DryRunRollback<T> extends Error {
  constructor(readonly result: T) {
    super('dry run');
  }
}

/** Runs `work` in a transaction; in a dry run, rolls it back and returns what it would have done. */
async function inTransaction<T>(db: MetadataDb, dryRun: boolean, work: (tx: MetadataDb) => Promise<T>): Promise<T> {
  try {
    return await db.transaction().execute(async (tx) => {
      const result = await work(tx);
      if (dryRun) throw new DryRunRollback(result);
      return result;
    });
  } catch (err) {
    if (err instanceof DryRunRollback) return err.result as T;
    throw err;
  }
}

/**
 * How long an upload's claim on a digest protects it. Finishing (a rename and one insert) takes
 * far less; a claim older than this belongs to a process that died mid-finish.
 */
export const FINISH_CLAIM_TTL = 5 * 60_000;

/**
 * Re-checks due manifests and deletes those nothing needs any more. One transaction for the
 * batch (each item's check and delete are in it; a small batch amortizes the commit), so a
 * failure rolls back the batch: the caller then retries its items one by one.
 */
export async function reviewManifests(
  db: MetadataDb,
  items: DueManifest[],
  opts: ReviewOptions,
): Promise<ManifestReview[]> {
  return inTransaction(db, opts.dryRun, async (tx) => {
    const out: ManifestReview[] = [];
    for (const item of items) out.push(await reviewManifestIn(tx, item, opts));
    return out;
  });
}

async function reviewManifestIn(tx: MetadataDb, item: DueManifest, opts: ReviewOptions): Promise<ManifestReview> {
  {
    // PostgreSQL: the re-check and the delete hold the repository (putManifest takes it too).
    if (onPostgres(tx)) await lockRepository(tx, item.repositoryId);
    const claimed = await tx
      .deleteFrom('gc_manifest_review')
      .where('repository_id', '=', item.repositoryId)
      .where('digest', '=', item.digest)
      .where('review_after', '<=', opts.at)
      .executeTakeFirst();
    if (Number(claimed.numDeletedRows) === 0) return { deleted: false, reason: 'postponed' };
    const m = await tx
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['r.name', 'm.size'])
      .where('m.repository_id', '=', item.repositoryId)
      .where('m.digest', '=', item.digest)
      .executeTakeFirst();
    if (!m) return { deleted: false, reason: 'gone' };
    // A pull-through cache's manifest: eviction (proxy.max_bytes, proxy.keep_days) decides when it
    // goes, not delete_untagged (a manifest pulled by digest only has no tag, yet is the cache's).
    const cached = await tx
      .selectFrom('proxy_manifests')
      .select('digest')
      .where('repository_id', '=', item.repositoryId)
      .where('digest', '=', item.digest)
      .executeTakeFirst();
    if (cached) return { deleted: false, reason: 'cached' };
    if (!opts.deleteUntagged) return { deleted: false, reason: 'untagged kept' };
    if (await isReachable(tx, item.repositoryId, item.digest, new Set())) return { deleted: false, reason: 'in use' };
    await queueManifestDependents(tx, item.repositoryId, item.digest, opts.childrenAfter);
    await deleteManifestRows(tx, item.repositoryId, item.digest);
    return { deleted: true, repository: m.name, digest: item.digest, size: Number(m.size) };
  }
}

/** Most manifests one reachability check visits before it gives up and keeps the manifest. */
const MAX_VISITS = 512;

/**
 * Whether a tag reaches the manifest: it is tagged, or an index that is reached lists it, or it is
 * the subject of a referrer that is reached, or it is a referrer whose subject is reached.
 */
async function isReachable(db: MetadataDb, repositoryId: number, digest: string, seen: Set<string>): Promise<boolean> {
  if (seen.has(digest)) return false;
  seen.add(digest);
  if (seen.size > MAX_VISITS) return true;
  // One statement for the manifest's tags and its neighbours: indexes that list it, its
  // referrers, and its subject.
  const rows = await db
    .selectFrom('tags')
    .select([sql<string>`'tag'`.as('via'), 'manifest_digest as digest'])
    .where('repository_id', '=', repositoryId)
    .where('manifest_digest', '=', digest)
    .unionAll(
      db
        .selectFrom('manifest_references')
        .select([sql<string>`'parent'`.as('via'), 'manifest_digest as digest'])
        .where('repository_id', '=', repositoryId)
        .where('child_digest', '=', digest)
        .where('kind', '=', 'manifest'),
    )
    .unionAll(
      db
        .selectFrom('manifests')
        .select([sql<string>`'referrer'`.as('via'), 'digest'])
        .where('repository_id', '=', repositoryId)
        .where('subject_digest', '=', digest),
    )
    .unionAll(
      db
        .selectFrom('manifests as m')
        .innerJoin('manifests as s', (j) =>
          j.onRef('s.repository_id', '=', 'm.repository_id').onRef('s.digest', '=', 'm.subject_digest'),
        )
        .select([sql<string>`'subject'`.as('via'), 's.digest as digest'])
        .where('m.repository_id', '=', repositoryId)
        .where('m.digest', '=', digest),
    )
    .execute();
  if (rows.some((r) => r.via === 'tag')) return true;
  for (const next of rows) {
    if (await isReachable(db, repositoryId, next.digest, seen)) return true;
  }
  return false;
}

/** Deletes a manifest's rows: its tags, its references, itself. */
export async function deleteManifestRows(db: MetadataDb, repositoryId: number, digest: string): Promise<boolean> {
  await db.deleteFrom('tags').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).execute();
  await db
    .deleteFrom('manifest_references')
    .where('repository_id', '=', repositoryId)
    .where('manifest_digest', '=', digest)
    .execute();
  const result = await db
    .deleteFrom('manifests')
    .where('repository_id', '=', repositoryId)
    .where('digest', '=', digest)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/**
 * Re-checks one due blob. A blob that a manifest references keeps the links of the repositories
 * whose manifests use it; links nothing uses (older than the cutoff) are dropped. A blob nothing
 * references, no upload is finishing, and no young link holds loses its row and gets a deletion
 * mark, in the same transaction.
 */
export async function reviewBlobs(db: MetadataDb, items: DueBlob[], opts: ReviewOptions): Promise<BlobReview[]> {
  return inTransaction(db, opts.dryRun, async (tx) => {
    const out: BlobReview[] = [];
    for (const item of items) out.push(await reviewBlobIn(tx, item, opts));
    return out;
  });
}

async function reviewBlobIn(tx: MetadataDb, item: DueBlob, opts: ReviewOptions): Promise<BlobReview> {
  {
    await lockDigest(tx, item.digest);
    const claimed = await tx
      .deleteFrom('gc_blob_review')
      .where('digest', '=', item.digest)
      .where('review_after', '<=', opts.at)
      .executeTakeFirst();
    if (Number(claimed.numDeletedRows) === 0) return { deleted: false, reason: 'postponed' };
    const marked = await tx
      .selectFrom('gc_blob_deletions')
      .select('digest')
      .where('digest', '=', item.digest)
      .executeTakeFirst();
    if (marked) return { deleted: false, reason: 'being deleted' };
    const finishing = await tx
      .selectFrom('uploads')
      .select('id')
      .where('finishing_digest', '=', item.digest)
      .where('updated_at', '>', new Date(Date.parse(opts.at) - FINISH_CLAIM_TTL).toISOString())
      .limit(1)
      .executeTakeFirst();
    if (finishing) {
      // The upload queues the blob again when it records it; if it fails, this review stands.
      await queueBlobReview(tx, item.digest, opts.childrenAfter, 'upload_in_progress');
      return { deleted: false, reason: 'upload in progress' };
    }
    if (onPostgres(tx)) {
      // The repositories that link it, held before their references are read (putManifest
      // holds its repository while it checks that its blobs are linked).
      const linked = await tx
        .selectFrom('repository_blobs')
        .select('repository_id')
        .where('digest', '=', item.digest)
        .orderBy('repository_id')
        .execute();
      for (const l of linked) await lockRepository(tx, l.repository_id);
    }
    const users = await tx
      .selectFrom('manifest_references')
      .select('repository_id')
      .distinct()
      .where('child_digest', '=', item.digest)
      .where('kind', '=', 'blob')
      .execute();
    const used = new Set(users.map((u) => u.repository_id));
    const links = await tx
      .selectFrom('repository_blobs')
      .select(['repository_id', 'created_at'])
      .where('digest', '=', item.digest)
      .execute();
    const unused = links.filter((l) => !used.has(l.repository_id));
    const stale = unused.filter((l) => l.created_at <= opts.linkCutoff).map((l) => l.repository_id);
    if (stale.length > 0) {
      await tx
        .deleteFrom('repository_blobs')
        .where('digest', '=', item.digest)
        .where('repository_id', 'in', stale)
        .execute();
    }
    const young = unused.filter((l) => l.created_at > opts.linkCutoff);
    if (young.length > 0) {
      // A push between its blobs and its manifest: look again once the youngest link is old enough.
      const youngest = young.reduce((a, b) => (a.created_at > b.created_at ? a : b)).created_at;
      const wait = Date.parse(opts.childrenAfter) - Date.parse(opts.at);
      await queueBlobReview(tx, item.digest, reviewTime(wait, Date.parse(youngest)), 'young_link');
    }
    if (used.size > 0 || young.length > 0) return { deleted: false, reason: 'in use' };
    const row = await tx.selectFrom('blobs').select('size').where('digest', '=', item.digest).executeTakeFirst();
    await tx.deleteFrom('blobs').where('digest', '=', item.digest).execute();
    await tx.insertInto('gc_blob_deletions').values({ digest: item.digest, started_at: now() }).execute();
    return { deleted: true, digest: item.digest, size: row ? Number(row.size) : undefined };
  }
}

/** Blob deletion marks left by a crash between a blob's row deletion and its file's removal. */
export async function pendingBlobDeletions(db: MetadataDb): Promise<{ digest: string; startedAt: string }[]> {
  return db.selectFrom('gc_blob_deletions').select(['digest', 'started_at as startedAt']).execute();
}

/** Clears the deletion marks of files now gone. */
export async function clearBlobDeletions(db: MetadataDb, digests: string[]): Promise<void> {
  for (let i = 0; i < digests.length; i += CHUNK) {
    await db
      .deleteFrom('gc_blob_deletions')
      .where('digest', 'in', digests.slice(i, i + CHUNK))
      .execute();
  }
}

/** Clears a deletion mark once the file is gone (only the mark seen, when `startedAt` is given). */
export async function clearBlobDeletion(db: MetadataDb, digest: string, startedAt?: string): Promise<void> {
  let q = db.deleteFrom('gc_blob_deletions').where('digest', '=', digest);
  if (startedAt !== undefined) q = q.where('started_at', '=', startedAt);
  await q.execute();
}

/**
 * Marks an upload as finishing under `digest`, unless the digest's file is being deleted: then
 * returns when that deletion started (the caller waits for it, or finishes it once stale).
 */
export async function claimUploadDigest(
  db: MetadataDb,
  uploadId: string,
  digest: string,
): Promise<{ deletionStartedAt: string } | undefined> {
  return db.transaction().execute(async (tx) => {
    await lockDigest(tx, digest);
    await tx
      .updateTable('uploads')
      .set({ finishing_digest: digest, updated_at: now() })
      .where('id', '=', uploadId)
      .execute();
    const mark = await tx
      .selectFrom('gc_blob_deletions')
      .select('started_at')
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (!mark) return undefined;
    await tx.updateTable('uploads').set({ finishing_digest: null }).where('id', '=', uploadId).execute();
    return { deletionStartedAt: mark.started_at };
  });
}

function onPostgres(db: MetadataDb): boolean {
  return isPostgres(db as Kysely<unknown>);
}

/**
 * Inside a transaction on PostgreSQL: holds the digest until commit (an advisory lock: the digest
 * may have no row yet), so that GC's review of a blob, an upload's claim of it and a mount of it
 * run one after the other, as under SQLite's single writer. Nothing to do on SQLite.
 */
export async function lockDigest(tx: MetadataDb, digest: string): Promise<void> {
  if (!onPostgres(tx)) return;
  await sql`select pg_advisory_xact_lock(hashtext(${`blob:${digest}`}))`.execute(tx);
}

/** Records a failed review: tried again after a back-off that grows with the attempts. */
export async function postponeAfterFailure(
  db: MetadataDb,
  item: { kind: 'blob'; digest: string } | { kind: 'manifest'; repositoryId: number; digest: string },
  error: string,
): Promise<void> {
  if (item.kind === 'blob') {
    const row = await db
      .selectFrom('gc_blob_review')
      .select('attempts')
      .where('digest', '=', item.digest)
      .executeTakeFirst();
    const attempts = (row?.attempts ?? 0) + 1;
    await db
      .updateTable('gc_blob_review')
      .set({ attempts, last_error: error.slice(0, 500), review_after: reviewTime(retryDelay(attempts)) })
      .where('digest', '=', item.digest)
      .execute();
  } else {
    const row = await db
      .selectFrom('gc_manifest_review')
      .select('attempts')
      .where('repository_id', '=', item.repositoryId)
      .where('digest', '=', item.digest)
      .executeTakeFirst();
    const attempts = (row?.attempts ?? 0) + 1;
    await db
      .updateTable('gc_manifest_review')
      .set({ attempts, last_error: error.slice(0, 500), review_after: reviewTime(retryDelay(attempts)) })
      .where('repository_id', '=', item.repositoryId)
      .where('digest', '=', item.digest)
      .execute();
  }
}

/** 1 min, 2, 4, … up to a day. */
function retryDelay(attempts: number): number {
  return Math.min(60_000 * 2 ** (attempts - 1), 86_400_000);
}

// ---------------------------------------------------------------------------------------------
// Run history and queue health.

export interface GcRunCounts {
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  uploadsPurged: number;
  /** Cached manifests the pull-through cache's eviction removed. */
  manifestsEvicted: number;
}

/** Records a finished run in the history; returns its id. */
export async function recordRun(
  db: MetadataDb,
  run: GcRunCounts & { startedAt: string; trigger: string; dryRun: boolean; error?: string },
): Promise<number> {
  const row = await db
    .insertInto('gc_runs')
    .values({
      started_at: run.startedAt,
      finished_at: now(),
      dry_run: run.dryRun ? 1 : 0,
      trigger: run.trigger,
      manifests_deleted: run.manifestsDeleted,
      blobs_deleted: run.blobsDeleted,
      bytes_freed: run.bytesFreed,
      uploads_purged: run.uploadsPurged,
      manifests_evicted: run.manifestsEvicted,
      error: run.error ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export interface GcRunRecord {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  dryRun: boolean;
  trigger: string;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  uploadsPurged: number;
  manifestsEvicted: number;
  error: string | null;
}

export async function recentRuns(db: MetadataDb, limit: number): Promise<GcRunRecord[]> {
  const rows = await db.selectFrom('gc_runs').selectAll().orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({
    id: r.id,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    dryRun: r.dry_run === 1,
    trigger: r.trigger,
    manifestsDeleted: Number(r.manifests_deleted),
    blobsDeleted: Number(r.blobs_deleted),
    bytesFreed: Number(r.bytes_freed),
    uploadsPurged: Number(r.uploads_purged),
    manifestsEvicted: Number(r.manifests_evicted),
    error: r.error,
  }));
}

export interface QueueHealth {
  /** Items in the queue. */
  queued: number;
  /** Items whose review time has passed. */
  due: number;
  /** Due for longer than the overdue threshold: the worker is not keeping up. */
  overdue: number;
  /** Items that failed at least once. */
  retried: number;
}

/** The queues' health, GitLab's registry admins' question: is GC keeping up, is anything stuck? */
export async function queueHealth(
  db: MetadataDb,
  at: string,
  overdueBefore: string,
): Promise<{ blobs: QueueHealth; manifests: QueueHealth; pendingFileDeletions: number }> {
  const health = async (table: 'gc_blob_review' | 'gc_manifest_review'): Promise<QueueHealth> => {
    const row = await db
      .selectFrom(table)
      .select((eb) => [
        eb.fn.countAll<number>().as('queued'),
        eb.fn.sum<number>(eb.case().when('review_after', '<=', at).then(1).else(0).end()).as('due'),
        eb.fn.sum<number>(eb.case().when('review_after', '<=', overdueBefore).then(1).else(0).end()).as('overdue'),
        eb.fn.sum<number>(eb.case().when('attempts', '>', 0).then(1).else(0).end()).as('retried'),
      ])
      .executeTakeFirstOrThrow();
    return {
      queued: Number(row.queued),
      due: Number(row.due ?? 0),
      overdue: Number(row.overdue ?? 0),
      retried: Number(row.retried ?? 0),
    };
  };
  const pending = await db
    .selectFrom('gc_blob_deletions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return {
    blobs: await health('gc_blob_review'),
    manifests: await health('gc_manifest_review'),
    pendingFileDeletions: Number(pending.n),
  };
}

/** When the next review comes due (ISO), over both queues; undefined when they are empty. */
export async function nextReviewTime(db: MetadataDb): Promise<string | undefined> {
  const m = await db
    .selectFrom('gc_manifest_review')
    .select((eb) => eb.fn.min('review_after').as('t'))
    .executeTakeFirst();
  const b = await db
    .selectFrom('gc_blob_review')
    .select((eb) => eb.fn.min('review_after').as('t'))
    .executeTakeFirst();
  const times = [m?.t, b?.t].filter((t): t is string => typeof t === 'string');
  return times.sort()[0];
}

/** Items that failed, most attempts first (for the admin API). */
export async function failingItems(
  db: MetadataDb,
  limit: number,
): Promise<
  {
    kind: 'blob' | 'manifest';
    digest: string;
    repositoryId: number | null;
    attempts: number;
    lastError: string | null;
    reviewAfter: string;
  }[]
> {
  const blobs = await db
    .selectFrom('gc_blob_review')
    .select(['digest', 'attempts', 'last_error', 'review_after'])
    .where('attempts', '>', 0)
    .orderBy('attempts', 'desc')
    .limit(limit)
    .execute();
  const manifests = await db
    .selectFrom('gc_manifest_review')
    .select(['repository_id', 'digest', 'attempts', 'last_error', 'review_after'])
    .where('attempts', '>', 0)
    .orderBy('attempts', 'desc')
    .limit(limit)
    .execute();
  return [
    ...blobs.map((b) => ({
      kind: 'blob' as const,
      digest: b.digest,
      repositoryId: null,
      attempts: b.attempts,
      lastError: b.last_error,
      reviewAfter: b.review_after,
    })),
    ...manifests.map((m) => ({
      kind: 'manifest' as const,
      digest: m.digest,
      repositoryId: m.repository_id,
      attempts: m.attempts,
      lastError: m.last_error,
      reviewAfter: m.review_after,
    })),
  ]
    .sort((a, b) => b.attempts - a.attempts)
    .slice(0, limit);
}
