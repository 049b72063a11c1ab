// Local test images made through the engine (createImage), as import and commit make them:
// a busybox-static base and children with one small file each.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { createImage } from '../../src/engine/new-image.js';
import type { LocalStore } from '../../src/engine/store.js';
import { busyboxRootfsTar } from './rootfs.js';
import { removeTmpDir, tmpDir } from './tools.js';

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
