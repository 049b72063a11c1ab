// Helpers for tests that fill a disk: a tmpfs of their own (root; guard them with rootDescribe
// from tools.ts) and a file that takes all of its space.
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk } from './tools.js';

const MiB = 1024 * 1024;

/** A fresh tmpfs of `sizeMiB` on a new temporary directory (root). */
export async function mountTmpfs(sizeMiB: number): Promise<{ dir: string; unmount(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wharf-tmpfs-'));
  await runOk('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir]);
  return {
    dir,
    async unmount() {
      await runOk('umount', [dir]).catch(() => {});
      await rmdir(dir).catch(() => {});
    },
  };
}

/** Fills the volume of `file` with it until the disk refuses one more byte. */
export function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [MiB, 4096, 1]) {
      const buf = Buffer.alloc(size, 7);
      try {
        for (;;) writeSync(fd, buf);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}
