// `docker system df`: disk usage of the local images, containers and volumes (moby
// daemon/disk_usage.go, pkg/directory; CLI formatter/disk_usage.go).
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isCopiedRoot } from './containers/bundle.js';
import { containerChanges } from './containers/diff.js';
import { containerLayout } from './containers/layout.js';
import { reconcile } from './containers/lifecycle.js';
import { type Container, isActive, listContainers } from './containers/records.js';
import { listVolumes, type Volume, volumeUsers } from './containers/volumes.js';
import { type ImageSummary, queryImages } from './images.js';
import { chainIds } from './layers.js';
import type { LocalStore } from './store.js';

export interface ImageUsage {
  image: ImageSummary;
  /** Cumulative size of the image's layers. */
  size: number;
  /** Size of its layers that other images use too. */
  sharedSize: number;
  /** Containers using it, in any state: an image with one is active. */
  containers: number;
}

export interface ContainerUsage {
  container: Container;
  /** Docker's SizeRw: the files of its writable layer. */
  sizeRw: number;
  /** How many volumes (not bind mounts) it mounts. */
  localVolumes: number;
}

export interface VolumeUsage {
  volume: Volume;
  /** Containers that mount it (Docker's RefCount, LINKS). */
  links: number;
  size: number;
}

export interface DiskUsage {
  images: ImageUsage[];
  /** Every layer (by chain ID) that some image uses, counted once. */
  layersSize: number;
  containers: ContainerUsage[];
  volumes: VolumeUsage[];
}

/**
 * Docker's directory size (pkg/directory): the sizes of everything but directories, each inode
 * once (hard links), symlinks by their own size; a missing directory is 0.
 */
export async function directorySize(dir: string, seen = new Set<bigint>()): Promise<number> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      total += await directorySize(path, seen);
      continue;
    }
    const st = await lstat(path, { bigint: true }).catch(() => undefined);
    if (!st || st.size === 0n || seen.has(st.ino)) continue;
    seen.add(st.ino);
    total += Number(st.size);
  }
  return total;
}

/** A container's writable layer: its overlay upper directory, or a copied root's changed files. */
async function writableSize(store: LocalStore, container: Container): Promise<number> {
  if (!isCopiedRoot(container)) return directorySize(containerLayout.upper(store.root, container.id));
  const rootfs = containerLayout.rootfs(store.root, container.id);
  let total = 0;
  for (const change of await containerChanges(store, container)) {
    if (change.kind === 'D') continue;
    const st = await lstat(join(rootfs, change.path)).catch(() => undefined);
    if (st && !st.isDirectory()) total += st.size;
  }
  return total;
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
  const all = await Promise.all((await listContainers(db)).map((c) => reconcile(store, c)));
  const containersOf = new Map<string, number>();
  for (const c of all) containersOf.set(c.imageId, (containersOf.get(c.imageId) ?? 0) + 1);
  const images = (await queryImages(db)).map((image): ImageUsage => {
    const layers = layersOf.get(image.id) ?? [];
    const sharedSize = layers.filter((l) => (users.get(l.chain) ?? 0) > 1).reduce((s, l) => s + l.size, 0);
    return { image, size: image.size, sharedSize, containers: containersOf.get(image.id) ?? 0 };
  });
  let layersSize = 0;
  for (const s of sizes.values()) layersSize += s;
  const containers: ContainerUsage[] = [];
  for (const container of all) {
    const localVolumes = container.hostConfig.Mounts.filter((m) => m.Type === 'volume').length;
    containers.push({ container, sizeRw: await writableSize(store, container), localVolumes });
  }
  const linksOf = await volumeUsers(store);
  const volumes: VolumeUsage[] = [];
  for (const volume of await listVolumes(store)) {
    const links = linksOf.get(volume.name)?.length ?? 0;
    volumes.push({ volume, links, size: await directorySize(volume.mountpoint) });
  }
  return { images, layersSize, containers, volumes };
}

/** Docker's reclaimable container space: the writable layers of containers that do not run. */
export function reclaimableContainers(usage: DiskUsage): number {
  return usage.containers.filter((c) => !isActive(c.container)).reduce((s, c) => s + c.sizeRw, 0);
}

/** Docker's reclaimable volume space: volumes no container mounts. */
export function reclaimableVolumes(usage: DiskUsage): number {
  return usage.volumes.filter((v) => v.links === 0).reduce((s, v) => s + v.size, 0);
}

/** Docker's reclaimable image space: everything but the unique size of images in use. */
export function reclaimableImages(usage: DiskUsage): number {
  let used = 0;
  for (const i of usage.images) if (i.containers > 0) used += i.size - i.sharedSize;
  return usage.layersSize - used;
}
