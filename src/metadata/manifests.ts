import { type MetadataDb, now } from './db.js';

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
 * Stores a manifest and points `tags` at it, in one transaction; `guard` runs first inside it
 * (a quota check) and stops the whole write by throwing.
 */
export async function putManifest(
  db: MetadataDb,
  repositoryId: number,
  m: NewManifest,
  tags: string[],
  guard?: (tx: MetadataDb) => Promise<void>,
): Promise<void> {
  const at = now();
  await db.transaction().execute(async (tx) => {
    await guard?.(tx);
    await tx
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
      .execute();
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

/** Deletes a manifest and every tag pointing at it; returns false when there was none. */
export async function deleteManifest(db: MetadataDb, repositoryId: number, digest: string): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    await tx
      .deleteFrom('tags')
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .execute();
    await tx
      .deleteFrom('manifest_references')
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '=', digest)
      .execute();
    const result = await tx
      .deleteFrom('manifests')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
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
