// Normal layers: every entry type, metadata, and replacing what lower layers left.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { extractLayer } from '../../src/archive/extract.js';
import { rootIt } from '../support/tools.js';
import { apply, dir, EPOCH, file, hardlinkEntry, symlinkEntry, tarOf, tempDir, tree } from './helpers.js';

describe('entries', () => {
  it('writes files, directories, symlinks and hardlinks, and counts them', async () => {
    const root = await tempDir();
    const stats = await apply(root, [
      dir('bin/'),
      file('bin/busybox', 'ELF'),
      symlinkEntry('bin/sh', '/bin/busybox'),
      hardlinkEntry('bin/ls', 'bin/busybox'),
      dir('etc/'),
      file('etc/hostname', 'wharf\n'),
    ]);
    expect(stats).toEqual({ files: 2, dirs: 2, symlinks: 1, hardlinks: 1, devices: 0, whiteouts: 0, bytes: 9 });
    expect(await tree(root)).toEqual([
      'bin/',
      'bin/busybox',
      'bin/ls',
      'bin/sh -> /bin/busybox',
      'etc/',
      'etc/hostname',
    ]);
    expect((await stat(join(root, 'bin/ls'))).ino).toBe((await stat(join(root, 'bin/busybox'))).ino);
    expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe('wharf\n');
  });

  it('keeps absolute symlinks as links, pointing where they said', async () => {
    const root = await tempDir();
    await apply(root, [
      symlinkEntry('sh', '/bin/busybox'),
      symlinkEntry('etc-link', '/etc'),
      symlinkEntry('rel', '../x'),
    ]);
    expect(await readlink(join(root, 'sh'))).toBe('/bin/busybox');
    expect(await readlink(join(root, 'etc-link'))).toBe('/etc');
    expect(await readlink(join(root, 'rel'))).toBe('../x');
  });

  it('creates missing parent directories', async () => {
    const root = await tempDir();
    await apply(root, [file('a/b/c/d')]);
    expect(await tree(root)).toEqual(['a/', 'a/b/', 'a/b/c/', 'a/b/c/d']);
    expect((await stat(join(root, 'a/b'))).mode & 0o777).toBe(0o755);
  });

  it('writes into usr/bin through a usrmerge bin -> usr/bin link of a lower layer', async () => {
    const root = await tempDir();
    await apply(root, [dir('usr/'), dir('usr/bin/'), symlinkEntry('bin', 'usr/bin'), symlinkEntry('lib', '/usr/lib')]);
    await apply(root, [file('bin/sh', 'shell'), file('lib/libc.so', 'libc')]);
    expect(await readFile(join(root, 'usr/bin/sh'), 'utf8')).toBe('shell');
    expect(await readFile(join(root, 'usr/lib/libc.so'), 'utf8')).toBe('libc');
    expect((await lstat(join(root, 'bin'))).isSymbolicLink()).toBe(true);
  });

  it('handles long names (PAX and GNU long paths)', async () => {
    const root = await tempDir();
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    await apply(root, [file(long, 'long'), symlinkEntry('l', `/${'t'.repeat(200)}`)]);
    expect(await readFile(join(root, long), 'utf8')).toBe('long');
    expect(await readlink(join(root, 'l'))).toBe(`/${'t'.repeat(200)}`);
  });

  it('streams a large file to disk', async () => {
    const root = await tempDir();
    const size = 8 * 1024 * 1024 + 123;
    const p = pack();
    const hash = createHash('sha256');
    const sink = p.entry({ name: 'big', size, mtime: EPOCH, mode: 0o644 });
    const block = Buffer.alloc(64 * 1024);
    (async () => {
      for (let written = 0, i = 0; written < size; i++) {
        block.fill(i & 0xff);
        const chunk = block.subarray(0, Math.min(block.length, size - written));
        hash.update(chunk);
        written += chunk.length;
        if (!sink.write(Buffer.from(chunk))) await new Promise<void>((r) => sink.once('drain', () => r()));
      }
      sink.end(null);
      p.finalize();
    })();
    const stats = await extractLayer(p as unknown as Readable, root);
    expect(stats.bytes).toBe(size);
    const onDisk = createHash('sha256');
    for await (const chunk of createReadStream(join(root, 'big'))) onDisk.update(chunk as Buffer);
    expect(onDisk.digest('hex')).toBe(hash.digest('hex'));
  });
});

describe('metadata', () => {
  it('preserves modes, including setuid/setgid/sticky bits', async () => {
    const root = await tempDir();
    await apply(root, [
      file('x', '#!/bin/sh', { mode: 0o750 }),
      file('suid', 'x', { mode: 0o4755 }),
      file('ro', 'x', { mode: 0o400 }),
      dir('tmp/', { mode: 0o1777 }),
      dir('private/', { mode: 0o700 }),
      file('private/inside', 'x', { mode: 0o600 }),
      dir('sealed/', { mode: 0o555 }),
      file('sealed/file'),
    ]);
    const mode = async (p: string) => (await lstat(join(root, p))).mode & 0o7777;
    expect(await mode('x')).toBe(0o750);
    expect(await mode('suid')).toBe(0o4755);
    expect(await mode('ro')).toBe(0o400);
    expect(await mode('tmp')).toBe(0o1777);
    expect(await mode('private')).toBe(0o700);
    expect(await mode('sealed')).toBe(0o555);
    expect(await readFile(join(root, 'sealed/file'), 'utf8')).toBe('content of sealed/file');
  });

  it('preserves mtimes of files, symlinks and directories (even after children were written)', async () => {
    const root = await tempDir();
    const t1 = new Date('2001-02-03T04:05:06Z');
    const t2 = new Date('2011-12-13T14:15:16Z');
    const t3 = new Date('1999-01-01T00:00:00Z');
    await apply(root, [
      dir('d/', { mtime: t1 }),
      file('d/f', 'x', { mtime: t2 }),
      symlinkEntry('d/l', 'f'),
      dir('d/e/', { mtime: t3 }),
      file('d/e/g'),
    ]);
    expect((await lstat(join(root, 'd'))).mtime).toEqual(t1);
    expect((await lstat(join(root, 'd/f'))).mtime).toEqual(t2);
    expect((await lstat(join(root, 'd/l'))).mtime).toEqual(EPOCH);
    expect((await lstat(join(root, 'd/e'))).mtime).toEqual(t3);
  });

  it('takes sub-second mtimes and large ids from PAX records', async () => {
    const root = await tempDir();
    await apply(root, [{ name: 'f', type: 'file', data: 'x', pax: { mtime: '1700000000.25' } }]);
    expect((await lstat(join(root, 'f'))).mtimeMs).toBe(1_700_000_000_250);
  });

  rootIt('sets numeric owners with lchown when root (symlinks too)', async () => {
    const root = await tempDir();
    await apply(root, [
      dir('home/', { uid: 1000, gid: 1000 }),
      file('home/f', 'x', { uid: 1234, gid: 5678, mode: 0o4755 }),
      { name: 'home/l', type: 'symlink', linkname: 'f', uid: 42, gid: 43 },
      { name: 'big-id', type: 'file', data: '', pax: { uid: '3000000', gid: '3000001' } },
    ]);
    const home = await lstat(join(root, 'home'));
    expect([home.uid, home.gid]).toEqual([1000, 1000]);
    const f = await lstat(join(root, 'home/f'));
    expect([f.uid, f.gid, f.mode & 0o7777]).toEqual([1234, 5678, 0o4755]); // chmod after chown keeps setuid
    const l = await lstat(join(root, 'home/l'));
    expect([l.uid, l.gid]).toEqual([42, 43]);
    const big = await lstat(join(root, 'big-id'));
    expect([big.uid, big.gid]).toEqual([3000000, 3000001]);
  });
});

describe('replacing what is there', () => {
  it('a file replaces a directory and everything in it', async () => {
    const root = await tempDir();
    await apply(root, [dir('x/'), file('x/a'), dir('x/b/'), file('x/b/c')]);
    await apply(root, [file('x', 'now a file')]);
    expect(await tree(root)).toEqual(['x']);
    expect(await readFile(join(root, 'x'), 'utf8')).toBe('now a file');
  });

  it('a directory replaces a file', async () => {
    const root = await tempDir();
    await apply(root, [file('x', 'file')]);
    await apply(root, [dir('x/', { mode: 0o711 }), file('x/in')]);
    expect(await tree(root)).toEqual(['x/', 'x/in']);
    expect((await stat(join(root, 'x'))).mode & 0o777).toBe(0o711);
  });

  it('a directory over a directory merges and takes the new metadata', async () => {
    const root = await tempDir();
    await apply(root, [dir('x/', { mode: 0o755 }), file('x/lower')]);
    await apply(root, [dir('x/', { mode: 0o700 }), file('x/upper')]);
    expect(await tree(root)).toEqual(['x/', 'x/lower', 'x/upper']);
    expect((await stat(join(root, 'x'))).mode & 0o777).toBe(0o700);
  });

  it('a symlink replaces a file, and a file replaces a symlink', async () => {
    const root = await tempDir();
    await apply(root, [file('a', 'a'), symlinkEntry('b', 'a')]);
    await apply(root, [symlinkEntry('a', '/target'), file('b', 'b')]);
    expect(await tree(root)).toEqual(['a -> /target', 'b']);
    expect(await readFile(join(root, 'b'), 'utf8')).toBe('b');
  });

  it('a file replaces a file without writing through an existing hardlink', async () => {
    const root = await tempDir();
    await apply(root, [file('orig', 'shared'), hardlinkEntry('alias', 'orig')]);
    await apply(root, [file('alias', 'new')]);
    expect(await readFile(join(root, 'orig'), 'utf8')).toBe('shared');
    expect(await readFile(join(root, 'alias'), 'utf8')).toBe('new');
  });

  it('a later entry of the same layer wins', async () => {
    const root = await tempDir();
    await apply(root, [file('f', 'one'), file('f', 'two'), dir('d/'), file('d', 'file')]);
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('two');
    expect(await readFile(join(root, 'd'), 'utf8')).toBe('file');
  });

  it('a hardlink to a file of a lower layer', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'lib'));
    await writeFile(join(root, 'lib/libz.so'), 'z');
    await apply(root, [hardlinkEntry('libz-copy.so', '/lib/libz.so')]);
    expect((await stat(join(root, 'libz-copy.so'))).ino).toBe((await stat(join(root, 'lib/libz.so'))).ino);
  });

  it('refuses a file under a lower file', async () => {
    const root = await tempDir();
    await apply(root, [file('f')]);
    await expect(apply(root, [file('f/g')])).rejects.toThrow(/not a directory/);
  });

  it('is deterministic: the same tar twice gives the same bytes', async () => {
    const entries = [dir('a/'), file('a/b', 'x'), symlinkEntry('c', 'a/b')];
    expect((await tarOf(entries)).equals(await tarOf(entries))).toBe(true);
  });
});

describe('the root argument', () => {
  it('creates a missing root', async () => {
    const base = await tempDir();
    const root = join(base, 'new/root');
    await extractLayer(Readable.from(await tarOf([file('f')])), root);
    expect(await tree(root)).toEqual(['f']);
  });
});
