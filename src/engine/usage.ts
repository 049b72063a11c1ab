// `docker system df`: disk usage of the local images (moby daemon/disk_usage.go, CLI formatter_diskusage.go).

import { type ImageSummary, queryImages } from './images.js';
import { chainIds } from './layers.js';
import type { LocalStore } from './store.js';

export interface ImageUsage {
  image: ImageSummary;
  /** Cumulative size of the image's layers. */
  size: number;
  /** Size of its layers that other images use too. */
  sharedSize: number;
  /** Containers using it (Wharf has none yet). */
  containers: number;
}

export interface DiskUsage {
  images: ImageUsage[];
  /** Every layer (by chain ID) that some image uses, counted once. */
  layersSize: number;
}

/**
 * Usage of the images `docker images` lists (without -a), with Docker's shared size: the layers
 * (chain IDs) used by more than one image, over every image in the store.
 */
export async function diskUsage(store: LocalStore): Promise<DiskUsage> {
  const { db } = store;
  const rows = await db
    .selectFrom('image_layers')
    .innerJoin('layers', 'layers.blob_digest', 'image_layers.blob_digest')
    .select(['image_layers.image_id', 'image_layers.position', 'image_layers.diff_id', 'layers.diff_size'])
    .orderBy('image_layers.image_id')
    .orderBy('image_layers.position')
    .execute();
  const layersOf = new Map<string, { chain: string; size: number }[]>();
  const byImage = new Map<string, typeof rows>();
  for (const r of rows) byImage.set(r.image_id, [...(byImage.get(r.image_id) ?? []), r]);
  const users = new Map<string, number>();
  const sizes = new Map<string, number>();
  for (const [imageId, layers] of byImage) {
    const chains = chainIds(layers.map((l) => l.diff_id));
    const list = layers.map((l, i) => ({ chain: chains[i] as string, size: Number(l.diff_size) }));
    layersOf.set(imageId, list);
    for (const l of list) {
      users.set(l.chain, (users.get(l.chain) ?? 0) + 1);
      sizes.set(l.chain, l.size);
    }
  }
  const images = (await queryImages(db)).map((image): ImageUsage => {
    const layers = layersOf.get(image.id) ?? [];
    const sharedSize = layers.filter((l) => (users.get(l.chain) ?? 0) > 1).reduce((s, l) => s + l.size, 0);
    return { image, size: image.size, sharedSize, containers: 0 };
  });
  let layersSize = 0;
  for (const s of sizes.values()) layersSize += s;
  return { images, layersSize };
}

/** Docker's reclaimable image space: everything but the unique size of images in use. */
export function reclaimableImages(usage: DiskUsage): number {
  let used = 0;
  for (const i of usage.images) if (i.containers > 0) used += i.size - i.sharedSize;
  return usage.layersSize - used;
}
