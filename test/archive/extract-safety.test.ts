// Hostile layers: nothing outside the root may change, whatever the tar says.
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LayerError, TarFormatError, UnsafeLayerError } from '../../src/archive/errors.js';
import { extractLayer } from '../../src/archive/extract.js';
import { notAsRootIt, rootIt } from '../support/tools.js';
import {
  apply,
  dir,
  exists,
  file,
  hardlinkEntry,
  scene,
  snapshot,
  symlinkEntry,
  type TarEntry,
  tarOf,
  tree,
} from './helpers.js';

/** Applies `entries` in a fresh scene and checks that nothing outside the root changed. */
async function applyContained(
  entries: TarEntry[] | ((outside: string) => TarEntry[]),
  setup?: (root: string, outside: string) => Promise<void>,
) {
  const s = await scene();
  await setup?.(s.root, s.outside);
  const before = await snapshot(s.outside);
  const baseBefore = await tree(s.base);
  let error: unknown;
  try {
    await apply(s.root, typeof entries === 'function' ? entries(s.outside) : entries);
  } catch (err) {
    error = err;
  }
  expect(await snapshot(s.outside)).toEqual(before);
  // Nothing new anywhere in BASE but under x/root.
  const outsideRoot = (await tree(s.base)).filter((p) => !p.startsWith('x/root/'));
  expect(outsideRoot).toEqual(baseBefore.filter((p) => !p.startsWith('x/root/')));
  return { ...s, error };
}

describe('paths that escape the root', () => {
  for (const name of ['../escape', 'a/../../escape', '../../outside/secret', './../x', 'a/../b']) {
    it(`refuses ${JSON.stringify(name)} before writing it`, async () => {
      const { root, error } = await applyContained([file(name, 'pwned')]);
      expect(error).toBeInstanceOf(UnsafeLayerError);
      expect((error as UnsafeLayerError).entry).toBe(name);
      expect((error as Error).message).toContain(JSON.stringify(name));
      expect((error as Error).message).toContain('".." component');
      expect(await tree(root)).toEqual([]);
    });
  }

  it('refuses a directory entry with ..', async () => {
    const { error } = await applyContained([dir('a/../../up/')]);
    expect(error).toBeInstanceOf(UnsafeLayerError);
  });

  it('keeps the entries before the refused one and writes none after it', async () => {
    const { root, error } = await applyContained([file('first'), file('../escape'), file('after')]);
    expect(error).toBeInstanceOf(UnsafeLayerError);
    expect(await tree(root)).toEqual(['first']);
  });

  it('reads absolute names as relative to the root, like containerd and Docker', async () => {
    const { root, error } = await applyContained([file('/abs/path', 'inside'), dir('/abs/dir/')]);
    expect(error).toBeUndefined();
    expect(await readFile(join(root, 'abs/path'), 'utf8')).toBe('inside');
    expect(await tree(root)).toEqual(['abs/', 'abs/dir/', 'abs/path']);
    expect(await exists('/abs/path')).toBe(false);
  });

  it('skips the root entry itself (./) without changing the root', async () => {
    const { root, error } = await applyContained([dir('./', { mode: 0o700 }), file('./f')]);
    expect(error).toBeUndefined();
    expect((await stat(root)).mode & 0o777).toBe(0o755);
    expect(await tree(root)).toEqual(['f']);
  });
});

describe('symlinks', () => {
  it('keeps a link to /etc as a link, and a file "through" it lands inside the root', async () => {
    // The hostile file is named so that a broken implementation would create a
    // new file in /etc rather than clobber /etc/passwd of the test machine.
    const probe = '/etc/wharf-archive-escape-probe';
    const passwdBefore = await snapshot('/etc/passwd');
    const { root, error } = await applyContained([
      symlinkEntry('link', '/etc'),
      file('link/wharf-archive-escape-probe', 'pwned'),
    ]);
    expect(error).toBeUndefined();
    expect(await exists(probe)).toBe(false);
    expect(await snapshot('/etc/passwd')).toEqual(passwdBefore);
    expect(await readlink(join(root, 'link'))).toBe('/etc');
    expect(await readFile(join(root, 'etc/wharf-archive-escape-probe'), 'utf8')).toBe('pwned');
  });

  it('link -> ABSOLUTE sentinel dir, then link/passwd: the sentinel passwd is untouched', async () => {
    const { root, outside, error } = await applyContained((out) => [
      symlinkEntry('link', out),
      file('link/passwd', 'pwned'),
    ]);
    expect(error).toBeUndefined();
    // Resolved as if the root were `/`: ROOT + the absolute path.
    expect(await readFile(join(root, outside, 'passwd'), 'utf8')).toBe('pwned');
  });

  it('link -> ../../outside, then a file through it: stays in the root', async () => {
    const { root, error } = await applyContained([symlinkEntry('up', '../../outside'), file('up/secret', 'pwned')]);
    expect(error).toBeUndefined();
    expect(await readlink(join(root, 'up'))).toBe('../../outside');
    expect(await readFile(join(root, 'outside/secret'), 'utf8')).toBe('pwned');
  });

  it('a symlink from a lower layer that points outside is not followed by a later layer', async () => {
    const { root, error } = await applyContained(
      [file('lib/secret', 'pwned'), dir('lib/sub/'), file('lib/sub/deep', 'pwned')],
      async (r, outside) => {
        await symlink(outside, join(r, 'lib'));
      },
    );
    expect(error).toBeUndefined();
    expect(await lstat(join(root, 'lib')).then((st) => st.isSymbolicLink())).toBe(true);
  });

  it('chains of relative and absolute links are resolved inside the root', async () => {
    const { root, error } = await applyContained([
      dir('d/'),
      symlinkEntry('d/a', '../b'),
      symlinkEntry('b', '/c/../../../../outside'),
      file('d/a/secret', 'pwned'),
    ]);
    expect(error).toBeUndefined();
    expect(await readFile(join(root, 'outside/secret'), 'utf8')).toBe('pwned');
  });

  it('replaces a symlink in the last component instead of writing through it', async () => {
    const { root, error } = await applyContained([file('f', 'new')], async (r, outside) => {
      await symlink(join(outside, 'secret'), join(r, 'f'));
    });
    expect(error).toBeUndefined();
    const st = await lstat(join(root, 'f'));
    expect(st.isFile()).toBe(true);
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('new');
  });

  it('a directory entry over a symlink to a directory outside replaces the link', async () => {
    const { root, error } = await applyContained([dir('d/', { mode: 0o700 })], async (r, outside) => {
      await symlink(outside, join(r, 'd'));
    });
    expect(error).toBeUndefined();
    expect((await lstat(join(root, 'd'))).isDirectory()).toBe(true);
  });

  it('replacing a directory that holds links to outside never deletes what they point to', async () => {
    const { root, error } = await applyContained([file('d', 'now a file')], async (r, outside) => {
      await mkdir(join(r, 'd'));
      await symlink(outside, join(r, 'd/out'));
      await symlink(join(outside, 'secret'), join(r, 'd/secret'));
    });
    expect(error).toBeUndefined();
    expect(await readFile(join(root, 'd'), 'utf8')).toBe('now a file');
  });

  it('directory metadata applied at the end never goes through a parent replaced by a symlink', async () => {
    const { error } = await applyContained(
      (outside) => [
        dir('a/'),
        dir('a/b/', { mode: 0o700, mtime: new Date('2001-01-01T00:00:00Z') }),
        symlinkEntry('a', outside),
      ],
      async (_root, outside) => {
        await mkdir(join(outside, 'b'), { mode: 0o755 });
      },
    );
    expect(error).toBeUndefined();
  });

  it('refuses a loop of symlinks in a parent', async () => {
    const { error } = await applyContained([symlinkEntry('a', 'b'), symlinkEntry('b', 'a'), file('a/x')]);
    expect(error).toBeInstanceOf(LayerError);
    expect((error as Error).message).toContain('too many levels of symbolic links');
  });

  it('refuses a symlink without a target', async () => {
    const { error } = await applyContained([symlinkEntry('empty', '')]);
    expect(error).toBeInstanceOf(LayerError);
  });
});

describe('hardlinks', () => {
  it('refuses a link to /etc/passwd when the root has no etc/passwd (never the host file)', async () => {
    const { root, error } = await applyContained([hardlinkEntry('stolen', '/etc/passwd')]);
    expect(error).toBeInstanceOf(UnsafeLayerError);
    expect((error as Error).message).toContain('does not exist');
    expect(await exists(join(root, 'stolen'))).toBe(false);
  });

  it('links /etc/passwd to the root’s own etc/passwd', async () => {
    const { root, error } = await applyContained([
      dir('etc/'),
      file('etc/passwd', 'container passwd'),
      hardlinkEntry('copy', '/etc/passwd'),
    ]);
    expect(error).toBeUndefined();
    const [a, b, host] = await Promise.all([
      stat(join(root, 'copy')),
      stat(join(root, 'etc/passwd')),
      stat('/etc/passwd'),
    ]);
    expect(a.ino).toBe(b.ino);
    expect(a.ino).not.toBe(host.ino);
  });

  for (const target of ['../x', 'a/../../x', '../../outside/secret']) {
    it(`refuses a link to ${JSON.stringify(target)}`, async () => {
      const { root, error } = await applyContained([hardlinkEntry('h', target)]);
      expect(error).toBeInstanceOf(UnsafeLayerError);
      expect((error as Error).message).toContain('hardlink target');
      expect(await tree(root)).toEqual([]);
    });
  }

  it('refuses a link through a symlink that points outside', async () => {
    const { error } = await applyContained([hardlinkEntry('h', 'out/secret')], async (r, outside) => {
      await symlink(outside, join(r, 'out'));
    });
    expect(error).toBeInstanceOf(UnsafeLayerError);
    expect((error as Error).message).toContain('does not exist');
  });

  it('refuses a link to a directory and to the root', async () => {
    const a = await applyContained([dir('d/'), hardlinkEntry('h', 'd')]);
    expect(a.error).toBeInstanceOf(UnsafeLayerError);
    const b = await applyContained([hardlinkEntry('h', './')]);
    expect(b.error).toBeInstanceOf(UnsafeLayerError);
  });
});

describe('devices and fifos', () => {
  const device: TarEntry = { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 };

  it('refuses a character device by default', async () => {
    const { root, error } = await applyContained([dir('dev/'), device]);
    expect(error).toBeInstanceOf(UnsafeLayerError);
    expect((error as UnsafeLayerError).entry).toBe('dev/null');
    expect((error as Error).message).toContain('character-device');
    expect(await exists(join(root, 'dev/null'))).toBe(false);
  });

  it('refuses block devices and fifos by default', async () => {
    for (const entry of [
      { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 },
      { name: 'pipe', type: 'fifo' },
    ] as TarEntry[]) {
      const { error } = await applyContained([entry]);
      expect(error).toBeInstanceOf(UnsafeLayerError);
    }
  });

  rootIt('creates them with allowDevices as root', async () => {
    const { root } = await applyContained([]);
    const stats = await extractLayer(
      Readable.from(await tarOf([dir('dev/'), device, { name: 'dev/fifo', type: 'fifo', mode: 0o600 }])),
      root,
      { allowDevices: true },
    );
    expect(stats.devices).toBe(2);
    const st = await lstat(join(root, 'dev/null'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0x103); // major 1, minor 3
    expect(st.mode & 0o777).toBe(0o666);
    expect((await lstat(join(root, 'dev/fifo'))).isFIFO()).toBe(true);
  });

  notAsRootIt('refuses them with allowDevices when not root', 'as root, the test above creates them', async () => {
    const root = (await scene()).root;
    await expect(
      extractLayer(Readable.from(await tarOf([device])), root, { allowDevices: true }),
    ).rejects.toBeInstanceOf(UnsafeLayerError);
  });
});

describe('invalid whiteouts', () => {
  for (const name of [
    '.wh.',
    'a/.wh.',
    '.wh..wh.foo',
    '.wh..wh.plnk',
    'a/.wh..wh..opq2',
    '.wh..',
    '.wh...',
    '.wh.x/y',
  ]) {
    it(`refuses ${JSON.stringify(name)}`, async () => {
      const { root, error } = await applyContained([file(name, '')], async (r) => {
        await writeFile(join(r, 'keep'), 'lower');
      });
      expect(error).toBeInstanceOf(UnsafeLayerError);
      expect((error as UnsafeLayerError).entry).toBe(name);
      expect(await tree(root)).toEqual(['keep']);
    });
  }
});

describe('malformed tars', () => {
  it('reports a corrupt header', async () => {
    const root = (await scene()).root;
    const bad = Buffer.alloc(1024, 0x41);
    await expect(extractLayer(Readable.from(bad), root)).rejects.toBeInstanceOf(TarFormatError);
  });

  it('reports a tar truncated in the middle of a file', async () => {
    const root = (await scene()).root;
    const tar = await tarOf([file('big', 'x'.repeat(10_000))]);
    await expect(extractLayer(Readable.from(tar.subarray(0, 4096)), root)).rejects.toThrow(/Unexpected end of data/);
  });

  it('refuses entry types it does not know (a GNU sparse file)', async () => {
    const root = (await scene()).root;
    const tar = await tarOf([file('sparse', 'x')]);
    tar[156] = 'S'.charCodeAt(0);
    tar.fill(0x20, 148, 156); // checksum field counts as spaces
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += tar[i]!;
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    const error = await extractLayer(Readable.from(tar), root).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LayerError);
    expect((error as Error).message).toContain('unsupported tar entry type');
    expect(await tree(root)).toEqual([]);
  });

  it('passes on the error of the source stream', async () => {
    const root = (await scene()).root;
    const tar = await tarOf([file('big', 'x'.repeat(100_000))]);
    const boom = new Error('network down');
    const source = new Readable({
      read() {
        this.push(tar.subarray(0, 8192));
        this.destroy(boom);
      },
    });
    await expect(extractLayer(source, root)).rejects.toBe(boom);
  });

  it('stops a stalled extraction when the signal aborts', async () => {
    const root = (await scene()).root;
    const tar = await tarOf([file('a'), file('big', 'x'.repeat(100_000))]);
    const source = new PassThrough();
    source.write(tar.subarray(0, 2048)); // then nothing more: the extraction waits
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled while waiting')), 30);
    await expect(extractLayer(source, root, { signal: controller.signal })).rejects.toThrow('cancelled while waiting');
    expect(source.destroyed).toBe(true);
  });

  it('stops when the signal aborts', async () => {
    const root = (await scene()).root;
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await expect(
      extractLayer(Readable.from(await tarOf([file('f')])), root, { signal: controller.signal }),
    ).rejects.toThrow('cancelled');
  });
});
