import type { Kysely } from 'kysely';
import { type MetadataDb, now } from './db.js';
import { deleteManifestRows, queueManifestDependents, queueManifestReview, reviewTime } from './gc.js';
import { isPostgres } from './migrate.js';
import { forgetCachedManifest, recordCachedManifest } from './proxy.js';
import { lockRepository } from './repositories.js';

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  content: Uint8Array;
}

export interface NewManifest {
  digest: string;
  mediaType: string;
  content: Uint8Array;
  artifactType?: string;
  subjectDigest?: string;
  annotations?: Record<string, string>;
  references: { digest: string; kind: 'blob' | 'manifest' }[];
}

/**
 * What a manifest points at went missing between the caller's check and the commit (garbage
 * collection removed it): nothing was stored.
 */
export class MissingReferencesError extends Error {
  override readonly name = 'MissingReferencesError';
  constructor(readonly digests: string[]) {
    super(`manifest references unknown to the repository: ${digests.join(', ')}`);
  }
}

/**
 * Stores a manifest and points `tags` at it, in one transaction. The transaction re-checks that
 * every blob is still linked and every child manifest still present (the check and GC's delete
 * are serialized), and queues for review what it may leave unreferenced: a manifest a tag moved
 * away from, and the manifest itself when it has no tag. `guard` runs first inside it (a quota
 * check) and stops the whole write by throwing.
 */
export async function putManifest(
  db: MetadataDb,
  repositoryId: number,
  m: NewManifest,
  tags: string[],
  options: {
    reviewAfter?: string;
    guard?: (tx: MetadataDb) => Promise<void>;
    /** A pull-through cache stores a manifest before its blobs and children, which come lazily. */
    lazyReferences?: boolean;
    /**
     * A pull-through cache's fill from this remote: the manifest becomes the cache's (eviction
     * decides when it goes) if the fill created it. Without it (a push), the manifest stops being
     * the cache's: what a user pushed is never evicted, even when a fill brought it first.
     */
    cachedFrom?: string;
  } = {},
): Promise<void> {
  const at = now();
  await db.transaction().execute(async (tx) => {
    await options.guard?.(tx);
    // PostgreSQL: GC's re-check of this repository's manifests and blobs waits for this write.
    if (isPostgres(db as Kysely<unknown>)) await lockRepository(tx, repositoryId);
    const reviewAfter = options.reviewAfter ?? reviewTime();
    const inserted = await tx
      .insertInto('manifests')
      .values({
        repository_id: repositoryId,
        digest: m.digest,
        media_type: m.mediaType,
        size: m.content.byteLength,
        content: m.content,
        artifact_type: m.artifactType ?? null,
        subject_digest: m.subjectDigest ?? null,
        annotations: m.annotations ? JSON.stringify(m.annotations) : null,
        created_at: at,
      })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .executeTakeFirst();
    if (options.cachedFrom === undefined) await forgetCachedManifest(tx, repositoryId, m.digest);
    else if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
      await recordCachedManifest(tx, repositoryId, m.digest, options.cachedFrom);
    }
    const refs = dedupe(m.references);
    if (refs.length > 0) {
      await tx
        .insertInto('manifest_references')
        .values(
          refs.map((r) => ({
            repository_id: repositoryId,
            manifest_digest: m.digest,
            child_digest: r.digest,
            kind: r.kind,
          })),
        )
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const missing = options.lazyReferences ? [] : await missingReferences(tx, repositoryId, m.digest, refs);
    if (missing.length > 0) throw new MissingReferencesError(missing);
    if (tags.length === 0) await queueManifestReview(tx, repositoryId, m.digest, reviewAfter, 'untagged_push');
    const moved =
      tags.length === 0
        ? []
        : await tx
            .selectFrom('tags')
            .select('manifest_digest')
            .where('repository_id', '=', repositoryId)
            .where('name', 'in', tags)
            .where('manifest_digest', '!=', m.digest)
            .execute();
    if (moved.length > 0) {
      await queueManifestReview(
        tx,
        repositoryId,
        moved.map((r) => r.manifest_digest),
        reviewAfter,
        'tag_moved',
      );
    }
    for (const tag of tags) {
      await tx
        .insertInto('tags')
        .values({ repository_id: repositoryId, name: tag, manifest_digest: m.digest, updated_at: at })
        .onConflict((oc) =>
          oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_digest: m.digest, updated_at: at }),
        )
        .execute();
    }
  });
}

/** References of a manifest being stored that are not (any more) in the repository. */
async function missingReferences(
  db: MetadataDb,
  repositoryId: number,
  self: string,
  refs: NewManifest['references'],
): Promise<string[]> {
  const blobs = refs.filter((r) => r.kind === 'blob').map((r) => r.digest);
  const children = refs.filter((r) => r.kind === 'manifest' && r.digest !== self).map((r) => r.digest);
  const linked = blobs.length === 0 ? new Set<string>() : await linkedIn(db, repositoryId, blobs);
  const present = children.length === 0 ? new Set<string>() : await existingManifests(db, repositoryId, children);
  return [...blobs.filter((d) => !linked.has(d)), ...children.filter((d) => !present.has(d))];
}

async function linkedIn(db: MetadataDb, repositoryId: number, digests: string[]): Promise<Set<string>> {
  const rows = await db
    .selectFrom('repository_blobs')
    .select('digest')
    .where('repository_id', '=', repositoryId)
    .where('digest', 'in', digests)
    .execute();
  return new Set(rows.map((r) => r.digest));
}

function dedupe(refs: NewManifest['references']): NewManifest['references'] {
  const seen = new Map<string, NewManifest['references'][number]>();
  for (const r of refs) if (!seen.has(r.digest)) seen.set(r.digest, r);
  return [...seen.values()];
}

const manifestColumns = ['m.digest', 'm.media_type as mediaType', 'm.size', 'm.content'] as const;

export async function getManifestByDigest(
  db: MetadataDb,
  repository: string,
  digest: string,
): Promise<ManifestRecord | undefined> {
  return db
    .selectFrom('manifests as m')
    .innerJoin('repositories as r', 'r.id', 'm.repository_id')
    .select(manifestColumns)
    .where('r.name', '=', repository)
    .where('m.digest', '=', digest)
    .executeTakeFirst();
}

export async function getManifestByTag(
  db: MetadataDb,
  repository: string,
  tag: string,
): Promise<ManifestRecord | undefined> {
  return db
    .selectFrom('tags as t')
    .innerJoin('repositories as r', 'r.id', 't.repository_id')
    .innerJoin('manifests as m', (j) =>
      j.onRef('m.repository_id', '=', 't.repository_id').onRef('m.digest', '=', 't.manifest_digest'),
    )
    .select(manifestColumns)
    .where('r.name', '=', repository)
    .where('t.name', '=', tag)
    .executeTakeFirst();
}

/** Whether the repository already stores the manifest. */
export async function hasManifest(db: MetadataDb, repositoryId: number, digest: string): Promise<boolean> {
  return (await existingManifests(db, repositoryId, [digest])).size > 0;
}

/** Which of `digests` are manifests of the repository. */
export async function existingManifests(db: MetadataDb, repositoryId: number, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  const rows = await db
    .selectFrom('manifests')
    .select('digest')
    .where('repository_id', '=', repositoryId)
    .where('digest', 'in', digests)
    .execute();
  return new Set(rows.map((r) => r.digest));
}

/**
 * Deletes a manifest and every tag pointing at it, and queues what it pointed at (blobs, child
 * manifests, subject, referrers) for review at `reviewAfter`; returns false when there was none.
 */
export async function deleteManifest(
  db: MetadataDb,
  repositoryId: number,
  digest: string,
  reviewAfter: string = reviewTime(),
): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    await queueManifestDependents(tx, repositoryId, digest, reviewAfter);
    return deleteManifestRows(tx, repositoryId, digest);
  });
}

export interface ReferrerRecord {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: string | null;
}

/** Manifests of the repository whose `subject` is `subject`, optionally of one artifact type. */
export async function listReferrers(
  db: MetadataDb,
  repository: string,
  subject: string,
  artifactType?: string,
): Promise<ReferrerRecord[]> {
  let q = db
    .selectFrom('manifests as m')
    .innerJoin('repositories as r', 'r.id', 'm.repository_id')
    .select(['m.digest', 'm.media_type as mediaType', 'm.size', 'm.artifact_type as artifactType', 'm.annotations'])
    .where('r.name', '=', repository)
    .where('m.subject_digest', '=', subject)
    .orderBy('m.created_at')
    .orderBy('m.digest');
  if (artifactType !== undefined) q = q.where('m.artifact_type', '=', artifactType);
  return q.execute();
}
