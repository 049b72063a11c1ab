// How images enter the engine database: the one writer used by pull, load, import and commit.
import type { Kysely } from 'kysely';
import type { EngineDatabase, EngineTx } from './db.js';

/** One layer of an image, bottom first: its diff ID and the blob that holds it in the content store. */
export interface ImageLayer {
  diffId: string;
  blobDigest: string;
}

export interface NewImage {
  /** `sha256:…` of the config bytes. */
  id: string;
  /** The config's `created` (ISO 8601), or '' when it has none. */
  created: string;
  os: string;
  architecture: string;
  /** Sum of the layers' content sizes (Docker's SIZE). */
  size: number;
  layers: readonly ImageLayer[];
  parent?: string;
}

/**
 * Records an image and its layers unless it is already known; returns whether it was new.
 * A known image keeps its metadata (Docker keeps an existing image's Parent too).
 */
export async function recordImage(tx: EngineTx, image: NewImage, now = new Date().toISOString()): Promise<boolean> {
  const before = await tx.selectFrom('images').select('id').where('id', '=', image.id).executeTakeFirst();
  if (before) return false;
  await tx
    .insertInto('images')
    .values({
      id: image.id,
      created: image.created,
      size: image.size,
      os: image.os,
      architecture: image.architecture,
      loaded_at: now,
      last_tag_time: null,
      parent: image.parent ?? null,
    })
    .execute();
  if (image.layers.length > 0) {
    await tx
      .insertInto('image_layers')
      .values(
        image.layers.map((l, position) => ({
          image_id: image.id,
          position,
          diff_id: l.diffId,
          blob_digest: l.blobDigest,
        })),
      )
      .execute();
  }
  return true;
}

/**
 * Points `name:tag` at an image (moving it if it pointed elsewhere) and updates the image's
 * LastTagTime when the tag moved. Returns the image the tag pointed to before, if another.
 */
export async function setTag(
  tx: EngineTx,
  name: string,
  tag: string,
  imageId: string,
  now = new Date().toISOString(),
): Promise<string | undefined> {
  const row = await tx
    .selectFrom('tags')
    .select('image_id')
    .where('name', '=', name)
    .where('tag', '=', tag)
    .executeTakeFirst();
  if (row?.image_id === imageId) return undefined;
  await tx
    .insertInto('tags')
    .values({ name, tag, image_id: imageId, created_at: now })
    .onConflict((oc) => oc.columns(['name', 'tag']).doUpdateSet({ image_id: imageId, created_at: now }))
    .execute();
  await tx.updateTable('images').set({ last_tag_time: now }).where('id', '=', imageId).execute();
  return row?.image_id;
}

/** Records `name@digest` (a manifest digest this image was pulled or pushed as). */
export async function addRepoDigest(
  tx: EngineTx,
  name: string,
  digest: string,
  imageId: string,
  now = new Date().toISOString(),
): Promise<void> {
  await tx
    .insertInto('repo_digests')
    .values({ name, digest, image_id: imageId, created_at: now })
    .onConflict((oc) => oc.columns(['name', 'digest']).doUpdateSet({ image_id: imageId }))
    .execute();
}

/** A layer blob in the content store and what it unpacks to. */
export interface StoredLayer {
  blobDigest: string;
  mediaType: string;
  /** Bytes of the blob as stored. */
  size: number;
  diffId: string;
  diffSize: number;
  tarSize: number;
}

/** Records (or refreshes) what a stored layer blob unpacks to. */
export async function recordLayer(
  db: Kysely<EngineDatabase>,
  layer: StoredLayer,
  now = new Date().toISOString(),
): Promise<void> {
  const facts = { diff_id: layer.diffId, diff_size: layer.diffSize, tar_size: layer.tarSize };
  await db
    .insertInto('layers')
    .values({ blob_digest: layer.blobDigest, media_type: layer.mediaType, size: layer.size, ...facts, created_at: now })
    .onConflict((oc) => oc.column('blob_digest').doUpdateSet(facts))
    .execute();
}

/** Remembers that `blobDigest` (holding `diffId`) exists in `registry/repository`, for later pushes. */
export async function addLayerSource(
  tx: EngineTx,
  source: { registry: string; repository: string; blobDigest: string; diffId: string; mediaType: string; size: number },
  now = new Date().toISOString(),
): Promise<void> {
  await tx
    .insertInto('layer_sources')
    .values({
      registry: source.registry,
      repository: source.repository,
      blob_digest: source.blobDigest,
      diff_id: source.diffId,
      media_type: source.mediaType,
      size: source.size,
      created_at: now,
    })
    .onConflict((oc) => oc.columns(['registry', 'repository', 'blob_digest']).doNothing())
    .execute();
}

/**
 * An image config serialised as Docker does for images it creates (import, commit): compact JSON
 * with the top-level keys sorted, so that the same config always gets the same image ID.
 */
export function serializeConfig(config: Record<string, unknown>): Buffer {
  const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return Buffer.from(JSON.stringify(sorted), 'utf8');
}
