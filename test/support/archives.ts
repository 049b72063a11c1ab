// Fixtures for the save/load/import tests: tars built entry by entry, the wharf CLI on a store root,
// and a snapshot of a store (database rows and content files).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import tar from 'tar-stream';
import { wharfIn } from './busybox.js';
import type { RunOptions, RunResult } from './tools.js';

/** Runs `wharf ARGS` on the store at `root` (wharfIn's), within 2 minutes unless `opts` says. */
export function wharf(root: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return wharfIn(root, { timeoutMs: 120_000 }).run(args, opts);
}

export async function wharfOk(root: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await wharf(root, args, opts);
  if (r.code !== 0) throw new Error(`wharf ${args.join(' ')} exited with ${r.code}: ${r.stderr}`);
  return r;
}

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  data?: Buffer | string;
  linkname?: string;
}

/** A tar of `entries`, in that order (tar-stream writes names as given, `../x` and `/x` included). */
export async function makeTar(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = Buffer.from(e.data ?? '');
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        type,
        mode: type === 'directory' ? 0o755 : 0o644,
        mtime: new Date(0),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(type === 'file' ? { size: data.length } : {}),
      };
      if (type === 'file') pack.entry(header, data, (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** An image config over `diffIds`, as a docker archive would carry it. */
export function imageConfig(diffIds: string[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      config: { Cmd: ['/bin/sh'] },
      created: '2024-01-02T03:04:05Z',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: diffIds },
      ...extra,
    }),
  );
}

/** Every row of every table of the store's database, and every file under it but the database. */
export async function storeSnapshot(root: string): Promise<{ rows: Record<string, unknown[]>; files: string[] }> {
  const rows: Record<string, unknown[]> = {};
  const db = new Database(join(root, 'engine.db'), { readonly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'kysely_%' ORDER BY name")
      .all() as { name: string }[];
    for (const { name } of tables) rows[name] = db.prepare(`SELECT * FROM "${name}" ORDER BY 1, 2`).all();
  } finally {
    db.close();
  }
  const files: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (!/^engine\.db/.test(e.name)) files.push(relative(root, path));
    }
  };
  await walk(root);
  return { rows, files: files.sort() };
}

/** The config of image `id` as stored in the content store of `root`. */
export async function storedConfig(root: string, id: string): Promise<Record<string, unknown>> {
  const hex = id.replace(/^sha256:/, '');
  const bytes = await readFile(join(root, 'content', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'));
  return JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
}

/** The names (in order) and contents of a tar. */
export async function readTar(bytes: Buffer): Promise<{ name: string; type: string; data: Buffer }[]> {
  const out: { name: string; type: string; data: Buffer }[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        out.push({ name: header.name, type: header.type ?? 'file', data: Buffer.concat(chunks) });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(bytes);
  await done;
  return out;
}
