// Building layer tars in tests (tar-stream pack: deterministic) and looking at
// directory trees before and after an extraction.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Header, pack } from 'tar-stream';
import { afterEach } from 'vitest';
import { type ExtractOptions, type ExtractStats, extractLayer } from '../../src/archive/extract.js';

export const isRoot = process.getuid?.() === 0;

export type TarEntry = Partial<Header> & { name: string; data?: string | Buffer };

/** A fixed date, so that tars are byte-for-byte reproducible. */
export const EPOCH = new Date('2020-01-02T03:04:05Z');

/** The bytes of a tar holding `entries` in this order (files by default, fixed mtime/uid/gid). */
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const p = pack();
  for (const { data, ...header } of entries) {
    p.entry({ mtime: EPOCH, uid: 0, gid: 0, mode: header.type === 'directory' ? 0o755 : 0o644, ...header }, data ?? '');
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const file = (
  name: string,
  data: string | Buffer = `content of ${name}`,
  extra: Partial<Header> = {},
): TarEntry => ({
  name,
  type: 'file',
  data,
  ...extra,
});
export const dir = (name: string, extra: Partial<Header> = {}): TarEntry => ({ name, type: 'directory', ...extra });
export const symlinkEntry = (name: string, linkname: string): TarEntry => ({ name, type: 'symlink', linkname });
export const hardlinkEntry = (name: string, linkname: string): TarEntry => ({ name, type: 'link', linkname });

/** Applies a tar made of `entries` onto `root`. */
export async function apply(root: string, entries: TarEntry[], options?: ExtractOptions): Promise<ExtractStats> {
  return extractLayer(Readable.from(await tarOf(entries)), root, options);
}

/** A fresh temp directory (real path), removed after the test. */
const dirs: string[] = [];
export async function tempDir(): Promise<string> {
  const d = await realpath(await mkdtemp(join(tmpdir(), 'wharf-archive-')));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) {
    // Read-only directories (mode tests) block removal when not root.
    if (!isRoot) execFileSync('chmod', ['-R', 'u+rwX', d]);
    await rm(d, { recursive: true, force: true });
  }
});

/**
 * A scene for escape tests: BASE/outside holds sentinel files, the layer root
 * is BASE/x/root (so `../../outside` from the root names the sentinel dir).
 */
export async function scene(): Promise<{ base: string; root: string; outside: string }> {
  const base = await tempDir();
  const outside = join(base, 'outside');
  const root = join(base, 'x', 'root');
  await mkdir(outside);
  await mkdir(root, { recursive: true });
  await writeFile(join(outside, 'secret'), 'do not touch');
  await writeFile(join(outside, 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  return { base, root, outside };
}

/** Everything under `path` with type, mode, size, mtime, link target and content hash: to prove nothing changed. */
export async function snapshot(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (p: string, rel: string): Promise<void> => {
    const st = await lstat(p);
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ino=${st.ino}`;
    if (st.isSymbolicLink()) what += ` -> ${await readlink(p)}`;
    else if (st.isFile())
      what += ` sha256=${createHash('sha256')
        .update(await readFile(p))
        .digest('hex')}`;
    out[rel] = what;
    if (st.isDirectory()) for (const c of (await readdir(p)).sort()) await walk(join(p, c), `${rel}/${c}`);
  };
  await walk(path, '.');
  return out;
}

/** Lists `root` as sorted relative paths (directories with a trailing `/`, symlinks with their target). */
export async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string, rel: string): Promise<void> => {
    for (const c of (await readdir(p)).sort()) {
      const full = join(p, c);
      const name = rel ? `${rel}/${c}` : c;
      const st = await lstat(full);
      if (st.isSymbolicLink()) out.push(`${name} -> ${await readlink(full)}`);
      else if (st.isDirectory()) {
        out.push(`${name}/`);
        await walk(full, name);
      } else out.push(name);
    }
  };
  await walk(root, '');
  return out;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
