// The registry on S3 storage (issue 12): a Wharf with storage.driver s3 on a real S3 server,
// OpenStack Swift with s3api (test/support/swift.ts). skopeo copies a multi-layer image in and
// out, one layer larger than several 5 MiB parts, so that uploads go through multipart uploads;
// the blobs land in the bucket, not on the node's disk.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { S3Driver } from '../../src/storage/drivers/s3.js';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { type LayoutImage, readBlob, readLayoutImage } from '../support/oci-layout.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { skopeoOk } from '../support/skopeo.js';
import { createSwiftBucket, SWIFT_TOOLS, type SwiftStore, startSwift } from '../support/swift.js';
import { freePort, interopDescribe, removeTmpDir, runOk, tmpDir } from '../support/tools.js';

const TIMEOUT = 240_000;
const BUCKET = 'wharf-registry';

/** A umoci image of two layers: a small file, then 12 MiB of random (incompressible) bytes. */
async function buildImage(work: string, layout: string): Promise<void> {
  const image = `${layout}:v1`;
  const bundle = join(work, 'bundle');
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', image]);
  await runOk('umoci', ['unpack', '--rootless', '--image', image, bundle]);
  const etc = join(bundle, 'rootfs', 'etc');
  await mkdir(etc, { recursive: true });
  await writeFile(join(etc, 'small.txt'), 'small layer\n');
  await runOk('umoci', ['repack', '--refresh-bundle', '--image', image, bundle]);
  await writeFile(join(etc, 'big.bin'), randomBytes(12 * 1024 * 1024));
  await runOk('umoci', ['repack', '--image', image, bundle]);
}

interopDescribe('Wharf on S3 storage (Swift): skopeo', [...SWIFT_TOOLS, 'skopeo', 'umoci'], () => {
  let store: SwiftStore;
  let wharf: WharfProcess;
  /** The same bucket and settings, with storage.redirect on. */
  let redirecting: WharfProcess;
  let work: string;
  let source: LayoutImage;
  let s3: S3Driver;

  beforeAll(async () => {
    [store, work] = await Promise.all([startSwift(), tmpDir('wharf-s3-interop')]);
    s3 = await createSwiftBucket(store.endpoint, BUCKET);
    const env = {
      WHARF_STORAGE_DRIVER: 's3',
      WHARF_STORAGE_S3_BUCKET: BUCKET,
      WHARF_STORAGE_S3_ENDPOINT: store.endpoint,
      WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true',
      WHARF_STORAGE_S3_PREFIX: 'registry',
      // Credentials the standard AWS way, from the environment.
      AWS_ACCESS_KEY_ID: store.accessKeyId,
      AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
    };
    [wharf, redirecting] = await Promise.all([
      startWharf({ env }),
      startWharf({ env: { ...env, WHARF_STORAGE_REDIRECT: 'true', WHARF_STORAGE_S3_PREFIX: 'redirecting' } }),
    ]);
    await buildImage(work, join(work, 'src'));
    source = await readLayoutImage(join(work, 'src'), 'v1');
    expect(source.manifest.layers.length).toBe(2);
    expect(Math.max(...source.manifest.layers.map((l) => l.size))).toBeGreaterThan(2 * 5 * 1024 * 1024);
  }, TIMEOUT);

  afterAll(async () => {
    await wharf?.cleanup();
    await redirecting?.cleanup();
    await store?.stop();
    if (work) await removeTmpDir(work);
  }, TIMEOUT);

  it(
    'skopeo copies a multi-layer image in and out with the same digests; the blobs are in the bucket',
    async () => {
      const remote = `docker://${wharf.host}/ns/big:v1`;
      await skopeoOk(['copy', '--dest-tls-verify=false', `oci:${join(work, 'src')}:v1`, remote]);
      const out = join(work, 'out');
      await skopeoOk(['copy', '--src-tls-verify=false', remote, `oci:${out}:v1`]);
      const pulled = await readLayoutImage(out, 'v1');
      expect(pulled.descriptor.digest).toBe(source.descriptor.digest);
      expect(pulled.manifest.config.digest).toBe(source.manifest.config.digest);
      expect(pulled.manifest.layers.map((l) => l.digest)).toEqual(source.manifest.layers.map((l) => l.digest));
      for (const layer of pulled.manifest.layers) expect((await readBlob(out, layer.digest)).length).toBe(layer.size);

      // Every layer is an object in the bucket, of the layer's size; no blob on the node's disk.
      const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'registry/' }));
      const sizes = new Map((listed.Contents ?? []).map((o) => [o.Key ?? '', Number(o.Size)]));
      for (const layer of source.manifest.layers) {
        const hex = layer.digest.slice('sha256:'.length);
        const key = [...sizes.keys()].find((k) => k.includes(hex));
        expect(key, `layer ${layer.digest} in the bucket`).toBeDefined();
        expect(sizes.get(key ?? '')).toBe(layer.size);
      }
      const onDisk = await readdir(wharf.dataDir, { recursive: true });
      expect(onDisk.filter((f) => String(f).includes(source.manifest.layers[1]?.digest.slice(7) ?? '?'))).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'the empty blob: POST then a bodiless PUT, and a PUT with an empty body, answer 201 at once; GET gives 0 bytes',
    async () => {
      const empty = `sha256:${createHash('sha256').update('').digest('hex')}`;
      for (const body of [undefined, Buffer.alloc(0)]) {
        const started = await fetch(`${wharf.url}/v2/ns/empty/blobs/uploads/`, { method: 'POST' });
        expect(started.status).toBe(202);
        const location = new URL(started.headers.get('location') ?? '', wharf.url);
        location.searchParams.set('digest', empty);
        const t0 = Date.now();
        const put = await fetch(location, {
          method: 'PUT',
          ...(body ? { body, headers: { 'content-type': 'application/octet-stream' } } : {}),
        });
        expect(put.status, await put.clone().text()).toBe(201);
        // It once waited 30 s for "another node" to finish, then answered 503.
        expect(Date.now() - t0).toBeLessThan(5_000);
      }
      const got = await fetch(`${wharf.url}/v2/ns/empty/blobs/${empty}`);
      expect(got.status).toBe(200);
      expect((await got.arrayBuffer()).byteLength).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'an unreachable object store: a blob push answers 503 UNAVAILABLE and records nothing',
    async () => {
      const dead = await startWharf({
        env: { ...s3Env(store, 'dead'), WHARF_STORAGE_S3_ENDPOINT: `http://127.0.0.1:${await freePort()}` },
      });
      try {
        const data = Buffer.from('a layer that cannot be stored\n');
        const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
        const res = await fetch(`${dead.url}/v2/ns/dead/blobs/uploads/?digest=${digest}`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: data,
        });
        expect(res.status).toBe(503);
        const body = (await res.json()) as { errors: { code: string; message: string }[] };
        expect(body.errors[0]?.code).toBe('UNAVAILABLE');
        expect(body.errors[0]?.message).toContain('blob storage is unavailable');
        const head = await fetch(`${dead.url}/v2/ns/dead/blobs/${digest}`, { method: 'HEAD' });
        expect(head.status).toBe(404);
      } finally {
        await dead.cleanup();
      }
    },
    TIMEOUT,
  );

  it(
    'with storage.redirect, a blob GET answers 307 to a presigned URL that fetch follows to the right bytes; skopeo pulls through it',
    async () => {
      const remote = `docker://${redirecting.host}/ns/redirected:v1`;
      await skopeoOk(['copy', '--dest-tls-verify=false', `oci:${join(work, 'src')}:v1`, remote]);
      const layer = source.manifest.layers[1];
      if (!layer) throw new Error('no second layer');
      const url = `${redirecting.url}/v2/ns/redirected/blobs/${layer.digest}`;
      const res = await fetch(url, { redirect: 'manual' });
      expect(res.status).toBe(307);
      const location = res.headers.get('location') ?? '';
      expect(location.startsWith(`${store.endpoint}/${BUCKET}/redirecting/blobs/sha256/`)).toBe(true);
      expect(location).toContain('X-Amz-Signature=');
      // HEAD is answered by the node, from the metadata.
      const head = await fetch(url, { method: 'HEAD', redirect: 'manual' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(layer.size));

      const followed = await fetch(url);
      expect(followed.status).toBe(200);
      const body = Buffer.from(await followed.arrayBuffer());
      expect(`sha256:${createHash('sha256').update(body).digest('hex')}`).toBe(layer.digest);
      // A tampered signature is refused by the store: the URL really is signed.
      const forged = await fetch(
        location.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`),
      );
      expect(forged.status).toBe(403);

      const out = join(work, 'out-redirected');
      await skopeoOk(['copy', '--src-tls-verify=false', remote, `oci:${out}:v1`]);
      const pulled = await readLayoutImage(out, 'v1');
      expect(pulled.manifest.layers.map((l) => l.digest)).toEqual(source.manifest.layers.map((l) => l.digest));
      for (const l of pulled.manifest.layers) expect((await readBlob(out, l.digest)).length).toBe(l.size);
    },
    TIMEOUT,
  );
});

/** The settings of a Wharf on `store`'s bucket, credentials from the AWS environment variables. */
function s3Env(store: SwiftStore, prefix: string): NodeJS.ProcessEnv {
  return {
    WHARF_STORAGE_DRIVER: 's3',
    WHARF_STORAGE_S3_BUCKET: BUCKET,
    WHARF_STORAGE_S3_ENDPOINT: store.endpoint,
    WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true',
    WHARF_STORAGE_S3_PREFIX: prefix,
    AWS_ACCESS_KEY_ID: store.accessKeyId,
    AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
  };
}

// Its own Swift (a store per block, so that each block's guard covers what it starts).
interopDescribe(
  'Wharf on S3 storage (Swift): the Docker engine',
  [...SWIFT_TOOLS, 'dockerd', 'docker', 'busybox'],
  () => {
    let store: SwiftStore;
    let d: Dockerd;
    let wharf: WharfProcess;
    const opts = { timeoutMs: TIMEOUT };

    beforeAll(async () => {
      [store, d] = await Promise.all([startSwift(), startDockerd()]);
      await createSwiftBucket(store.endpoint, BUCKET);
      // Request lines (info) show whether blobs were answered with 307.
      wharf = await startWharf({
        env: { ...s3Env(store, 'docker'), WHARF_STORAGE_REDIRECT: 'true', WHARF_LOG_LEVEL: 'info' },
      });
    }, TIMEOUT);

    afterAll(async () => {
      await Promise.all([d?.stop(), wharf?.cleanup()]);
      await store?.stop();
    }, TIMEOUT);

    it(
      'docker pushes a two-layer image and pulls it back through 307 redirects to the store, same image ID',
      async () => {
        await makeBusyboxImage(d, 's3-base:1');
        // 8 MiB of random bytes: a layer of more than one 5 MiB part.
        const id = await commitLayer(d, 's3-base:1', 's3-app:1', 'data/random.bin', randomBytes(8 * 1024 * 1024));
        const ref = `${wharf.host}/s3/app:1`;
        await d.dockerOk(['tag', 's3-app:1', ref], opts);
        await d.dockerOk(['push', ref], opts);
        await d.dockerOk(['rmi', ref, 's3-app:1'], opts);
        await d.dockerOk(['pull', ref], opts);
        expect((await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref], opts)).trim()).toBe(id);
        // The layers came from the store: the node answered their GETs with 307.
        const redirected = wharf
          .log()
          .split('\n')
          .filter((line) => line.includes('/blobs/sha256:') && line.includes('"status":307'));
        expect(redirected.length, wharf.log()).toBeGreaterThanOrEqual(2);
      },
      TIMEOUT,
    );
  },
);
