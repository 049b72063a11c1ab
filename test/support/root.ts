// Tests that need root (mounting a tmpfs). Like interopDescribe for tools: not root skips with a
// warning locally, but under WHARF_REQUIRE_INTEROP=1 (CI) becomes one failing test, so that CI
// never passes by skipping them.
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { runOk } from './tools.js';

const MiB = 1024 * 1024;

export const isRoot = process.getuid?.() === 0;

/** `describe(title, fn)` as root; otherwise skipped, or failing under WHARF_REQUIRE_INTEROP=1. */
export function rootDescribe(title: string, why: string, fn: () => void): void {
  if (isRoot) {
    describe(title, fn);
    return;
  }
  if (process.env.WHARF_REQUIRE_INTEROP === '1') {
    describe(title, () => {
      it('runs as root', () => {
        throw new Error(`WHARF_REQUIRE_INTEROP=1 but these tests need root (${why})`);
      });
    });
    return;
  }
  console.warn(`[root] skipping "${title}": needs root (${why})`);
  describe.skip(title, fn);
}

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
