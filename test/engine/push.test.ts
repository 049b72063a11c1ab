// `wharf push` against a real `wharf serve`: Docker's lines (Preparing, Waiting, Pushed, Layer
// already exists, Mounted from, the digest line with the manifest size), -a, -q, a missing image,
// a schema2 manifest whose gzip layers unpack to the diff IDs, --oci, and layers pulled compressed
// pushed as stored. Also the progress rendering (lines off a terminal, Docker's bar on one).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventLine, LineReporter, progressText } from '../../src/cli/progress.js';
import { RegistryClient } from '../../src/client/client.js';
import { createImage } from '../../src/engine/new-image.js';
import { withLocalStore } from '../../src/engine/store.js';
import { makeLayer, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../support/oci-layout.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const short = (d: string) => d.slice(7, 19);
const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

interface LocalImage {
  id: string;
  /** Diff IDs, bottom first. */
  diffIds: string[];
}

/** A chain of local images (import-like base, then one file per child), the last tagged `name:tag`. */
async function makeLocalChain(root: string, files: string[], name: string, tag: string): Promise<LocalImage> {
  return withLocalStore(root, async (store) => {
    let parent: string | undefined;
    const diffIds: string[] = [];
    for (const [i, file] of files.entries()) {
      const layer = await makeLayer({ [file]: `content of ${file}\n`.repeat(200 * (i + 1)) });
      diffIds.push(layer.diffId);
      parent = await createImage(store, {
        ...(parent !== undefined ? { parent } : {}),
        layer: Readable.from([layer.gzip]),
        config: { Cmd: ['/bin/sh'] },
        history: { created_by: `test layer ${i}` },
        os: 'linux',
        architecture: HOST_ARCH,
        created: new Date(Date.UTC(2024, 0, 1, 0, 0, i)),
        ...(i === files.length - 1 ? { tag: { name, tag } } : {}),
      });
    }
    return { id: parent as string, diffIds };
  });
}

describe('wharf push to a Wharf registry', () => {
  let server: WharfProcess;
  let root: string;
  let client: RegistryClient;
  let app: LocalImage;
  const wharf = (...args: string[]): Promise<RunResult> =>
    run(process.execPath, [WHARF_BIN, ...args], { env: { ...process.env, WHARF_ROOT: root, HOME: root } });

  beforeAll(async () => {
    server = await startWharf();
    root = await tmpDir('wharf-push-');
    client = new RegistryClient({ host: server.host });
    app = await makeLocalChain(root, ['etc/base.txt', 'etc/app.txt'], `${server.host}/ns/app`, '1');
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await server?.cleanup();
    if (root) await removeTmpDir(root);
  });

  it('pushes a local image: Preparing then Pushed per layer (top first), the digest line with the manifest size', async () => {
    const r = await wharf('push', `${server.host}/ns/app:1`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [base = '', top = ''] = app.diffIds.map(short);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual([
      `The push refers to repository [${server.host}/ns/app]`,
      `${top}: Preparing`,
      `${base}: Preparing`,
    ]);
    expect(lines.slice(3, 5).sort()).toEqual([`${base}: Pushed`, `${top}: Pushed`].sort());
    const m = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/.exec(lines[5] ?? '');
    expect(m, r.stdout).not.toBeNull();
    expect(lines).toHaveLength(6);

    // What the registry holds: a Docker schema2 manifest of that digest and size, the config is
    // the image (its digest is the image ID), and each gzip layer unpacks to its diff ID.
    const manifest = await client.getManifest('ns/app', '1');
    expect(manifest.digest).toBe(m?.[1]);
    expect(manifest.bytes.length).toBe(Number(m?.[2]));
    expect(manifest.mediaType).toBe(DOCKER_MANIFEST);
    const body = JSON.parse(manifest.bytes.toString('utf8')) as {
      config: { mediaType: string; digest: string };
      layers: { mediaType: string; digest: string; size: number }[];
    };
    expect(body.config).toMatchObject({ mediaType: 'application/vnd.docker.container.image.v1+json', digest: app.id });
    expect(body.layers.map((l) => l.mediaType)).toEqual(
      app.diffIds.map(() => 'application/vnd.docker.image.rootfs.diff.tar.gzip'),
    );
    for (const [i, layer] of body.layers.entries()) {
      const chunks: Buffer[] = [];
      for await (const c of await client.getBlob('ns/app', layer.digest)) chunks.push(c as Buffer);
      const gz = Buffer.concat(chunks);
      expect(gz.length).toBe(layer.size);
      expect(sha256(gunzipSync(gz))).toBe(app.diffIds[i]);
    }

    // The RepoDigest is added locally.
    const digests = await wharf('images', '--digests', `${server.host}/ns/app`);
    expect(digests.stdout).toContain(m?.[1]);
  });

  it('a second push: Layer already exists (the compressed digests recorded at the first push), same manifest', async () => {
    const first = await client.getManifest('ns/app', '1');
    const r = await wharf('push', `${server.host}/ns/app:1`);
    expect(r.code, r.stderr).toBe(0);
    const [base = '', top = ''] = app.diffIds.map(short);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(1, 3)).toEqual([`${top}: Preparing`, `${base}: Preparing`]);
    expect(lines.slice(3, 5).sort()).toEqual([`${base}: Layer already exists`, `${top}: Layer already exists`].sort());
    expect(lines[5]).toBe(`1: digest: ${first.digest} size: ${first.bytes.length}`);
  });

  it('pushing the same layers into another repository of the registry mounts them', async () => {
    expect((await wharf('tag', `${server.host}/ns/app:1`, `${server.host}/ns/other:7`)).code).toBe(0);
    const r = await wharf('push', `${server.host}/ns/other:7`);
    expect(r.code, r.stderr).toBe(0);
    const [base = '', top = ''] = app.diffIds.map(short);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(3, 5).sort()).toEqual([`${base}: Mounted from ns/app`, `${top}: Mounted from ns/app`].sort());
    const first = await client.getManifest('ns/app', '1');
    expect(lines[5]).toBe(`7: digest: ${first.digest} size: ${first.bytes.length}`);
  });

  it('-a pushes every tag (sorted); -q prints only the reference; no tag means latest', async () => {
    expect((await wharf('tag', `${server.host}/ns/app:1`, `${server.host}/ns/app:2`)).code).toBe(0);
    const all = await wharf('push', '-a', `${server.host}/ns/app`);
    expect(all.code, all.stderr).toBe(0);
    const digestLines = all.stdout.split('\n').filter((l) => /: digest: /.test(l));
    expect(digestLines.map((l) => l.split(':')[0])).toEqual(['1', '2']);
    expect(all.stdout).not.toContain('Using default tag');

    const q = await wharf('push', '-q', `${server.host}/ns/app:2`);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toBe(`${server.host}/ns/app:2\n`);
    const qa = await wharf('push', '-a', '-q', `${server.host}/ns/app`);
    expect(qa.stdout).toBe(`${server.host}/ns/app\n`);

    expect((await wharf('tag', `${server.host}/ns/app:1`, `${server.host}/ns/app`)).code).toBe(0);
    const def = await wharf('push', `${server.host}/ns/app`);
    expect(def.stdout.split('\n').slice(0, 2)).toEqual([
      'Using default tag: latest',
      `The push refers to repository [${server.host}/ns/app]`,
    ]);
    expect(def.stdout).toMatch(/\nlatest: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
  });

  it("a missing image: Docker's message after the refers-to line; -a with a tag and a digest reference are refused", async () => {
    const r = await wharf('push', `${server.host}/ns/nothing`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`Using default tag: latest\nThe push refers to repository [${server.host}/ns/nothing]\n`);
    expect(r.stderr).toBe(`An image does not exist locally with the tag: ${server.host}/ns/nothing\n`);
    const hub = await wharf('push', 'someone/thing:1');
    expect(hub.stdout).toBe('The push refers to repository [docker.io/someone/thing]\n');
    expect(hub.stderr).toBe('An image does not exist locally with the tag: someone/thing\n');
    const tagged = await wharf('push', '-a', `${server.host}/ns/app:1`);
    expect(tagged.stderr).toBe("tag can't be used with --all-tags/-a\n");
    expect(tagged.stdout).toBe('');
    const digest = await wharf('push', `${server.host}/ns/app@sha256:${'a'.repeat(64)}`);
    expect(digest.stderr).toBe('cannot push a digest reference\n');
  });

  it('more than 5 layers: the ones beyond 5 concurrent uploads wait', async () => {
    const files = Array.from({ length: 7 }, (_, i) => `layers/file${i}`);
    const deep = await makeLocalChain(root, files, `${server.host}/ns/deep`, '1');
    const r = await wharf('push', `${server.host}/ns/deep:1`);
    expect(r.code, r.stderr).toBe(0);
    const ids = [...deep.diffIds].reverse().map(short);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(1, 10)).toEqual([
      ...ids.map((id) => `${id}: Preparing`),
      `${ids[5]}: Waiting`,
      `${ids[6]}: Waiting`,
    ]);
    expect(lines.filter((l) => l.endsWith(': Pushed'))).toHaveLength(7);
  });

  it('--oci pushes an OCI manifest', async () => {
    expect((await wharf('tag', `${server.host}/ns/app:1`, `${server.host}/ns/oci:1`)).code).toBe(0);
    const r = await wharf('push', '--oci', `${server.host}/ns/oci:1`);
    expect(r.code, r.stderr).toBe(0);
    const manifest = await client.getManifest('ns/oci', '1');
    expect(manifest.mediaType).toBe(OCI_MANIFEST);
    const body = JSON.parse(manifest.bytes.toString('utf8')) as {
      config: { mediaType: string };
      layers: { mediaType: string }[];
    };
    expect(body.config.mediaType).toBe(OCI_CONFIG);
    expect(body.layers.every((l) => l.mediaType === OCI_LAYER_GZIP)).toBe(true);
  });

  it('an image pulled compressed is pushed as stored: mounted on its registry, uploaded as is elsewhere', async () => {
    // An OCI image put on the server by the client, pulled, then pushed back and to a second server.
    const layer = await makeLayer({ 'srv/data': 'pulled layer\n'.repeat(500) });
    const layerDigest = sha256(layer.gzip);
    await client.pushBlob('src/img', layerDigest, layer.gzip.length, async () => Readable.from([layer.gzip]));
    const config = Buffer.from(
      JSON.stringify({
        architecture: HOST_ARCH,
        os: 'linux',
        created: '2024-02-01T00:00:00Z',
        config: {},
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      }),
    );
    await client.pushBlob('src/img', sha256(config), config.length, async () => Readable.from([config]));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
        layers: [{ mediaType: OCI_LAYER_GZIP, digest: layerDigest, size: layer.gzip.length }],
      }),
    );
    await client.putManifest('src/img', '1', manifest, OCI_MANIFEST);
    expect((await wharf('pull', `${server.host}/src/img:1`)).code).toBe(0);
    expect((await wharf('tag', `${server.host}/src/img:1`, `${server.host}/dst/img:1`)).code).toBe(0);
    const same = await wharf('push', `${server.host}/dst/img:1`);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain(`${short(layer.diffId)}: Mounted from src/img\n`);

    const other = await startWharf();
    const otherClient = new RegistryClient({ host: other.host });
    try {
      expect((await wharf('tag', `${server.host}/src/img:1`, `${other.host}/x/img:1`)).code).toBe(0);
      const r = await wharf('push', `${other.host}/x/img:1`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`${short(layer.diffId)}: Pushed\n`);
      // The very blob that was pulled: same digest, so no recompression happened.
      expect(await otherClient.blobExists('x/img', layerDigest)).toBe(layer.gzip.length);
    } finally {
      await otherClient.close();
      await other.cleanup();
    }
  });
});

describe('progress rendering', () => {
  it("Docker's bar and sizes (jsonmessage): 50 columns, 4 significant digits", () => {
    expect(progressText(0, 0)).toBe('');
    // int(7.32) / 2 = 3 columns done, 50 - 3 to go (Docker's bar is 51 wide)
    expect(progressText(2_163_000, 29_540_000)).toBe(`[===>${' '.repeat(47)}]  2.163MB/29.54MB`);
    expect(progressText(29_540_000, 29_540_000)).toBe(`[${'='.repeat(50)}>]  29.54MB/29.54MB`);
    expect(progressText(1234, 0)).toBe(' 1.234kB');
    expect(eventLine({ id: 'abc', status: 'Pushing', progress: { current: 500, total: 1000 } })).toBe(
      `abc: Pushing [${'='.repeat(25)}>${' '.repeat(25)}]     500B/1kB`,
    );
    expect(eventLine({ status: 'Digest: sha256:x' })).toBe('Digest: sha256:x');
  });

  it('off a terminal, only state changes are printed', () => {
    let out = '';
    const sink = {
      write: (text: string) => {
        out += text;
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const r = new LineReporter(sink);
    r.event({ id: 'a', status: 'Pulling fs layer' });
    r.event({ id: 'a', status: 'Downloading', progress: { current: 10, total: 100 } });
    r.event({ id: 'a', status: 'Download complete' });
    r.close();
    expect(out).toBe('a: Pulling fs layer\na: Download complete\n');
  });
});
