// `docker diff`: the changes of a container's filesystem against its image (+ init layer), with
// the rules of moby's naive diff, which is what `docker diff` shows on overlay2:
//
// - a path missing below is `A` (and so is everything inside an added directory);
// - a path deleted (a whiteout in upper, or a child hidden by an opaque directory) is `D`;
// - a path on both sides is `C` when type/mode, owner or rdev differ, or for non-directories the
//   size or mtime (to the second when one side has no nanoseconds) — a file merely copied up
//   (a hardlink made to it, say) is no change;
// - a directory with changes inside is `C` too.
// Only the upper directory can differ from the lowers, so only it is walked. Docker prints the
// changes in Go map order (random); Wharf in a depth-first walk with names sorted bytewise.
import type { BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readOpaqueDirs, readOverlayMarks, unsupportedOverlayError } from '../archive/pack.js';

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

  /** Names in the merged lower directory `rel` that are not in `except`. */
  async children(rel: string, except: Set<string>): Promise<string[]> {
    const names = new Set<string>();
    const gone = new Set<string>();
    for (const layer of this.layers) {
      const entries = await readdir(join(layer, rel), { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (names.has(e.name) || gone.has(e.name)) continue;
        const st = await lstat(join(layer, rel, e.name), { bigint: true });
        (isWhiteout(st) ? gone : names).add(e.name);
      }
      // The first layer holding the directory as such decides where the search stops.
      if ((await this.opaqueDirs(layer)).has(rel)) break;
      const self = await lstatOrUndefined(join(layer, rel));
      if (self !== undefined && self !== 'notdir' && !self.isDirectory()) break;
    }
    return [...names].filter((n) => !except.has(n));
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

/** Go's sameFsTimeSpec: equal, or the same second with one side lacking nanoseconds (tar's precision). */
function sameFsTime(a: bigint, b: bigint): boolean {
  const second = 1_000_000_000n;
  return a === b || (a / second === b / second && (a % second === 0n || b % second === 0n));
}

/** moby's statDifferent: type and mode, owner, rdev; size and mtime for non-directories only. */
function statDifferent(before: BigIntStats, after: BigIntStats): boolean {
  if (before.mode !== after.mode || before.uid !== after.uid || before.gid !== after.gid) return true;
  if (before.rdev !== after.rdev) return true;
  if (after.isDirectory()) return false;
  return before.size !== after.size || !sameFsTime(before.mtimeNs, after.mtimeNs);
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Changes of the merged view (`lowers` top first + `upper`) against the lowers alone, as Docker
 * reports them (its naive diff of the two mounted trees, which `docker diff` shows on overlay2):
 * only what the upper directory holds can differ, so only it is walked.
 */
export async function upperChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const view = new LowerView(lowers);
  const marks = await readOverlayMarks(upper);
  const unsupported = unsupportedOverlayError(marks);
  if (unsupported) throw unsupported;
  const opaque = marks.opaque;
  const changes: Change[] = [];

  /** Children of `rel` (in upper) that changed; `added`: the directory itself is new. */
  const walkDir = async (rel: string, added: boolean): Promise<void> => {
    const dir = rel === '' ? upper : join(upper, rel);
    const names = (await readdir(dir)).sort(byteOrder);
    // An opaque directory hides the lower one's contents: each of them is deleted.
    let hidden: string[] = [];
    if (!added && rel !== '' && opaque.has(rel)) hidden = await view.children(rel, new Set(names));
    const all = [...names.map((n) => ({ name: n, hidden: false })), ...hidden.map((n) => ({ name: n, hidden: true }))];
    all.sort((a, b) => byteOrder(a.name, b.name));
    for (const { name, hidden: gone } of all) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (gone) changes.push({ kind: 'D', path: `/${child}` });
      else await visit(child, added);
    }
  };

  const visit = async (rel: string, parentAdded: boolean): Promise<void> => {
    const st = await lstat(join(upper, rel), { bigint: true });
    const path = `/${rel}`;
    const before = parentAdded ? undefined : await view.find(rel);
    if (isWhiteout(st)) {
      if (before !== undefined) changes.push({ kind: 'D', path });
      return;
    }
    const at = changes.length;
    let listed = false;
    if (before === undefined) {
      changes.push({ kind: 'A', path });
      listed = true;
    } else if (statDifferent(before, st)) {
      changes.push({ kind: 'C', path });
      listed = true;
    }
    if (!st.isDirectory()) return;
    await walkDir(rel, before === undefined || !before.isDirectory());
    // A directory with changes inside is itself changed (so that commit keeps its metadata).
    if (!listed && changes.length > at) changes.splice(at, 0, { kind: 'C', path });
  };

  await walkDir('', false);
  return changes;
}

/**
 * Changes of a whole root filesystem (a copied root, where there is no upper directory) against
 * the lowers: moby's naive diff of two trees. Everything is walked; deletions are the lower
 * names missing in a directory present on both sides.
 */
export async function treeChanges(root: string, lowers: string[]): Promise<Change[]> {
  const view = new LowerView(lowers);
  const changes: Change[] = [];

  const walkDir = async (rel: string, added: boolean): Promise<void> => {
    const names = (await readdir(rel === '' ? root : join(root, rel))).sort(byteOrder);
    const gone = added ? [] : await view.children(rel, new Set(names));
    const all = [...names.map((n) => ({ name: n, gone: false })), ...gone.map((n) => ({ name: n, gone: true }))];
    all.sort((a, b) => byteOrder(a.name, b.name));
    for (const { name, gone: deleted } of all) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (deleted) changes.push({ kind: 'D', path: `/${child}` });
      else await visit(child, added);
    }
  };

  const visit = async (rel: string, parentAdded: boolean): Promise<void> => {
    const st = await lstat(join(root, rel), { bigint: true });
    const before = parentAdded ? undefined : await view.find(rel);
    const at = changes.length;
    let listed = false;
    if (before === undefined) {
      changes.push({ kind: 'A', path: `/${rel}` });
      listed = true;
    } else if (statDifferent(before, st)) {
      changes.push({ kind: 'C', path: `/${rel}` });
      listed = true;
    }
    if (!st.isDirectory()) return;
    await walkDir(rel, before === undefined || !before.isDirectory());
    if (!listed && changes.length > at) changes.splice(at, 0, { kind: 'C', path: `/${rel}` });
  };

  await walkDir('', false);
  return changes;
}
