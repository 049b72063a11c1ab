// `docker diff`: the changes of a container's writable layer, computed as moby's overlay2 driver
// does (archive.OverlayChanges) from the upper directory alone:
//
// - a whiteout (0:0 character device) or an opaque directory is `D`;
// - anything else is `A`, or `C` when the path exists below (image layers and the init layer) —
//   except a directory whose size, mode and mtime equal the lower one's, which is no change;
// - the parent directory of an `A` or `D` is listed as `C` (once) if it was not already;
// - order: a depth-first walk with names sorted bytewise, parents before their contents.
import type { BigIntStats } from 'node:fs';
import { access, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readOpaqueDirs } from '../archive/pack.js';
import type { LocalStore } from '../engine/store.js';
import type { Container } from './containers.js';
import { containerLayout } from './layout.js';
import { prepareSnapshots } from './snapshots.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  kind: ChangeKind;
  /** Absolute path in the container (`/etc/passwd`). */
  path: string;
}

const isWhiteout = (st: BigIntStats) => st.isCharacterDevice() && st.rdev === 0n;

async function lstatOrUndefined(path: string): Promise<BigIntStats | 'notdir' | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') return 'notdir';
    throw err;
  }
}

/** The lower directories of a container, top first: its init layer, then the image's layers. */
export async function lowerDirs(store: LocalStore, container: Container): Promise<string[]> {
  const snapshots = (await prepareSnapshots(store, container.imageId)).reverse();
  const init = containerLayout.init(store.root, container.id);
  const hasInit = await access(init).then(
    () => true,
    () => false,
  );
  return hasInit ? [init, ...snapshots] : snapshots;
}

/**
 * What a path is in the lowers, searched top down as overlayfs does: the first layer that has it
 * decides (a whiteout there means deleted), and an opaque directory or a non-directory on the way
 * hides every layer below.
 */
class LowerView {
  private readonly opaque = new Map<string, Promise<Set<string>>>();

  constructor(private readonly layers: string[]) {}

  private opaqueDirs(layer: string): Promise<Set<string>> {
    let dirs = this.opaque.get(layer);
    if (!dirs) {
      dirs = readOpaqueDirs(layer);
      this.opaque.set(layer, dirs);
    }
    return dirs;
  }

  /** The stat of `rel` (relative path) in the merged lowers, or undefined when absent. */
  async find(rel: string): Promise<BigIntStats | undefined> {
    for (const layer of this.layers) {
      const st = await lstatOrUndefined(join(layer, rel));
      if (st === 'notdir') return undefined;
      if (st !== undefined) return isWhiteout(st) ? undefined : st;
      const parts = rel.split('/');
      const opaque = await this.opaqueDirs(layer);
      for (let i = parts.length - 1; i > 0; i--) {
        if (opaque.has(parts.slice(0, i).join('/'))) return undefined;
      }
    }
    return undefined;
  }
}

/** Go's sameFsTime: equal, or the same second with one side lacking nanoseconds (tar's precision). */
function sameFsTime(a: bigint, b: bigint): boolean {
  const second = 1_000_000_000n;
  return a === b || (a / second === b / second && (a % second === 0n || b % second === 0n));
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Changes of `upper` against `lowers` (top first). */
export async function upperChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const changes: Change[] = [];
  const changedDirs = new Set<string>();
  const view = new LowerView(lowers);
  const opaque = await readOpaqueDirs(upper);

  const visit = async (rel: string): Promise<void> => {
    const st = await lstat(join(upper, rel), { bigint: true });
    const path = `/${rel}`;
    let kind: ChangeKind;
    if (isWhiteout(st) || (st.isDirectory() && opaque.has(rel))) kind = 'D';
    else {
      kind = 'A';
      const below = await view.find(rel);
      if (below !== undefined) {
        const sameDir =
          below.isDirectory() &&
          st.isDirectory() &&
          below.size === st.size &&
          below.mode === st.mode &&
          sameFsTime(below.mtimeNs, st.mtimeNs);
        if (sameDir) {
          await walkDir(rel);
          return;
        }
        kind = 'C';
      }
    }
    if (st.isDirectory()) changedDirs.add(path);
    if (kind !== 'C') {
      const slash = path.lastIndexOf('/');
      const parent = slash === 0 ? '/' : path.slice(0, slash);
      if (parent !== '/' && !changedDirs.has(parent)) {
        changes.push({ kind: 'C', path: parent });
        changedDirs.add(parent);
      }
    }
    changes.push({ kind, path });
    if (st.isDirectory()) await walkDir(rel);
  };

  const walkDir = async (rel: string): Promise<void> => {
    const names = (await readdir(rel === '' ? upper : join(upper, rel))).sort(byteOrder);
    for (const name of names) await visit(rel === '' ? name : `${rel}/${name}`);
  };

  await walkDir('');
  return changes;
}

/** `docker diff`: the container's changes; none for a container that never had a writable layer. */
export async function containerChanges(store: LocalStore, container: Container): Promise<Change[]> {
  const upper = containerLayout.upper(store.root, container.id);
  const exists = await access(upper).then(
    () => true,
    () => false,
  );
  if (!exists) return [];
  return upperChanges(upper, await lowerDirs(store, container));
}
