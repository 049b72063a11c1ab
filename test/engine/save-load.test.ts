// `wharf save` and `wharf load` between Wharf stores: the v25+ archive layout (each shared layer
// once), -o versus a redirect, the terminal refusal, compressed archives, the legacy (v24) layout,
// plain OCI layouts from skopeo, and Docker's output lines.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveTargetError } from '../../src/cli/archive-output.js';
import { imageConfig, makeTar, readTar, sha256, storeSnapshot, wharf, wharfOk } from '../support/archives.js';
import { busyboxRootfsTar } from '../support/rootfs.js';
import { interopDescribe, removeTmpDir, runOk, tmpDir } from '../support/tools.js';

let dir: string;
let root: string;
let rootfsDiffId: string;
const ids: Record<string, string> = {};

/** Image IDs by familiar `repo:tag`, as `wharf images` lists them. */
async function tagsOf(r: string): Promise<Record<string, string>> {
  const table = (await wharfOk(r, ['images', '--no-trunc'])).stdout.trimEnd().split('\n').slice(1);
  const map: Record<string, string> = {};
  for (const line of table) {
    const [repo, tag, id] = line.split(/\s{2,}/);
    map[`${repo}:${tag}`] = id as string;
  }
  return map;
}

beforeAll(async () => {
  dir = await tmpDir('wharf-save-load-');
  root = join(dir, 'root');
  const rootfs = await busyboxRootfsTar(dir);
  rootfsDiffId = sha256(await readFile(rootfs));
  // Two images on the same layer (same tar, different configs), a second tag, and a third image.
  ids.a = (await wharfOk(root, ['import', '-c', 'CMD ["a"]', rootfs, 'shared/a:1'])).stdout.trim();
  ids.b = (await wharfOk(root, ['import', '-c', 'CMD ["b"]', rootfs, 'shared/b:1'])).stdout.trim();
  await wharfOk(root, ['tag', 'shared/a:1', 'shared/a:2']);
  const other = await makeTar([{ name: 'other.txt', data: 'other\n' }]);
  ids.c = (await wharfOk(root, ['import', '-', 'other:1'], { input: other })).stdout.trim();
}, 60_000);

afterAll(async () => {
  if (dir) await removeTmpDir(dir);
});

describe('wharf save', () => {
  it('writes the v25 layout with a layer shared by two images once', async () => {
    const file = join(dir, 'shared.tar');
    await wharfOk(root, ['save', '-o', file, 'shared/a:1', 'shared/b:1']);
    const entries = await readTar(await readFile(file));
    const names = entries.map((e) => e.name);
    const layerName = `blobs/sha256/${rootfsDiffId.slice(7)}`;
    expect(names.filter((n) => n === layerName)).toHaveLength(1);
    expect(names).toEqual(expect.arrayContaining(['manifest.json', 'index.json', 'oci-layout', 'repositories']));
    // The layer is the uncompressed tar, named by its diff ID.
    expect(sha256(entries.find((e) => e.name === layerName)?.data ?? Buffer.alloc(0))).toBe(rootfsDiffId);
    const manifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')?.data.toString() ?? '') as {
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }[];
    expect(manifest).toEqual([
      { Config: `blobs/sha256/${ids.a?.slice(7)}`, RepoTags: ['shared/a:1'], Layers: [layerName] },
      { Config: `blobs/sha256/${ids.b?.slice(7)}`, RepoTags: ['shared/b:1'], Layers: [layerName] },
    ]);
    // Each config is stored under its image ID with its exact bytes.
    for (const m of manifest) {
      const config = entries.find((e) => e.name === m.Config);
      expect(sha256(config?.data ?? Buffer.alloc(0))).toBe(`sha256:${m.Config.split('/')[2]}`);
    }
    const index = JSON.parse(entries.find((e) => e.name === 'index.json')?.data.toString() ?? '') as {
      manifests: { annotations?: Record<string, string> }[];
    };
    expect(index.manifests.map((m) => m.annotations?.['io.containerd.image.name'])).toEqual([
      'docker.io/shared/a:1',
      'docker.io/shared/b:1',
    ]);
    expect(JSON.parse(entries.find((e) => e.name === 'repositories')?.data.toString() ?? '')).toEqual({
      'shared/a': { '1': rootfsDiffId.slice(7) },
      'shared/b': { '1': rootfsDiffId.slice(7) },
    });
  });

  it('saves every tag for a bare name, and no tags for an ID', async () => {
    const file = join(dir, 'byname.tar');
    await wharfOk(root, ['save', '-o', file, 'shared/a']);
    const manifest = JSON.parse(
      (await readTar(await readFile(file))).find((e) => e.name === 'manifest.json')?.data.toString() ?? '',
    ) as { RepoTags: string[] | null }[];
    expect(manifest.map((m) => m.RepoTags)).toEqual([['shared/a:1', 'shared/a:2']]);
    const byId = join(dir, 'byid.tar');
    await wharfOk(root, ['save', '-o', byId, ids.c?.slice(7, 19) ?? '']);
    const entries = await readTar(await readFile(byId));
    const idManifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')?.data.toString() ?? '') as {
      RepoTags: string[] | null;
    }[];
    expect(idManifest[0]?.RepoTags).toBeNull();
    expect(entries.map((e) => e.name)).not.toContain('repositories');
  });

  it('writes the same archive with -o as through a redirect, and refuses a terminal', async () => {
    const viaFile = join(dir, 'via-o.tar');
    await wharfOk(root, ['save', '-o', viaFile, 'shared/a:1', 'other:1']);
    const viaRedirect = join(dir, 'via-redirect.tar');
    await runOk('sh', [
      '-c',
      `node "$0" save shared/a:1 other:1 --root "$1" > "$2"`,
      ...[await wharfBin(), root, viaRedirect],
    ]);
    expect((await readFile(viaRedirect)).equals(await readFile(viaFile))).toBe(true);
    expect(saveTargetError(undefined, true)).toBe(
      'cowardly refusing to save to a terminal. Use the -o flag or redirect',
    );
    expect(saveTargetError('x.tar', true)).toBeUndefined();
    expect(saveTargetError(undefined, false)).toBeUndefined();
  });

  it('leaves no file (not even a partial one) when the save fails', async () => {
    const target = join(dir, 'failed', 'out.tar');
    await runOk('mkdir', ['-p', join(dir, 'failed')]);
    const r = await wharf(root, ['save', '-o', target, 'shared/a:1', 'nosuch:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error response from daemon: reference does not exist\n');
    expect(await readdir(join(dir, 'failed'))).toEqual([]);
  });
});

async function wharfBin(): Promise<string> {
  return (await import('../support/server.js')).WHARF_BIN;
}

describe('wharf load', () => {
  it('round-trips into a fresh store: same IDs, same tags', async () => {
    const file = join(dir, 'all.tar');
    await wharfOk(root, ['save', '-o', file, 'shared/a', 'shared/b:1', 'other:1']);
    const fresh = join(dir, 'fresh');
    const r = await wharfOk(fresh, ['load', '-i', file]);
    expect(r.stdout).toBe(
      'Loaded image: shared/a:1\nLoaded image: shared/a:2\nLoaded image: shared/b:1\nLoaded image: other:1\n',
    );
    expect(await tagsOf(fresh)).toEqual(await tagsOf(root));
    // Loading again changes nothing (same images, same tags).
    const before = await storeSnapshot(fresh);
    await wharfOk(fresh, ['load', '-q', '-i', file]);
    expect((await storeSnapshot(fresh)).files).toEqual(before.files);
  });

  it('says when a tag moves, and prints IDs when the last image is untagged', async () => {
    const fresh = join(dir, 'moves');
    const file = join(dir, 'a1.tar');
    await wharfOk(root, ['save', '-o', file, 'shared/a:1']);
    await wharfOk(fresh, ['load', '-i', file]);
    // An archive that points shared/a:1 at image b.
    const moved = join(dir, 'moved.tar');
    const entries = await readTar(await readFile(join(dir, 'shared.tar')));
    const rewritten = entries.map((e) =>
      e.name === 'manifest.json'
        ? {
            ...e,
            data: Buffer.from(
              e.data.toString().replace('"shared/b:1"', '"shared/a:1"').replace('["shared/a:1"],', '[],'),
            ),
          }
        : e,
    );
    await writeFile(
      moved,
      await makeTar(rewritten.filter((e) => e.type === 'file').map((e) => ({ name: e.name, data: e.data }))),
    );
    const r = await wharfOk(fresh, ['load', '-i', moved]);
    expect(r.stdout).toBe(
      `The image shared/a:1 already exists, renaming the old one with ID ${ids.a} to empty string\nLoaded image: shared/a:1\n`,
    );
    const untagged = join(dir, 'untagged.tar');
    await wharfOk(root, ['save', '-o', untagged, 'other:1', ids.a ?? '']);
    const u = await wharfOk(join(dir, 'untagged-root'), ['load', '-i', untagged]);
    expect(u.stdout).toBe(`Loaded image: other:1\nLoaded image ID: ${ids.c}\nLoaded image ID: ${ids.a}\n`);
  });

  for (const [format, args] of [
    ['gzip', ['gzip', '-c']],
    ['bzip2', ['bzip2', '-c']],
    ['xz', ['xz', '-c']],
    ['zstd', ['zstd', '-q', '-c']],
  ] as const) {
    it(`loads a ${format}-compressed archive`, async () => {
      const file = join(dir, 'all.tar');
      await wharfOk(root, ['save', '-o', file, 'shared/a:1', 'other:1']);
      const compressed = join(dir, `all.tar.${format}`);
      await runOk('sh', ['-c', `${args.join(' ')} "$0" > "$1"`, file, compressed]);
      const fresh = join(dir, `fresh-${format}`);
      // From stdin this time.
      const r = await wharfOk(fresh, ['load'], { input: await readFile(compressed) });
      expect(r.stdout).toBe('Loaded image: shared/a:1\nLoaded image: other:1\n');
      const tags = await tagsOf(fresh);
      expect(tags['shared/a:1']).toBe(ids.a);
      expect(tags['other:1']).toBe(ids.c);
    });
  }

  it('loads a legacy (docker v24 and earlier) archive built by hand, symlinked shared layer included', async () => {
    const base = await makeTar([{ name: 'base.txt', data: 'base\n' }]);
    const top = await makeTar([{ name: 'top.txt', data: 'top\n' }]);
    const baseConfig = imageConfig([sha256(base)]);
    const childConfig = imageConfig([sha256(base), sha256(top)], { created: '2024-02-03T04:05:06Z' });
    const baseHex = sha256(baseConfig).slice(7);
    const childHex = sha256(childConfig).slice(7);
    const v1 = (n: number) => String(n).repeat(64);
    const archive = await makeTar([
      { name: `${v1(1)}/`, type: 'directory' },
      { name: `${v1(1)}/VERSION`, data: '1.0' },
      { name: `${v1(1)}/json`, data: '{}' },
      { name: `${v1(1)}/layer.tar`, data: base },
      { name: `${v1(2)}/`, type: 'directory' },
      { name: `${v1(2)}/layer.tar`, type: 'symlink', linkname: `../${v1(1)}/layer.tar` },
      { name: `${v1(3)}/layer.tar`, data: top },
      { name: `${baseHex}.json`, data: baseConfig },
      { name: `${childHex}.json`, data: childConfig },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          { Config: `${baseHex}.json`, RepoTags: ['legacy/base:1'], Layers: [`${v1(1)}/layer.tar`] },
          {
            Config: `${childHex}.json`,
            RepoTags: ['legacy/child:1'],
            Layers: [`${v1(2)}/layer.tar`, `${v1(3)}/layer.tar`],
            Parent: `sha256:${baseHex}`,
          },
        ]),
      },
      { name: 'repositories', data: JSON.stringify({ 'legacy/base': { '1': v1(1) } }) },
    ]);
    const fresh = join(dir, 'legacy');
    const r = await wharfOk(fresh, ['load'], { input: archive });
    expect(r.stdout).toBe('Loaded image: legacy/base:1\nLoaded image: legacy/child:1\n');
    const tags = await tagsOf(fresh);
    expect(tags).toEqual({ 'legacy/base:1': `sha256:${baseHex}`, 'legacy/child:1': `sha256:${childHex}` });
    const snapshot = await storeSnapshot(fresh);
    const child = snapshot.rows.images?.find((i) => (i as { id: string }).id === `sha256:${childHex}`) as {
      parent: string;
    };
    expect(child.parent).toBe(`sha256:${baseHex}`);
    // Two layers and two configs: the v1 json/VERSION files and the manifest were not kept.
    expect(snapshot.files).toHaveLength(4);
  });
});

interopDescribe('wharf load of a plain OCI layout', ['skopeo'], () => {
  it('loads an oci-archive made by skopeo with gzip layers, named by its ref.name', async () => {
    const file = join(dir, 'for-skopeo.tar');
    await wharfOk(root, ['save', '-o', file, 'shared/a:1']);
    const oci = join(dir, 'image.oci.tar');
    await runOk('skopeo', [
      'copy',
      '--dest-compress',
      '--dest-compress-format',
      'gzip',
      `docker-archive:${file}`,
      `oci-archive:${oci}:wharf/oci:v1`,
    ]);
    const entries = (await readTar(await readFile(oci))).map((e) => e.name);
    expect(entries).not.toContain('manifest.json');
    const fresh = join(dir, 'oci');
    const r = await wharfOk(fresh, ['load', '-i', oci]);
    expect(r.stdout).toBe('Loaded image: wharf/oci:v1\n');
    const snapshot = await storeSnapshot(fresh);
    const layer = snapshot.rows.layers?.[0] as { media_type: string; diff_id: string; blob_digest: string };
    // Stored as it came (gzip), identified by its uncompressed diff ID.
    expect(layer.media_type).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(layer.diff_id).toBe(rootfsDiffId);
    expect(layer.blob_digest).not.toBe(rootfsDiffId);
    // And it saves back out uncompressed, loading with the same image ID.
    const tags = await tagsOf(fresh);
    const again = join(dir, 'oci-resaved.tar');
    await wharfOk(fresh, ['save', '-o', again, 'wharf/oci:v1']);
    const back = join(dir, 'oci-back');
    await wharfOk(back, ['load', '-i', again]);
    expect(await tagsOf(back)).toEqual(tags);
  });
});
