import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../src/storage/drivers/filesystem.js';
import { runDriverSuite } from './driver-suite.js';

async function makeRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'wharf-fs-driver-'));
}

runDriverSuite('filesystem', async () => {
  const root = await makeRoot();
  return {
    driver: new FilesystemDriver(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

/** Every entry below `dir` on disk, relative to it. */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String);
}

describe('filesystem driver: temp files', () => {
  let root: string;
  let driver: FilesystemDriver;

  beforeEach(async () => {
    root = await makeRoot();
    driver = new FilesystemDriver(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('putContent leaves no temp files behind', async () => {
    for (let i = 0; i < 5; i++) {
      await driver.putContent('/t/obj', Buffer.alloc(10_000 + i, i));
      await driver.putContent(`/t/sub/obj${i}`, Buffer.from(`v${i}`));
    }
    await Promise.all(Array.from({ length: 10 }, (_, i) => driver.putContent('/t/same', Buffer.alloc(50_000, i))));
    const onDisk = await walk(root);
    expect(onDisk.filter((p) => p.includes('#tmp-'))).toEqual([]);
    expect(onDisk.sort()).toEqual(
      ['t', 't/obj', 't/same', 't/sub', ...Array.from({ length: 5 }, (_, i) => `t/sub/obj${i}`)]
        .map((p) => join(p))
        .sort(),
    );
  });

  it('list() never shows temp files: neither leftovers nor ones being written', async () => {
    await driver.putContent('/t/obj', Buffer.from('x'));
    // What a crash between write and rename leaves behind.
    await writeFile(join(root, 't', `obj#tmp-${randomUUID()}`), 'partial');
    await writeFile(join(root, `top#tmp-${randomUUID()}`), 'partial');
    expect(await driver.list('/t')).toEqual(['/t/obj']);
    expect(await driver.list('/')).toEqual(['/t']);

    let writing = true;
    const writes = (async () => {
      try {
        for (let i = 0; i < 30; i++) {
          await Promise.all([
            driver.putContent('/t/obj', Buffer.alloc(256 * 1024, i)),
            driver.putContent(`/t/new${i % 3}`, Buffer.alloc(64 * 1024, i)),
          ]);
        }
      } finally {
        writing = false;
      }
    })();
    try {
      let lists = 0;
      while (writing || lists === 0) {
        const names = [...(await driver.list('/t')), ...(await driver.list('/'))];
        expect(names.filter((n) => n.includes('#tmp-'))).toEqual([]);
        lists++;
      }
    } finally {
      await writes; // never leave writes running into the cleanup
    }
    expect(await driver.list('/t')).toEqual(['/t/new0', '/t/new1', '/t/new2', '/t/obj']);
  });
});
