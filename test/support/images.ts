// Local test images made through the engine (createImage), as import and commit make them:
// a busybox-static base and children with one small file each.
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { createImage } from '../../src/engine/new-image.js';
import type { LocalStore } from '../../src/engine/store.js';
import { removeTmpDir, runOk, tmpDir, whichTool } from './tools.js';

const APPLETS = ['sh', 'ls', 'cat', 'echo', 'true'];

/** A deterministic busybox-static rootfs tar (sorted, mtime 0, root-owned), like makeBusyboxImage's. */
export async function busyboxRootfsTar(dir: string): Promise<string> {
  const busybox = whichTool('busybox');
  if (busybox === undefined) throw new Error('busybox not found (apt-get install -y busybox-static)');
  const root = join(dir, 'root');
  await mkdir(join(root, 'bin'), { recursive: true });
  await chmod(root, 0o755);
  await copyFile(busybox, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of APPLETS) await symlink('busybox', join(root, 'bin', applet));
  const file = join(dir, 'rootfs.tar');
  await runOk('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    root,
    '-cf',
    file,
    '.',
  ]);
  return file;
}

/** A tar holding one regular file. */
export function oneFileTar(name: string, content: string): Readable {
  const pack = tar.pack();
  pack.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  pack.finalize();
  return Readable.from(pack);
}

/** Imports a busybox base as `name:tag` (full name); returns its image ID. */
export async function makeBase(store: LocalStore, name: string, tag: string, created?: Date): Promise<string> {
  const dir = await tmpDir('wharf-rootfs-');
  try {
    const file = await busyboxRootfsTar(dir);
    return await createImage(store, {
      layer: createReadStream(file),
      config: { Cmd: ['/bin/sh'] },
      history: { comment: 'Imported from -' },
      os: 'linux',
      architecture: 'amd64',
      tag: { name, tag },
      ...(created ? { created } : {}),
    });
  } finally {
    await removeTmpDir(dir);
  }
}

/** A commit-style child of `parent` with one file; returns its image ID. */
export async function makeChild(
  store: LocalStore,
  parent: string,
  file: string,
  content: string,
  options: {
    tag?: { name: string; tag: string };
    comment?: string;
    labels?: Record<string, string>;
    created?: Date;
  } = {},
): Promise<string> {
  return createImage(store, {
    parent,
    layer: oneFileTar(file, content),
    config: { Cmd: ['/bin/sh'], ...(options.labels ? { Labels: options.labels } : {}) },
    history: { created_by: '/bin/sh', ...(options.comment ? { comment: options.comment } : {}) },
    author: 'chansoo',
    os: 'linux',
    architecture: 'amd64',
    ...(options.tag ? { tag: options.tag } : {}),
    ...(options.created ? { created: options.created } : {}),
  });
}
