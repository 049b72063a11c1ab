// Writing a directory tree as a tar, the way Docker writes layer tars and exports (moby's
// archive.TarWithOptions):
//
// - entries in a depth-first walk with the names of each directory sorted bytewise (Go's
//   filepath.Walk), paths relative to the root without `./`, directories with a trailing `/`;
//   the root itself is not an entry;
// - mode (permissions + setuid/setgid/sticky), uid, gid and mtime (whole seconds) kept; no user
//   or group names (Docker does not look them up); PAX headers only where ustar cannot hold a name;
// - a regular file with several links is written once, later names as `link` entries to the first
//   (only regular files: overlay whiteouts share one inode and are never hardlinks);
// - sockets are skipped, as Docker does;
// - `whiteouts: 'overlay'` turns an overlay upper directory into a layer: a 0:0 character device
//   becomes `.wh.<name>` (regular, mode 0600, empty) and an opaque directory
//   (`trusted.overlay.opaque=y`) gets a `<dir>/.wh..wh..opq` entry right after its own.
//
// File contents are streamed from disk into the tar, never held whole in memory.
import { execFile } from 'node:child_process';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Header, type Pack, pack as tarPack } from 'tar-stream';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

export interface PackOptions {
  /** `overlay`: convert overlayfs whiteouts and opaque directories to `.wh.` entries. */
  whiteouts?: 'overlay';
  /** Skips an entry (and, for a directory, everything below it); `path` is relative, no `./`. */
  exclude?: (path: string) => boolean;
}

/** Bytewise order of names, as Go sorts strings (JS's default sort compares UTF-16 units). */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Whether `st` is an overlayfs whiteout: a character device 0:0. */
export function isWhiteoutDevice(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** getfattr's path quoting: octal escapes for special bytes, `\\` for a backslash. */
function unescapeGetfattr(path: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(path, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    if (c === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString())) {
      bytes.push(Number.parseInt(raw.subarray(i + 1, i + 4).toString(), 8));
      i += 3;
    } else if (c === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i += 1;
    } else bytes.push(c);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** What overlayfs marked in an upper (or lower) directory, paths relative to it ('' for itself). */
export interface OverlayMarks {
  /** Directories that hide the lower layers' contents (`trusted.overlay.opaque=y`). */
  opaque: Set<string>;
  /** Renamed lower directories (redirect_dir) and metadata-only copy-ups (metacopy): their data is not there. */
  unsupported: string[];
}

/**
 * Reads the overlayfs xattrs under `dir`. Node has no xattr API: one `getfattr -R` run reads them
 * all (only the matching attributes are printed, so the output stays small).
 */
export function readOverlayMarks(dir: string): Promise<OverlayMarks> {
  return new Promise((resolve, reject) => {
    execFile(
      'getfattr',
      [
        '-R',
        '-h',
        '--absolute-names',
        '-d',
        '-m',
        '^trusted\\.overlay\\.(opaque|redirect|metacopy)$',
        '-e',
        'text',
        dir,
      ],
      { maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
          reject(
            new Error(
              missing
                ? 'getfattr not found: reading overlayfs attributes needs it (apt-get install attr)'
                : `getfattr ${dir}: ${stderr.trim() || err.message}`,
            ),
          );
          return;
        }
        const marks: OverlayMarks = { opaque: new Set(), unsupported: [] };
        let file = '';
        for (const line of stdout.split('\n')) {
          if (line.startsWith('# file: ')) {
            const path = unescapeGetfattr(line.slice(8));
            file = path === dir ? '' : path.slice(dir.length + 1);
          } else if (line === 'trusted.overlay.opaque="y"') marks.opaque.add(file);
          else if (line.startsWith('trusted.overlay.redirect') || line.startsWith('trusted.overlay.metacopy')) {
            marks.unsupported.push(file);
          }
        }
        resolve(marks);
      },
    );
  });
}

/** The directories under `dir` that overlayfs marked opaque (see readOverlayMarks). */
export async function readOpaqueDirs(dir: string): Promise<Set<string>> {
  return (await readOverlayMarks(dir)).opaque;
}

/** The error for an upper directory that a tar of it would misrepresent. */
export function unsupportedOverlayError(marks: OverlayMarks): Error | undefined {
  if (marks.unsupported.length === 0) return undefined;
  return new Error(
    `the container's layer uses overlayfs redirect_dir or metacopy (at /${marks.unsupported[0]}), which Wharf cannot read as a diff: mount overlayfs with redirect_dir=off,metacopy=off`,
  );
}

interface Walk {
  root: string;
  options: PackOptions;
  opaque: Set<string>;
  /** dev:ino of regular files with several links → the first name written. */
  links: Map<string, string>;
  tar: Pack;
}

/** Adds an entry without content (an empty regular file must still be ended, hence the buffer). */
function addEntry(tar: Pack, header: Partial<Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    tar.entry(header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
}

// tar-stream replaces a mode of 0 by its default: the file type bit keeps a 000 mode truthy
// (only the low 12 bits are written).
const keepMode = (st: Stats) => (st.mode & 0o7777) | 0o100000;

async function writeEntry(w: Walk, rel: string, st: Stats): Promise<void> {
  const base = {
    mode: keepMode(st),
    uid: st.uid,
    gid: st.gid,
    mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
  };
  const full = join(w.root, rel);
  if (st.isDirectory()) {
    await addEntry(w.tar, { ...base, name: `${rel}/`, type: 'directory' });
    if (w.opaque.has(rel)) {
      // moby's overlay converter: permissions of the directory, no mtime (Go's zero time → 0).
      const { mtime: _mtime, ...owner } = base;
      await addEntry(w.tar, {
        ...owner,
        mode: (st.mode & 0o777) | 0o100000,
        mtime: new Date(0),
        name: `${rel}/${WHITEOUT_OPAQUE}`,
        type: 'file',
        size: 0,
      });
    }
  } else if (st.isFile()) {
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? w.links.get(key) : undefined;
    if (first !== undefined) {
      await addEntry(w.tar, { ...base, name: rel, type: 'link', linkname: first, size: 0 });
      return;
    }
    if (st.nlink > 1) w.links.set(key, rel);
    if (st.size === 0) {
      await addEntry(w.tar, { ...base, name: rel, type: 'file', size: 0 });
      return;
    }
    const entry = w.tar.entry({ ...base, name: rel, type: 'file', size: st.size });
    // The size in the header is the one read by lstat: a file growing meanwhile (a container
    // committed without pause) is cut there; one shrinking fails the tar ("Size mismatch").
    await pipeline(createReadStream(full, { start: 0, end: st.size - 1 }), entry);
  } else if (st.isSymbolicLink()) {
    await addEntry(w.tar, { ...base, name: rel, type: 'symlink', linkname: await readlink(full) });
  } else if (st.isCharacterDevice() || st.isBlockDevice()) {
    if (w.options.whiteouts === 'overlay' && isWhiteoutDevice(st)) {
      const slash = rel.lastIndexOf('/');
      const name = `${rel.slice(0, slash + 1)}${WHITEOUT_PREFIX}${rel.slice(slash + 1)}`;
      await addEntry(w.tar, { ...base, mode: 0o100600, name, type: 'file', size: 0 });
      return;
    }
    await addEntry(w.tar, {
      ...base,
      name: rel,
      type: st.isCharacterDevice() ? 'character-device' : 'block-device',
      // Linux's dev_t layout (glibc's gnu_dev_major/minor).
      devmajor: ((st.rdev >>> 8) & 0xfff) | (Math.floor(st.rdev / 2 ** 32) & 0xfffff000),
      devminor: (st.rdev & 0xff) | ((st.rdev >>> 12) & 0xfff00),
    });
  } else if (st.isFIFO()) {
    await addEntry(w.tar, { ...base, name: rel, type: 'fifo' });
  }
  // Sockets: skipped (moby: "archive: skipping … since it is a socket").
}

async function walk(w: Walk, rel: string): Promise<void> {
  const names = (await readdir(rel === '' ? w.root : join(w.root, rel))).sort(byteOrder);
  for (const name of names) {
    const child = rel === '' ? name : `${rel}/${name}`;
    if (w.options.exclude?.(child)) continue;
    const st = await lstat(join(w.root, child));
    await writeEntry(w, child, st);
    if (st.isDirectory()) await walk(w, child);
  }
}

/**
 * A tar stream of the tree under `root` (see the top of this file). Errors while walking (a file
 * vanishing, a read failing) destroy the stream with that error.
 */
export function packDirectory(root: string, options: PackOptions = {}): Readable {
  const tar = tarPack();
  (async () => {
    let opaque = new Set<string>();
    if (options.whiteouts === 'overlay') {
      const marks = await readOverlayMarks(root);
      const unsupported = unsupportedOverlayError(marks);
      if (unsupported) throw unsupported;
      opaque = marks.opaque;
    }
    await walk({ root, options, opaque, links: new Map(), tar }, '');
    tar.finalize();
  })().catch((err: unknown) => tar.destroy(err instanceof Error ? err : new Error(String(err))));
  // A Node stream (tar-stream's are streamx streams) that ends in the walk's error, if any.
  return Readable.from(tar, { objectMode: false });
}

/** One change of a root filesystem, as `docker diff` lists it (path absolute in the container). */
export interface PathChange {
  kind: 'A' | 'C' | 'D';
  path: string;
}

/**
 * The layer tar of a list of changes under `root` (moby's ExportChanges): added and changed
 * paths as they are now, deleted ones as `.wh.<name>` entries. Directories are written as
 * entries only when listed; their contents come as their own changes.
 */
export function packChanges(root: string, changes: readonly PathChange[]): Readable {
  const tar = tarPack();
  (async () => {
    const w: Walk = { root, options: {}, opaque: new Set(), links: new Map(), tar };
    const sorted = [...changes].sort((a, b) => byteOrder(a.path, b.path));
    for (const change of sorted) {
      const rel = change.path.replace(/^\/+/, '');
      if (change.kind === 'D') {
        const slash = rel.lastIndexOf('/');
        const name = `${rel.slice(0, slash + 1)}${WHITEOUT_PREFIX}${rel.slice(slash + 1)}`;
        await addEntry(tar, { mode: 0o100600, uid: 0, gid: 0, mtime: new Date(0), name, type: 'file', size: 0 });
      } else {
        await writeEntry(w, rel, await lstat(join(root, rel)));
      }
    }
    tar.finalize();
  })().catch((err: unknown) => tar.destroy(err instanceof Error ? err : new Error(String(err))));
  return Readable.from(tar, { objectMode: false });
}
