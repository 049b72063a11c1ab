// Interop with skopeo and umoci (DESIGN.md "Testing"): OCI images built by
// umoci, or by hand as a multi-platform index, go into Wharf with
// `skopeo copy` and come back out byte for byte; inspect, list-tags and
// delete behave as users expect against a plain-HTTP registry on 127.0.0.1.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Descriptor,
  type LayoutImage,
  type MultiPlatformLayout,
  OCI_INDEX,
  OCI_MANIFEST,
  parseIndex,
  readBlob,
  readLayoutImage,
  sha256,
  writeMultiPlatformLayout,
} from '../support/oci-layout.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { skopeo, skopeoOk } from '../support/skopeo.js';
import { interopDescribe, removeTmpDir, runOk, tmpDir } from '../support/tools.js';

const TIMEOUT = 120_000;
const CMD = ['/bin/hello', 'world'];

async function listTags(ref: string): Promise<string[]> {
  const out: unknown = JSON.parse(await skopeoOk(['list-tags', '--tls-verify=false', ref]));
  if (typeof out !== 'object' || out === null || !('Tags' in out) || !Array.isArray(out.Tags)) {
    throw new Error(`unexpected skopeo list-tags output: ${JSON.stringify(out)}`);
  }
  return out.Tags.map(String);
}

/** `umoci` image with two layers (each adds a file) and a Cmd, tagged `tag` in `layoutDir`. */
async function buildUmociImage(workDir: string, layoutDir: string, tag: string): Promise<void> {
  const image = `${layoutDir}:${tag}`;
  const bundle = join(workDir, 'bundle');
  await runOk('umoci', ['init', '--layout', layoutDir]);
  await runOk('umoci', ['new', '--image', image]);
  await runOk('umoci', ['unpack', '--rootless', '--image', image, bundle]);
  const etc = join(bundle, 'rootfs', 'etc');
  await mkdir(etc, { recursive: true });
  await writeFile(join(etc, 'first.txt'), 'first layer\n');
  // --refresh-bundle: the next repack diffs against this layer, not the empty base.
  await runOk('umoci', ['repack', '--refresh-bundle', '--image', image, bundle]);
  await writeFile(join(etc, 'second.txt'), 'second layer\n');
  await runOk('umoci', ['repack', '--image', image, bundle]);
  await runOk('umoci', ['config', '--image', image, ...CMD.flatMap((c) => ['--config.cmd', c])]);
}

interopDescribe('skopeo and umoci against Wharf', ['skopeo', 'umoci'], () => {
  let wharf: WharfProcess;
  let work: string;

  beforeAll(async () => {
    [wharf, work] = await Promise.all([startWharf(), tmpDir('wharf-skopeo')]);
  }, TIMEOUT);

  afterAll(async () => {
    await wharf?.cleanup();
    if (work) await removeTmpDir(work);
  }, TIMEOUT);

  describe('a multi-layer umoci image', () => {
    let src: string;
    let source: LayoutImage;

    beforeAll(async () => {
      src = join(work, 'umoci-src');
      await buildUmociImage(work, src, 'v1');
      source = await readLayoutImage(src, 'v1');
      // The fixture itself: two layers and the Cmd, or the test proves little.
      expect(source.manifest.layers.length).toBeGreaterThanOrEqual(2);
    }, TIMEOUT);

    it(
      'goes in with skopeo copy and comes back out with identical manifest, config and layer digests',
      async () => {
        const remote = `docker://${wharf.host}/ns/img:v1`;
        const copyIn = await skopeoOk(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, remote]);
        expect(copyIn).toContain('Writing manifest to image destination');

        const out = join(work, 'umoci-out');
        await skopeoOk(['copy', '--src-tls-verify=false', remote, `oci:${out}:v1`]);
        const pulled = await readLayoutImage(out, 'v1');

        expect(pulled.descriptor.digest).toBe(source.descriptor.digest);
        expect(pulled.bytes.equals(source.bytes)).toBe(true);
        expect(pulled.manifest.config.digest).toBe(source.manifest.config.digest);
        expect(pulled.manifest.layers.map((l) => l.digest)).toEqual(source.manifest.layers.map((l) => l.digest));
        // Every blob arrived whole (readBlob checks each against its digest).
        for (const layer of pulled.manifest.layers) {
          expect((await readBlob(out, layer.digest)).length).toBe(layer.size);
        }
        const config: unknown = JSON.parse((await readBlob(out, pulled.manifest.config.digest)).toString());
        expect(config).toMatchObject({ config: { Cmd: CMD } });
      },
      TIMEOUT,
    );

    it(
      'skopeo inspect --raw returns exactly the pushed manifest, and inspect lists the layers',
      async () => {
        const remote = `docker://${wharf.host}/ns/img:v1`;
        const raw = await skopeoOk(['inspect', '--tls-verify=false', '--raw', remote]);
        expect(raw).toBe(source.bytes.toString());

        const info: unknown = JSON.parse(await skopeoOk(['inspect', '--tls-verify=false', remote]));
        expect(info).toMatchObject({
          Name: `${wharf.host}/ns/img`,
          Digest: source.descriptor.digest,
          Architecture: 'amd64',
          Os: 'linux',
          Layers: source.manifest.layers.map((l) => l.digest),
        });

        const config: unknown = JSON.parse(await skopeoOk(['inspect', '--tls-verify=false', '--config', remote]));
        expect(config).toMatchObject({ config: { Cmd: CMD } });
      },
      TIMEOUT,
    );

    it(
      'skopeo list-tags lists every tag pushed',
      async () => {
        await skopeoOk(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${wharf.host}/ns/img:v2`]);
        const tags = await listTags(`docker://${wharf.host}/ns/img`);
        expect([...tags].sort()).toEqual(['v1', 'v2']);
      },
      TIMEOUT,
    );

    it(
      'skopeo delete removes the manifest by digest, with every tag pointing at it',
      async () => {
        // A repository of its own, so the other tests' tags are untouched.
        const repo = `docker://${wharf.host}/ns/gone`;
        await skopeoOk(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `${repo}:a`]);
        await skopeoOk(['copy', '--dest-tls-verify=false', `oci:${src}:v1`, `${repo}:b`]);
        expect([...(await listTags(repo))].sort()).toEqual(['a', 'b']);

        await skopeoOk(['delete', '--tls-verify=false', `${repo}:a`]);

        // skopeo resolves the tag and deletes the manifest by digest: both tags go.
        for (const tag of ['a', 'b']) {
          const inspect = await skopeo(['inspect', '--tls-verify=false', `${repo}:${tag}`]);
          expect(inspect.code).not.toBe(0);
          expect(inspect.stderr).toContain('manifest unknown');
        }
        const byDigest = await skopeo(['inspect', '--tls-verify=false', `${repo}@${source.descriptor.digest}`]);
        expect(byDigest.code).not.toBe(0);
        expect(byDigest.stderr).toContain('manifest unknown');
        expect(await listTags(repo)).toEqual([]);

        // The same manifest in another repository is not affected.
        const kept = await skopeoOk(['inspect', '--tls-verify=false', '--raw', `docker://${wharf.host}/ns/img:v1`]);
        expect(kept).toBe(source.bytes.toString());
      },
      TIMEOUT,
    );
  });

  describe('a multi-platform image (OCI index with linux/amd64 and linux/arm64)', () => {
    let src: string;
    let layout: MultiPlatformLayout;
    const remote = (): string => `docker://${wharf.host}/ns/multi:1`;

    beforeAll(async () => {
      src = join(work, 'multi-src');
      layout = await writeMultiPlatformLayout(src, 'multi', [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ]);
    }, TIMEOUT);

    it(
      'skopeo copy --all stores the index unchanged, served with its media type and digest',
      async () => {
        await skopeoOk(['copy', '--all', '--dest-tls-verify=false', `oci:${src}:multi`, remote()]);

        const res = await fetch(`${wharf.url}/v2/ns/multi/manifests/1`, { headers: { Accept: OCI_INDEX } });
        const body = Buffer.from(await res.arrayBuffer());
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe(OCI_INDEX);
        expect(res.headers.get('docker-content-digest')).toBe(layout.index.digest);
        expect(sha256(body)).toBe(layout.index.digest);
        expect(body.equals(await readBlob(src, layout.index.digest))).toBe(true);
        const index = parseIndex(body);
        expect(index.manifests.map((m) => m.digest)).toEqual([...layout.manifests.values()].map((m) => m.digest));

        // Each platform's manifest is there by digest too.
        for (const m of layout.manifests.values()) {
          const r = await fetch(`${wharf.url}/v2/ns/multi/manifests/${m.digest}`, {
            headers: { Accept: OCI_MANIFEST },
          });
          expect(r.status).toBe(200);
          expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(m.digest);
        }
      },
      TIMEOUT,
    );

    for (const arch of ['arm64', 'amd64']) {
      it(
        `skopeo copy --override-arch ${arch} pulls the linux/${arch} manifest`,
        async () => {
          const expected: Descriptor | undefined = layout.manifests.get(`linux/${arch}`);
          if (expected === undefined) throw new Error(`fixture has no linux/${arch}`);
          const out = join(work, `multi-out-${arch}`);
          await skopeoOk([
            '--override-arch',
            arch,
            '--override-os',
            'linux',
            'copy',
            '--src-tls-verify=false',
            remote(),
            `oci:${out}:t`,
          ]);
          const pulled = await readLayoutImage(out, 't');
          expect(pulled.descriptor.digest).toBe(expected.digest);
          expect(pulled.manifest).toEqual(layout.images.get(`linux/${arch}`));
          const config: unknown = JSON.parse((await readBlob(out, pulled.manifest.config.digest)).toString());
          expect(config).toMatchObject({ os: 'linux', architecture: arch });
          for (const layer of pulled.manifest.layers) await readBlob(out, layer.digest);
        },
        TIMEOUT,
      );
    }
  });
});
