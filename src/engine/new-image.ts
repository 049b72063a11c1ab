// Making an image locally: a parent (or nothing) plus at most one new layer. Used by import
// (no parent, one layer) and commit (the container's image plus the container's changes).

import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompress } from '../archive/compression.js';
import type { LayerDiff } from '../archive/scan.js';
import { digestOf } from '../oci/digest.js';
import { DaemonError } from './images.js';
import { type ImageLayer, recordImage, recordLayer, serializeConfig, setTag } from './record.js';
import type { LocalStore } from './store.js';

/** The diff ID of an empty tar (1024 zero bytes): commit adds no layer for it (`empty_layer`). */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/** Media type of the layers the engine makes: stored uncompressed, so the blob digest is the diff ID. */
export const LOCAL_LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar';

/** One `history[]` entry of an image config (Go's omitempty on every field but `created`). */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface NewImageSpec {
  /** Image ID to build on: its layers and history come first, and it becomes the Parent. */
  parent?: string;
  /** A tar of the new layer, in any compression Wharf reads; stored uncompressed. */
  layer?: Readable;
  /** With a layer that turns out to be an empty tar, record `empty_layer` instead (commit does). */
  skipEmptyLayer?: boolean;
  /** The runtime config (`config` key: Env, Cmd, Entrypoint, Labels…). */
  config: Record<string, unknown>;
  /** The new history entry's fields (created is filled in). */
  history: Omit<HistoryEntry, 'created' | 'empty_layer'>;
  author?: string;
  comment?: string;
  os: string;
  architecture: string;
  variant?: string;
  /** Source container and its config (commit). */
  container?: string;
  containerConfig?: Record<string, unknown>;
  created?: Date;
  /** Full normalised name and tag to point at the new image. */
  tag?: { name: string; tag: string };
}

interface ParentConfig {
  rootfs?: { diff_ids?: string[] };
  history?: HistoryEntry[];
}

/** Creates the image, stores its config and records it; returns the image ID. */
export async function createImage(store: LocalStore, spec: NewImageSpec): Promise<string> {
  const { db, content } = store;
  const created = (spec.created ?? new Date()).toISOString();
  let layers: ImageLayer[] = [];
  let history: HistoryEntry[] = [];
  let size = 0;
  if (spec.parent !== undefined) {
    const parent = await db
      .selectFrom('images')
      .select(['id', 'size'])
      .where('id', '=', spec.parent)
      .executeTakeFirst();
    if (!parent) throw new DaemonError(`No such image: ${spec.parent}`);
    const config = JSON.parse((await content.get(parent.id)).toString('utf8')) as ParentConfig;
    history = [...(config.history ?? [])];
    size = Number(parent.size);
    layers = (
      await db
        .selectFrom('image_layers')
        .select(['diff_id', 'blob_digest'])
        .where('image_id', '=', parent.id)
        .orderBy('position')
        .execute()
    ).map((l) => ({ diffId: l.diff_id, blobDigest: l.blob_digest }));
  }

  let emptyLayer = spec.layer === undefined;
  // The new layer's row is written with the image, in one transaction: a failure records nothing.
  let newLayer: { digest: string; size: number; diff: LayerDiff } | undefined;
  if (spec.layer !== undefined) {
    const pending = await content.create(undefined, 'none');
    try {
      await pipeline(await decompress(spec.layer), pending.stream);
    } catch (err) {
      await pending.cancel();
      throw err;
    }
    const blob = await pending.commit();
    const diff = blob.diff ?? { diffId: blob.digest, diffSize: 0, tarSize: blob.size };
    if (spec.skipEmptyLayer && diff.diffId === EMPTY_LAYER_DIFF_ID) emptyLayer = true;
    else {
      newLayer = { digest: blob.digest, size: blob.size, diff };
      layers.push({ diffId: diff.diffId, blobDigest: blob.digest });
      size += diff.diffSize;
    }
  }

  const entry: HistoryEntry = { created, ...spec.history };
  if (emptyLayer) entry.empty_layer = true;
  const configJson: Record<string, unknown> = {
    architecture: spec.architecture,
    config: spec.config,
    created,
    history: [...history, entry],
    os: spec.os,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  if (spec.author) configJson.author = spec.author;
  if (spec.comment) configJson.comment = spec.comment;
  if (spec.variant) configJson.variant = spec.variant;
  if (spec.container) configJson.container = spec.container;
  if (spec.containerConfig) configJson.container_config = spec.containerConfig;
  const bytes = serializeConfig(configJson);
  const id = digestOf(bytes);
  await content.put(id, bytes);

  await store.locked(async () => {
    // The layers were checked present when read; under the lock nothing can remove them now.
    for (const l of layers) {
      if (!(await content.has(l.blobDigest))) throw new Error(`layer ${l.diffId} is missing from the local store`);
    }
    await db.transaction().execute(async (tx) => {
      if (newLayer) {
        await recordLayer(
          tx,
          { blobDigest: newLayer.digest, mediaType: LOCAL_LAYER_MEDIA_TYPE, size: newLayer.size, ...newLayer.diff },
          created,
        );
      }
      await recordImage(tx, {
        id,
        created,
        size,
        os: spec.os,
        architecture: spec.architecture,
        layers,
        ...(spec.parent !== undefined ? { parent: spec.parent } : {}),
      });
      if (spec.tag) await setTag(tx, spec.tag.name, spec.tag.tag, id);
    });
  });
  return id;
}
