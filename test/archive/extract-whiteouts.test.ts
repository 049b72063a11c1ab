// Whiteouts remove content of lower layers, never content of their own layer.
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apply, dir, file, scene, snapshot, symlinkEntry, tempDir, tree } from './helpers.js';

/** A root holding a "lower layer": a/{f,g}, d/{x, sub/y}, top. */
async function lower(): Promise<string> {
  const root = await tempDir();
  await apply(root, [
    dir('a/'),
    file('a/f'),
    file('a/g'),
    dir('d/'),
    file('d/x'),
    dir('d/sub/'),
    file('d/sub/y'),
    file('top'),
  ]);
  return root;
}

describe('.wh.NAME', () => {
  it('removes a lower file and is not created itself', async () => {
    const root = await lower();
    const stats = await apply(root, [dir('a/'), file('a/.wh.f', '')]);
    expect(stats.whiteouts).toBe(1);
    expect(stats.files).toBe(0);
    expect(await tree(root)).toEqual(['a/', 'a/g', 'd/', 'd/sub/', 'd/sub/y', 'd/x', 'top']);
  });

  it('removes a lower directory with everything in it', async () => {
    const root = await lower();
    await apply(root, [file('.wh.d', '')]);
    expect(await tree(root)).toEqual(['a/', 'a/f', 'a/g', 'top']);
  });

  it('of something absent is a no-op that creates nothing', async () => {
    const root = await lower();
    await apply(root, [file('.wh.nothing', ''), file('no/such/dir/.wh.x', '')]);
    expect(await tree(root)).toEqual(['a/', 'a/f', 'a/g', 'd/', 'd/sub/', 'd/sub/y', 'd/x', 'top']);
  });

  it('removes a symlink, not what it points to', async () => {
    const { root, outside } = await scene();
    await symlink(outside, join(root, 'link'));
    const before = await snapshot(outside);
    await apply(root, [file('.wh.link', '')]);
    expect(await tree(root)).toEqual([]);
    expect(await snapshot(outside)).toEqual(before);
  });

  it('through a parent symlink to outside, removes inside the root only', async () => {
    const { root, outside } = await scene();
    await symlink(outside, join(root, 'link'));
    const before = await snapshot(outside);
    await apply(root, [file('link/.wh.secret', ''), file('link/.wh..wh..opq', '')]);
    expect(await snapshot(outside)).toEqual(before);
  });

  it('keeps a file of the same layer written before it', async () => {
    const root = await lower();
    await apply(root, [file('top', 'new top'), file('.wh.top', '')]);
    expect(await readFile(join(root, 'top'), 'utf8')).toBe('new top');
  });

  it('keeps a file of the same layer written after it', async () => {
    const root = await lower();
    await apply(root, [file('.wh.top', ''), file('top', 'new top')]);
    expect(await readFile(join(root, 'top'), 'utf8')).toBe('new top');
  });

  it('of a lower directory that this layer also writes into: keeps the new entries, drops the lower ones', async () => {
    const root = await lower();
    await apply(root, [file('d/new'), file('d/sub/z'), file('.wh.d', '')]);
    expect(await tree(root)).toEqual(['a/', 'a/f', 'a/g', 'd/', 'd/new', 'd/sub/', 'd/sub/z', 'top']);
  });
});

describe('.wh..wh..opq', () => {
  it('empties a lower directory when it comes first, then the layer fills it', async () => {
    const root = await lower();
    const stats = await apply(root, [dir('d/'), file('d/.wh..wh..opq', ''), file('d/new'), dir('d/sub2/')]);
    expect(stats.whiteouts).toBe(1);
    expect(await tree(root)).toEqual(['a/', 'a/f', 'a/g', 'd/', 'd/new', 'd/sub2/', 'top']);
  });

  it('keeps entries of the same layer written before the marker, drops lower ones below them too', async () => {
    const root = await lower();
    // d/sub comes from below; this layer writes d/sub/k (implicit d/sub) and d/keep, then the marker.
    await apply(root, [file('d/keep'), file('d/sub/k'), file('d/.wh..wh..opq', '')]);
    expect(await tree(root)).toEqual(['a/', 'a/f', 'a/g', 'd/', 'd/keep', 'd/sub/', 'd/sub/k', 'top']);
  });

  it('a re-declared lower directory keeps its metadata entry but loses its lower content', async () => {
    const root = await lower();
    await apply(root, [dir('d/'), dir('d/sub/', { mode: 0o700 }), file('d/.wh..wh..opq', '')]);
    expect(await tree(root)).toEqual(['a/', 'a/f', 'a/g', 'd/', 'd/sub/', 'top']);
  });

  it('creates the directory when it does not exist yet', async () => {
    const root = await lower();
    await apply(root, [file('n/.wh..wh..opq', '')]);
    expect(await tree(root)).toContain('n/');
  });

  it('at the top level removes every lower entry', async () => {
    const root = await lower();
    await apply(root, [file('.wh..wh..opq', ''), file('only')]);
    expect(await tree(root)).toEqual(['only']);
  });

  it('does not touch a sibling directory', async () => {
    const root = await lower();
    await apply(root, [file('a/.wh..wh..opq', '')]);
    expect(await tree(root)).toEqual(['a/', 'd/', 'd/sub/', 'd/sub/y', 'd/x', 'top']);
  });

  it('follows the usual docker layer order across two layers', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc/old.conf'), 'old');
    await apply(root, [dir('etc/'), file('etc/.wh..wh..opq', ''), file('etc/new.conf', 'new')]);
    await apply(root, [dir('etc/'), file('etc/.wh.new.conf', ''), symlinkEntry('etc/alias', 'new.conf')]);
    expect(await tree(root)).toEqual(['etc/', 'etc/alias -> new.conf']);
  });
});
