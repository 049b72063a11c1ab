// The tar writer (packDirectory): Docker's entry order and names, metadata kept, hardlinks,
// devices, long names, exclusions, overlay whiteouts turned into `.wh.` entries, and file contents
// streamed (what comes out extracts back to the same tree, read by GNU tar too).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, link, lutimes, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type PackOptions, packDirectory } from '../../src/archive/pack.js';
import { interopDescribe, rootDescribe } from '../support/tools.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wharf-pack-'));
  dirs.push(d);
  return d;
}

interface Entry {
  header: Header;
  sha256: string;
}

/** Every entry of the tar (headers, and a hash of each one's content). */
async function entriesOf(tar: Readable): Promise<Entry[]> {
  const out: Entry[] = [];
  const x = extract();
  x.on('entry', (header, stream, next) => {
    const hash = createHash('sha256');
    stream.on('data', (c: unknown) => hash.update(c as Buffer));
    stream.on('end', () => {
      out.push({ header, sha256: hash.digest('hex') });
      next();
    });
  });
  await pipeline(tar, x);
  return out;
}

const names = (entries: Entry[]) => entries.map((e) => e.header.name);
const find = (entries: Entry[], name: string) => {
  const e = entries.find((x) => x.header.name === name);
  if (!e) throw new Error(`no entry ${name} in ${names(entries).join(', ')}`);
  return e.header;
};

async function pack(dir: string, options?: PackOptions): Promise<Entry[]> {
  return entriesOf(packDirectory(dir, options));
}

describe('packDirectory', () => {
  it('walks depth first with names sorted bytewise, relative paths, directories with a slash, no root entry', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'a', 'b'), { recursive: true });
    await writeFile(join(root, 'a', 'b', 'f'), 'f');
    await writeFile(join(root, 'a-c'), 'x');
    await writeFile(join(root, 'B'), 'upper case sorts first');
    await writeFile(join(root, 'é'), 'utf-8 sorts by bytes');
    await writeFile(join(root, 'z'), 'z');
    // filepath.Walk order: a's subtree comes before a-c although '-' < '/'.
    expect(names(await pack(root))).toEqual(['B', 'a/', 'a/b/', 'a/b/f', 'a-c', 'z', 'é']);
  });

  it('keeps modes (setuid, sticky, 000), owners and whole-second mtimes; no user names', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'none'), 'no permissions');
    await chmod(join(root, 'none'), 0o000);
    await writeFile(join(root, 'suid'), '');
    await chmod(join(root, 'suid'), 0o4755);
    await mkdir(join(root, 'tmp'));
    await chmod(join(root, 'tmp'), 0o1777);
    await utimes(join(root, 'suid'), 1_600_000_000.75, 1_600_000_000.75);
    const entries = await pack(root);
    expect(find(entries, 'none').mode).toBe(0o000);
    expect(find(entries, 'suid').mode).toBe(0o4755);
    expect(find(entries, 'suid').mtime?.getTime()).toBe(1_600_000_000_000);
    expect(find(entries, 'tmp/').mode).toBe(0o1777);
    expect(find(entries, 'tmp/').type).toBe('directory');
    expect(find(entries, 'none').uname).toBe('');
    expect(find(entries, 'none').uid).toBe(process.getuid?.());
  });

  it('streams file contents, writes symlinks as they are and later links of a file as hardlinks', async () => {
    const root = await tempDir();
    const big = Buffer.alloc(8 * 1024 * 1024 + 123, 7);
    await writeFile(join(root, 'big'), big);
    await writeFile(join(root, 'one'), 'shared');
    await link(join(root, 'one'), join(root, 'two'));
    await symlink('/etc/passwd', join(root, 'abs'));
    await symlink('one', join(root, 'rel'));
    await lutimes(join(root, 'rel'), 1000, 1000);
    const entries = await pack(root);
    expect(find(entries, 'big').size).toBe(big.length);
    expect(entries.find((e) => e.header.name === 'big')?.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    expect(find(entries, 'one').type).toBe('file');
    expect(find(entries, 'two')).toMatchObject({ type: 'link', linkname: 'one', size: 0 });
    expect(find(entries, 'abs')).toMatchObject({ type: 'symlink', linkname: '/etc/passwd' });
    expect(find(entries, 'rel')).toMatchObject({ type: 'symlink', linkname: 'one' });
  });

  it('uses PAX headers for names ustar cannot hold, and GNU tar reads the result', async () => {
    const root = await tempDir();
    const long = 'd'.repeat(120);
    await mkdir(join(root, long));
    await writeFile(join(root, long, 'f'.repeat(150)), 'deep');
    const tarFile = join(root, '..', `${long.slice(0, 8)}-out.tar`);
    dirs.push(tarFile);
    await pipeline(packDirectory(root), createWriteStream(tarFile));
    const listed = execFileSync('tar', ['-tf', tarFile]).toString().trim().split('\n');
    expect(listed).toEqual([`${long}/`, `${long}/${'f'.repeat(150)}`]);
  });

  it('skips excluded subtrees', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'vol', 'inner'), { recursive: true });
    await writeFile(join(root, 'vol', 'inner', 'data'), 'volume data');
    await writeFile(join(root, 'keep'), 'k');
    const entries = await pack(root, { exclude: (p) => p.startsWith('vol/') });
    expect(names(entries)).toEqual(['keep', 'vol/']);
  });

  it('fails the stream when the directory cannot be read', async () => {
    const root = await tempDir();
    await expect(pack(join(root, 'missing'))).rejects.toThrow(/ENOENT/);
  });

  it('an empty directory gives the empty tar (1024 zero bytes)', async () => {
    const root = await tempDir();
    const chunks: Buffer[] = [];
    for await (const c of packDirectory(root)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(Buffer.alloc(1024));
  });
});

interopDescribe('packDirectory of an overlay upper directory', ['setfattr', 'getfattr'], () => {
  rootDescribe('as root (whiteout devices and trusted xattrs need root)', () => {
    it('writes whiteouts as .wh.NAME (0600, empty) and opaque directories with .wh..wh..opq', async () => {
      const root = await tempDir();
      await mkdir(join(root, 'bin'));
      execFileSync('mknod', [join(root, 'bin', 'ls'), 'c', '0', '0']);
      // Overlayfs makes one whiteout inode and links it: such links are not hardlinks in the tar.
      await link(join(root, 'bin', 'ls'), join(root, 'bin', 'cat'));
      await mkdir(join(root, 'tmp'));
      await chmod(join(root, 'tmp'), 0o1777);
      execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(root, 'tmp')]);
      await writeFile(join(root, 'tmp', 'new'), 'n');
      execFileSync('mknod', [join(root, 'null'), 'c', '1', '3']);
      execFileSync('mkfifo', [join(root, 'pipe')]);
      const entries = await pack(root, { whiteouts: 'overlay' });
      expect(names(entries)).toEqual([
        'bin/',
        'bin/.wh.cat',
        'bin/.wh.ls',
        'null',
        'pipe',
        'tmp/',
        'tmp/.wh..wh..opq',
        'tmp/new',
      ]);
      for (const wh of ['bin/.wh.cat', 'bin/.wh.ls']) {
        expect(find(entries, wh)).toMatchObject({ type: 'file', mode: 0o600, size: 0 });
      }
      expect(find(entries, 'tmp/.wh..wh..opq')).toMatchObject({ type: 'file', mode: 0o777, size: 0 });
      expect(find(entries, 'null')).toMatchObject({ type: 'character-device', devmajor: 1, devminor: 3 });
      expect(find(entries, 'pipe').type).toBe('fifo');

      // Without the option, the tree is written as it is (the device stays a device).
      const plain = await pack(root);
      expect(find(plain, 'bin/ls')).toMatchObject({ type: 'character-device', devmajor: 0, devminor: 0 });
      expect(names(plain)).not.toContain('tmp/.wh..wh..opq');
    });

    it('finds opaque directories whatever their names, and refuses redirected directories', async () => {
      const root = await tempDir();
      const odd = 'with space\nnewline\\back';
      await mkdir(join(root, odd));
      execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(root, odd)]);
      expect(names(await pack(root, { whiteouts: 'overlay' }))).toEqual([`${odd}/`, `${odd}/.wh..wh..opq`]);

      await mkdir(join(root, 'moved'));
      execFileSync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/orig', join(root, 'moved')]);
      await expect(pack(root, { whiteouts: 'overlay' })).rejects.toThrow(/redirect_dir or metacopy \(at \/moved\)/);
      // A plain tree of the same directory is fine: only layers need the overlay marks right.
      expect(names(await pack(root))).toContain('moved/');
    });

    it('what it writes extracts back to the same files', async () => {
      const root = await tempDir();
      await mkdir(join(root, 'etc'));
      await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
      const out = await tempDir();
      const tarFile = join(out, 'layer.tar');
      await pipeline(packDirectory(root), createWriteStream(tarFile));
      execFileSync('tar', ['-xf', tarFile, '-C', out]);
      expect(await readFile(join(out, 'etc', 'passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    });
  });
});
