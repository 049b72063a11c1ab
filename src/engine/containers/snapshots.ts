// Image layers unpacked once each, by chain ID, shared by every container that uses them:
//
//   <root>/snapshots/<chain id hex>/        overlay lowers: one layer's files alone, whiteouts in
//                                           overlay form
//   <root>/snapshots-flat/<chain id hex>/   for copied roots (no overlay): the whole tree up to
//                                           that layer, whiteouts applied (Docker's vfs driver)
//
// A snapshot is made in a temp directory and renamed into place, so one that exists is complete.
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { decompress } from '../../archive/compression.js';
import { extractLayer } from '../../archive/extract.js';
import { exec } from '../../runtime/runc.js';
import { chainIds } from '../layers.js';
import type { LocalStore } from '../store.js';
import { pathExists } from './layout.js';

export function snapshotsDir(root: string): string {
  return join(root, 'snapshots');
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/**
 * Unpacks whatever layers of the image are not unpacked yet and returns the snapshot directories,
 * bottom layer first. An image without layers gives an empty list.
 */
/** An image's layers, bottom first. */
export async function imageLayers(
  store: LocalStore,
  imageId: string,
): Promise<{ diffId: string; blobDigest: string }[]> {
  const rows = await store.db
    .selectFrom('image_layers')
    .select(['diff_id', 'blob_digest'])
    .where('image_id', '=', imageId)
    .orderBy('position')
    .execute();
  return rows.map((r) => ({ diffId: r.diff_id, blobDigest: r.blob_digest }));
}

export async function prepareSnapshots(store: LocalStore, imageId: string): Promise<string[]> {
  const layers = await imageLayers(store, imageId);
  const chains = chainIds(layers.map((l) => l.diffId));
  const base = snapshotsDir(store.root);
  await mkdir(base, { recursive: true });
  const dirs: string[] = [];
  for (const [i, layer] of layers.entries()) {
    const dir = join(base, hexOf(chains[i] as string));
    if (!(await pathExists(dir))) {
      const temp = join(base, `tmp-${randomUUID()}`);
      try {
        const source = await store.content.reader(layer.blobDigest);
        await extractLayer(await decompress(source), temp, { allowDevices: true, whiteouts: 'overlay' });
        await publish(temp, dir);
      } catch (err) {
        await rm(temp, { recursive: true, force: true });
        throw err;
      }
    }
    dirs.push(dir);
  }
  return dirs;
}

export function flatSnapshotsDir(root: string): string {
  return join(root, 'snapshots-flat');
}

/** Renames a finished snapshot into place; one another process finished first wins. */
async function publish(temp: string, dir: string): Promise<void> {
  await rename(temp, dir).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    await rm(temp, { recursive: true, force: true });
  });
}

/**
 * The image's whole filesystem as a plain directory (for copied roots): each chain is its
 * parent's tree copied, with the layer applied on top. Undefined for an image without layers.
 */
export async function prepareFlatSnapshot(store: LocalStore, imageId: string): Promise<string | undefined> {
  const layers = await imageLayers(store, imageId);
  const chains = chainIds(layers.map((l) => l.diffId));
  const base = flatSnapshotsDir(store.root);
  await mkdir(base, { recursive: true });
  const dirOf = (i: number) => join(base, hexOf(chains[i] as string));
  let start = chains.length;
  while (start > 0 && !(await pathExists(dirOf(start - 1)))) start--;
  for (let i = start; i < layers.length; i++) {
    const temp = join(base, `tmp-${randomUUID()}`);
    try {
      if (i > 0) await exec('cp', ['-a', '--', dirOf(i - 1), temp]);
      const source = await store.content.reader((layers[i] as { blobDigest: string }).blobDigest);
      await extractLayer(await decompress(source), temp, { allowDevices: true });
      await publish(temp, dirOf(i));
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw err;
    }
  }
  return chains.length > 0 ? dirOf(chains.length - 1) : undefined;
}

/** Removes the snapshots of chains no image holds any more (rmi, prune). */
export async function removeSnapshots(root: string, chains: Iterable<string>): Promise<void> {
  for (const chain of chains) {
    for (const base of [snapshotsDir(root), flatSnapshotsDir(root)]) {
      await rm(join(base, hexOf(chain)), { recursive: true, force: true });
    }
  }
}
