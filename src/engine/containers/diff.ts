// `docker diff` of a container: its upper directory against its init layer and image snapshots.
import { type Change, treeChanges, upperChanges } from '../../runtime/diff.js';
import type { LocalStore } from '../store.js';
import { copiedRootReady, isCopiedRoot } from './bundle.js';
import { containerLayout, pathExists } from './layout.js';
import type { Container } from './records.js';
import { prepareFlatSnapshot, prepareSnapshots } from './snapshots.js';

/** The lower directories of a container, top first: its init layer, then the image's layers. */
export async function lowerDirs(store: LocalStore, container: Container): Promise<string[]> {
  const snapshots = isCopiedRoot(container)
    ? [await prepareFlatSnapshot(store, container.imageId)].filter((d): d is string => d !== undefined)
    : (await prepareSnapshots(store, container.imageId)).reverse();
  const init = containerLayout.init(store.root, container.id);
  return (await pathExists(init)) ? [init, ...snapshots] : snapshots;
}

/** `docker diff`: the container's changes; none for a container that never had a writable layer. */
export async function containerChanges(store: LocalStore, container: Container): Promise<Change[]> {
  if (isCopiedRoot(container)) {
    // A copied root is the whole tree: compared with the lowers file by file.
    if (!(await copiedRootReady(store.root, container.id))) return [];
    return treeChanges(containerLayout.rootfs(store.root, container.id), await lowerDirs(store, container));
  }
  const upper = containerLayout.upper(store.root, container.id);
  if (!(await pathExists(upper))) return [];
  return upperChanges(upper, await lowerDirs(store, container));
}
