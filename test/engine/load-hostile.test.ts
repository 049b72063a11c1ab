// `wharf load` of bad, truncated and hostile archives: a clear error, and the store exactly as before
// (same database rows, same content files: nothing recorded, no blob left behind).
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageConfig, makeTar, sha256, storeSnapshot, type TarEntry, wharf, wharfOk } from '../support/archives.js';
import { busyboxRootfsTar } from '../support/rootfs.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

let dir: string;
let root: string;

/** A one-layer legacy-style archive around `layer`, with the config claiming `diffId`. */
async function archive(layer: Buffer, opts: { diffId?: string; extra?: TarEntry[]; layerName?: string } = {}) {
  const diffId = opts.diffId ?? sha256(layer);
  const config = imageConfig([diffId]);
  const configName = `${sha256(config).slice(7)}.json`;
  const layerName = opts.layerName ?? 'aaaa/layer.tar';
  return makeTar([
    { name: configName, data: config },
    { name: layerName, data: layer },
    ...(opts.extra ?? []),
    {
      name: 'manifest.json',
      data: JSON.stringify([{ Config: configName, RepoTags: ['hostile:1'], Layers: [layerName] }]),
    },
  ]);
}

async function expectRefused(bytes: Buffer, message: string | RegExp): Promise<void> {
  const file = join(dir, 'hostile.tar');
  await writeFile(file, bytes);
  const before = await storeSnapshot(root);
  // Run from a scratch directory: a `../x` entry must not appear next to it either.
  const cwd = join(dir, 'cwd', 'inner');
  await mkdir(cwd, { recursive: true });
  const r = await wharf(root, ['load', '-i', file], { cwd });
  expect(r.code).toBe(1);
  if (typeof message === 'string') expect(r.stderr).toBe(`${message}\n`);
  else expect(r.stderr).toMatch(message);
  expect(r.stdout).toBe('');
  expect(await storeSnapshot(root)).toEqual(before);
  expect(await readdir(join(dir, 'cwd'))).toEqual(['inner']);
  expect(await readdir(cwd)).toEqual([]);
}

describe('wharf load refuses bad archives and changes nothing', () => {
  let good: Buffer;

  beforeAll(async () => {
    dir = await tmpDir('wharf-load-hostile-');
    root = join(dir, 'root');
    // A store with one image in it, so "nothing changed" is checked against real content.
    const rootfs = await busyboxRootfsTar(dir);
    await wharfOk(root, ['import', rootfs, 'present:1']);
    good = await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/hello', data: 'hello\n' },
    ]);
  }, 60_000);

  afterAll(async () => {
    if (dir) await removeTmpDir(dir);
  });

  it('accepts the well-formed archive these cases are made from', async () => {
    const fresh = join(dir, 'fresh');
    const file = join(dir, 'good.tar');
    await writeFile(file, await archive(good));
    const r = await wharfOk(fresh, ['load', '-i', file]);
    expect(r.stdout).toBe('Loaded image: hostile:1\n');
  });

  it('refuses an archive without manifest.json', async () => {
    await expectRefused(
      await makeTar([
        { name: 'repositories', data: '{}' },
        { name: 'x/layer.tar', data: good },
      ]),
      'invalid archive: does not contain a manifest.json',
    );
  });

  it('refuses a layer whose content is not the diff ID the config names', async () => {
    const other = await makeTar([{ name: 'etc/other', data: 'other\n' }]);
    await expectRefused(
      await archive(good, { diffId: sha256(other) }),
      `invalid diffID for layer 0: expected "${sha256(other)}", got "${sha256(good)}"`,
    );
  });

  it('refuses a manifest listing more layers than the config', async () => {
    const config = imageConfig([sha256(good)]);
    const name = `${sha256(config).slice(7)}.json`;
    await expectRefused(
      await makeTar([
        { name, data: config },
        { name: 'a/layer.tar', data: good },
        { name: 'manifest.json', data: JSON.stringify([{ Config: name, Layers: ['a/layer.tar', 'a/layer.tar'] }]) },
      ]),
      'invalid manifest, layers length mismatch: expected 2, got 1',
    );
  });

  it('refuses a truncated archive', async () => {
    const whole = await archive(good);
    // Cut inside the layer's data (the config entry comes first).
    await expectRefused(whole.subarray(0, 2048 + 300), /^unexpected EOF\n$|invalid archive/);
  });

  it('refuses a truncated gzip archive', async () => {
    const { gzipSync } = await import('node:zlib');
    const whole = gzipSync(await archive(good));
    await expectRefused(whole.subarray(0, Math.floor(whole.length / 2)), /unexpected end of file|unexpected EOF/);
  });

  it('refuses outer entry names that climb out (../x) — names are only looked up, never used as paths', async () => {
    await expectRefused(
      await archive(good, { extra: [{ name: '../escaped', data: 'x' }] }),
      'invalid archive: entry "../escaped" escapes the archive',
    );
  });

  it('refuses absolute outer entry names', async () => {
    await expectRefused(
      await archive(good, { extra: [{ name: '/tmp/absolute', data: 'x' }] }),
      'invalid archive: entry "/tmp/absolute" has an absolute path',
    );
  });

  it('refuses outer symlinks that leave the archive', async () => {
    await expectRefused(
      await archive(good, { extra: [{ name: 'b/layer.tar', type: 'symlink', linkname: '../../etc/passwd' }] }),
      'invalid archive: link "b/layer.tar" points outside the archive (../../etc/passwd)',
    );
    await expectRefused(
      await archive(good, { extra: [{ name: 'b/layer.tar', type: 'symlink', linkname: '/etc/passwd' }] }),
      'invalid archive: link "b/layer.tar" points to an absolute path "/etc/passwd"',
    );
  });

  it('refuses a layer with a ../ entry', async () => {
    const layer = await makeTar([{ name: '../../etc/evil', data: 'x' }]);
    await expectRefused(await archive(layer), /^unsafe layer aaaa\/layer\.tar: .*"\.\." component\n$/);
  });

  it('refuses a layer that writes through its own symlink to outside (symlink escape)', async () => {
    const layer = await makeTar([
      { name: 'escape', type: 'symlink', linkname: '/etc' },
      { name: 'escape/passwd', data: 'root::0:0::/:/bin/sh\n' },
    ]);
    await expectRefused(
      await archive(layer),
      'unsafe layer aaaa/layer.tar: entry "escape/passwd" is written through the symbolic link "escape" of the same layer',
    );
  });

  it('refuses a layer with a hardlink whose target climbs out', async () => {
    const layer = await makeTar([{ name: 'passwd', type: 'link', linkname: '../../etc/passwd' }]);
    await expectRefused(await archive(layer), /^unsafe layer aaaa\/layer\.tar: .*hardlink target.*"\.\." component\n$/);
  });

  it('refuses a layer that is not a tar', async () => {
    const junk = Buffer.from('this is not a tar file at all\n'.repeat(40));
    await expectRefused(await archive(junk), /^invalid layer aaaa\/layer\.tar: not a valid layer tar/);
  });

  it('leaves no file behind when the layer is not in the archive', async () => {
    const config = imageConfig([sha256(good)]);
    const name = `${sha256(config).slice(7)}.json`;
    await expectRefused(
      await makeTar([
        { name, data: config },
        { name: 'manifest.json', data: JSON.stringify([{ Config: name, Layers: ['gone/layer.tar'] }]) },
      ]),
      'invalid archive: layer "gone/layer.tar" is not in the archive',
    );
    expect(existsSync(join(dir, 'cwd', 'gone'))).toBe(false);
  });
});
