// Paths of layer entries and their resolution inside a root directory.
//
// Entry names are normalised the way Docker and containerd read them: a
// leading `/` is dropped (`/etc/passwd` is `etc/passwd` of the layer), empty
// and `.` components are ignored. Unlike them, any `..` component is refused,
// even one that stays inside (`a/../b`): no real layer writer emits one.
//
// Symlinks already on disk (from lower layers or earlier entries) are resolved
// *inside* the root, as if the root were `/` (containerd's fs.RootPath,
// cyphar/filepath-securejoin): `bin -> /usr/bin` makes `bin/sh` land in
// `ROOT/usr/bin/sh`, and `x -> ../../../etc` makes `x/passwd` land in
// `ROOT/etc/passwd`. A write never goes through a symlink to outside the root.
import { lstatSync, readlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { LayerError, UnsafeLayerError } from './errors.js';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

/** Symlinks followed while resolving one path, as Linux's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;

/**
 * The components of an entry name inside the layer: `/a//./b/` is `['a', 'b']`,
 * `.` and `/` are `[]` (the root itself). Throws UnsafeLayerError for `..`
 * components and NUL bytes. `what` names the field in messages.
 */
export function entryComponents(entry: string, name: string, what = 'path'): string[] {
  if (name.includes('\0')) throw new UnsafeLayerError(entry, `${what} contains a NUL byte`);
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new UnsafeLayerError(entry, `${what} ${JSON.stringify(name)} has a ".." component`);
  return parts;
}

export type Whiteout = { kind: 'opaque' } | { kind: 'file'; name: string };

/**
 * Whether the last component is a whiteout (`.wh.NAME` or the opaque marker
 * `.wh..wh..opq`). Throws UnsafeLayerError for invalid ones: `.wh.` alone,
 * `.wh..` and `.wh...` (whiting out `.` or `..`), other `.wh..wh.*` names
 * (reserved for AUFS metadata), and `.wh.` names used as directories.
 */
export function classifyWhiteout(entry: string, parts: string[]): Whiteout | undefined {
  for (let i = 0; i < parts.length - 1; i++) {
    if (parts[i]!.startsWith(WHITEOUT_PREFIX)) {
      throw new UnsafeLayerError(entry, `whiteout name ${JSON.stringify(parts[i])} used as a directory`);
    }
  }
  const base = parts[parts.length - 1];
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === WHITEOUT_OPAQUE) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_META_PREFIX)) {
    throw new UnsafeLayerError(
      entry,
      `invalid whiteout ${JSON.stringify(base)}: only ${WHITEOUT_OPAQUE} may use the .wh..wh. prefix`,
    );
  }
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') {
    throw new UnsafeLayerError(entry, `invalid whiteout ${JSON.stringify(base)}: no file name to remove`);
  }
  return { kind: 'file', name };
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The host path of `parts` under `root` (an absolute, real path), following
 * symlinks found on disk as if `root` were `/`: absolute targets restart at
 * `root`, `..` never climbs above it. Components that do not exist are taken
 * as they are. The result is always `root` or below it. Throws LayerError
 * (naming `entry`) after 40 symlinks, as Linux gives up with ELOOP.
 */
export function resolveInRoot(root: string, parts: readonly string[], entry: string): string {
  const resolved: string[] = [];
  const pending = [...parts].reverse();
  let links = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new LayerError(entry, `too many levels of symbolic links at ${JSON.stringify(relative(root, candidate))}`);
    }
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    const targetParts = target.split('/');
    for (let i = targetParts.length - 1; i >= 0; i--) pending.push(targetParts[i]!);
  }
  return join(root, ...resolved);
}

/** Whether `path` is `root` itself or lies below it (both normalised, absolute). */
export function isWithin(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}
