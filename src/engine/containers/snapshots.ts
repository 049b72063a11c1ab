// Image layers unpacked once each, by chain ID, as overlayfs lower directories shared by every
// container (and image) that uses them:
//
//   <root>/snapshots/<chain id hex>/   one layer's files alone, whiteouts in overlay form
//
// A snapshot is unpacked into a temp directory and renamed into place, so one that exists is complete.
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decompress } from '../../archive/compression.js';
import { extractLayer } from '../../archive/extract.js';
import { chainIds } from '../layers.js';
import type { LocalStore } from '../store.js';

export function snapshotsDir(root: string): string {
  return join(root, 'snapshots');
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Unpacks whatever layers of the image are not unpacked yet and returns the snapshot directories,
 * bottom layer first. An image without layers gives an empty list.
 */
export async function prepareSnapshots(store: LocalStore, imageId: string): Promise<string[]> {
  const layers = await store.db
    .selectFrom('image_layers')
    .select(['diff_id', 'blob_digest'])
    .where('image_id', '=', imageId)
    .orderBy('position')
    .execute();
  const chains = chainIds(layers.map((l) => l.diff_id));
  const base = snapshotsDir(store.root);
  await mkdir(base, { recursive: true });
  const dirs: string[] = [];
  for (const [i, layer] of layers.entries()) {
    const dir = join(base, hexOf(chains[i] as string));
    if (!(await exists(dir))) {
      const temp = join(base, `tmp-${randomUUID()}`);
      try {
        const source = await store.content.reader(layer.blob_digest);
        await extractLayer(await decompress(source), temp, { allowDevices: true, whiteouts: 'overlay' });
        await rename(temp, dir).catch(async (err: NodeJS.ErrnoException) => {
          // Another wharf process unpacked the same layer meanwhile: keep theirs.
          if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
          await rm(temp, { recursive: true, force: true });
        });
      } catch (err) {
        await rm(temp, { recursive: true, force: true });
        throw err;
      }
    }
    dirs.push(dir);
  }
  return dirs;
}
