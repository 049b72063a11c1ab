import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/client.js';
import { makeLayer, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from '../support/oci-layout.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const short = (d: string) => d.slice(7, 19);

const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';

interface Pushed {
  manifestDigest: string;
  configDigest: string;
  layers: { digest: string; diffId: string }[];
}

async function pushBlob(client: RegistryClient, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  await client.pushBlob(repo, digest, bytes.length, async () => Readable.from([bytes]));
  return digest;
}

/** Pushes an OCI image of `files` (one layer per entry) under `ref` (tag), or only by digest when ref is undefined. */
async function pushImage(
  client: RegistryClient,
  repo: string,
  ref: string | undefined,
  layerFiles: Record<string, string>[],
  arch = HOST_ARCH,
): Promise<Pushed> {
  const layers: Pushed['layers'] = [];
  const descriptors = [];
  for (const files of layerFiles) {
    const layer = await makeLayer(files);
    const digest = await pushBlob(client, repo, layer.gzip);
    layers.push({ digest, diffId: layer.diffId });
    descriptors.push({ mediaType: OCI_LAYER_GZIP, digest, size: layer.gzip.length });
  }
  const config = json({
    created: '2024-01-01T00:00:00Z',
    architecture: arch,
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  const configDigest = await pushBlob(client, repo, config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: descriptors,
  });
  const manifestDigest = await client.putManifest(repo, ref ?? sha256(manifest), manifest, OCI_MANIFEST);
  return { manifestDigest, configDigest, layers };
}

describe('wharf pull / images / tag against a Wharf registry', () => {
  let server: WharfProcess;
  let root: string;
  let client: RegistryClient;
  let image: Pushed;
  const wharf = (...args: string[]): Promise<RunResult> =>
    run(process.execPath, [WHARF_BIN, ...args], { env: { ...process.env, WHARF_ROOT: root } });

  beforeAll(async () => {
    server = await startWharf();
    root = await tmpDir('wharf-engine-');
    client = new RegistryClient({ host: server.host });
    image = await pushImage(client, 'ns/img', '1', [{ 'etc/a': 'hello\n' }, { 'etc/b': 'world\n'.repeat(1000) }]);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await server?.cleanup();
    if (root) await removeTmpDir(root);
  });

  it('pulls an image with docker output lines and records it', async () => {
    const ref = `${server.host}/ns/img:1`;
    const r = await wharf('pull', ref);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [l0 = '', l1 = ''] = image.layers.map((l) => short(l.digest));
    const lines = r.stdout.split('\n');
    // Fixed frame; the download states of concurrent layers interleave in between.
    expect(lines.slice(0, 3)).toEqual(['1: Pulling from ns/img', `${l0}: Pulling fs layer`, `${l1}: Pulling fs layer`]);
    expect(lines.slice(-4)).toEqual([
      `Digest: ${image.manifestDigest}`,
      `Status: Downloaded newer image for ${ref}`,
      ref,
      '',
    ]);
    const middle = lines.slice(3, -4);
    expect(middle.sort()).toEqual(
      [l0, l1]
        .flatMap((id) => [`${id}: Download complete`, `${id}: Pull complete`, `${id}: Verifying Checksum`])
        .sort(),
    );
    const at = (line: string) => lines.indexOf(line);
    for (const id of [l0, l1]) {
      expect(at(`${id}: Verifying Checksum`)).toBeLessThan(at(`${id}: Download complete`));
      expect(at(`${id}: Download complete`)).toBeLessThan(at(`${id}: Pull complete`));
    }
    // Layers complete in order, as docker extracts them.
    expect(at(`${l0}: Pull complete`)).toBeLessThan(at(`${l1}: Pull complete`));
  });

  it('lists the image: ID = sha256 of the config, size = uncompressed, docker columns', async () => {
    const r = await wharf('images');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    // Docker's SIZE: the files' content (6 + 6000 bytes), not the tar or gzip length.
    const human = '6.01kB';
    expect(lines[1]?.split(/\s{3,}/)).toEqual([
      `${server.host}/ns/img`,
      '1',
      short(image.configDigest),
      expect.stringMatching(/^\d+ (years|months) ago$/),
      human,
    ]);
    const full = await wharf('images', '-q', '--no-trunc');
    expect(full.stdout).toBe(`${image.configDigest}\n`);
    const digests = await wharf('images', '--digests');
    expect(digests.stdout.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(digests.stdout).toContain(image.manifestDigest);
  });

  it('a second pull is up to date, without layer lines (as Docker); -q prints only the reference', async () => {
    const ref = `${server.host}/ns/img:1`;
    const r = await wharf('pull', ref);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        '1: Pulling from ns/img',
        `Digest: ${image.manifestDigest}`,
        `Status: Image is up to date for ${ref}`,
        ref,
        '',
      ].join('\n'),
    );
    const q = await wharf('pull', '-q', ref);
    expect(q.stdout).toBe(`${ref}\n`);
  });

  it('a new image sharing a layer says "Already exists" for it', async () => {
    const other = await pushImage(client, 'ns/other', undefined, [{ 'etc/a': 'hello\n' }, { 'etc/c': 'c\n' }]);
    const ref = `${server.host}/ns/other@${other.manifestDigest}`;
    const r = await wharf('pull', ref);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`${other.manifestDigest}: Pulling from ns/other`);
    expect(lines).toContain(`${short(other.layers[0]?.digest ?? '')}: Already exists`);
    expect(lines).toContain(`${short(other.layers[1]?.digest ?? '')}: Pull complete`);
    expect(lines.at(-3)).toBe(`Status: Downloaded newer image for ${ref}`);
    expect(lines.at(-2)).toBe(ref);
    const images = await wharf('images', `${server.host}/ns/other`);
    // A digest-only image matches a reference filter by its repository name, as in Docker.
    expect(images.stdout).toMatch(
      new RegExp(`\\n${server.host}/ns/other\\s+<none>\\s+${short(other.configDigest)}\\s`),
    );
    const all = await wharf('images');
    expect(all.stdout).toMatch(new RegExp(`${server.host}/ns/other\\s+<none>\\s+${short(other.configDigest)}`));
  });

  it('tags by name and by ID prefix; images shows both names with the same ID', async () => {
    expect((await wharf('tag', `${server.host}/ns/img:1`, 'myimg')).code).toBe(0);
    const byId = await wharf('tag', image.configDigest.slice(7, 15), 'alice/app:v2');
    expect(byId.stderr).toBe('');
    expect(byId.code).toBe(0);
    const r = await wharf('images', '--root', root);
    const rows = r.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s{3,}/));
    const id = short(image.configDigest);
    expect(
      rows
        .filter((row) => row[2] === id)
        .map((row) => `${row[0]}:${row[1]}`)
        .sort(),
    ).toEqual([`${server.host}/ns/img:1`, 'alice/app:v2', 'myimg:latest'].sort());
    const filtered = await wharf('images', '-q', 'myimg');
    expect(filtered.stdout).toBe(`${id}\n`);
  });

  it('tag of a missing image fails with docker wording', async () => {
    const r = await wharf('tag', 'nosuch', 'x:1');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error response from daemon: No such image: nosuch:latest\n');
    const bad = await wharf('tag', 'myimg', 'x@sha256:abc');
    expect(bad.code).toBe(1);
  });

  it('picks the host platform from an index, and --platform another; errors in docker wording', async () => {
    const amd = await pushImage(client, 'ns/multi', undefined, [{ 'etc/p': 'amd64\n' }], 'amd64');
    const arm = await pushImage(client, 'ns/multi', undefined, [{ 'etc/p': 'arm64\n' }], 'arm64');
    const manifestSize = async (d: string) => (await client.getManifest('ns/multi', d)).bytes.length;
    const index = json({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: amd.manifestDigest,
          size: await manifestSize(amd.manifestDigest),
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: arm.manifestDigest,
          size: await manifestSize(arm.manifestDigest),
          platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        },
      ],
    });
    const indexDigest = await client.putManifest('ns/multi', 'latest', index, OCI_INDEX);
    const ref = `${server.host}/ns/multi`;
    const host = await wharf('pull', ref);
    expect(host.code).toBe(0);
    expect(host.stdout.split('\n')[0]).toBe('Using default tag: latest');
    expect(host.stdout).toContain(`Digest: ${indexDigest}\n`);
    const hostImage = HOST_ARCH === 'arm64' ? arm : amd;
    expect((await wharf('images', '-q', '--no-trunc', ref)).stdout).toBe(`${hostImage.configDigest}\n`);

    const otherArch = HOST_ARCH === 'arm64' ? 'amd64' : 'arm64';
    const other = await wharf('pull', '--platform', `linux/${otherArch}`, `${ref}:latest`);
    expect(other.code).toBe(0);
    const otherImage = HOST_ARCH === 'arm64' ? amd : arm;
    expect((await wharf('images', '-q', '--no-trunc', ref)).stdout).toBe(`${otherImage.configDigest}\n`);

    const none = await wharf('pull', '--platform', 'linux/s390x', ref);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      'Error response from daemon: no matching manifest for linux/s390x in the manifest list entries\n',
    );
  });
});
