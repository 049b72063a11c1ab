// Interop with the Docker engine (DESIGN.md "Testing"): a private dockerd
// pushes to and pulls from a real `wharf serve` on 127.0.0.1 (plain HTTP),
// and users see what they see against any registry: "Pushed", the digest
// line, the same image ID after a pull, cross-repository mounts for shared
// layers and "manifest unknown" for a missing tag.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { sha256 } from '../support/oci-layout.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { interopDescribe } from '../support/tools.js';

const TIMEOUT = 120_000;
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

interopDescribe('docker push and pull against Wharf', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let wharf: WharfProcess;
  /** Short diffIDs (as `docker push` prints them) of the shared base layer and of each image's own layer. */
  let baseLayer: string;
  let appLayer: string;
  let otherLayer: string;
  let appId: string;
  let pushedDigest: string;

  const opts = { timeoutMs: TIMEOUT };

  async function imageId(ref: string): Promise<string> {
    return (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref], opts)).trim();
  }

  /** The image's layer diffIDs, shortened to 12 hex digits, bottom layer first. */
  async function shortLayers(ref: string): Promise<string[]> {
    const layers: unknown = JSON.parse(
      await d.dockerOk(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref], opts),
    );
    if (!Array.isArray(layers)) throw new Error(`unexpected RootFS.Layers: ${JSON.stringify(layers)}`);
    const hex = (layer: unknown): string => String(layer).replace(/^sha256:/, '');
    return layers.map((l) => hex(l).slice(0, 12));
  }

  beforeAll(async () => {
    [d, wharf] = await Promise.all([startDockerd(), startWharf()]);
    await makeBusyboxImage(d, 'study-base:1');
    appId = await commitLayer(d, 'study-base:1', 'study-app:1', 'etc/study/app.txt', 'app\n');
    // Shares the base layer with study-app, adds a layer of its own.
    await commitLayer(d, 'study-base:1', 'study-other:1', 'etc/study/other.txt', 'other\n');
    const app = await shortLayers('study-app:1');
    const other = await shortLayers('study-other:1');
    expect(app).toHaveLength(2);
    expect(other).toHaveLength(2);
    expect(app[0]).toBe(other[0]);
    [baseLayer, appLayer] = app as [string, string];
    otherLayer = other[1]!;
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), wharf?.cleanup()]);
  }, TIMEOUT);

  it(
    'docker push shows every layer Pushed and the digest line of the stored manifest',
    async () => {
      const ref = `${wharf.host}/study/app:1`;
      await d.dockerOk(['tag', 'study-app:1', ref], opts);
      const out = await d.dockerOk(['push', ref], opts);

      expect(out).toContain(`The push refers to repository [${wharf.host}/study/app]`);
      expect(out).toMatch(new RegExp(`^${baseLayer}: Pushed$`, 'm'));
      expect(out).toMatch(new RegExp(`^${appLayer}: Pushed$`, 'm'));
      const digestLine = out.match(/^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m);
      expect(digestLine, out).not.toBeNull();
      pushedDigest = digestLine![1]!;
      const size = Number(digestLine![2]);

      // The registry serves exactly that manifest under the tag.
      const res = await fetch(`${wharf.url}/v2/study/app/manifests/1`, { headers: { Accept: DOCKER_MANIFEST } });
      const body = Buffer.from(await res.arrayBuffer());
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(DOCKER_MANIFEST);
      expect(res.headers.get('docker-content-digest')).toBe(pushedDigest);
      expect(sha256(body)).toBe(pushedDigest);
      expect(body.length).toBe(size);
    },
    TIMEOUT,
  );

  it(
    'docker pull after docker rmi brings back the same image ID',
    async () => {
      const ref = `${wharf.host}/study/app:1`;
      await d.dockerOk(['rmi', ref, 'study-app:1'], opts);
      // Gone locally, so the pull has to fetch it (the base layer is still held by study-other).
      expect((await d.docker(['image', 'inspect', appId], opts)).code).not.toBe(0);

      const out = await d.dockerOk(['pull', ref], opts);
      expect(out).toContain('1: Pulling from study/app');
      expect(out).toContain('Pull complete');
      expect(out).toContain(`Digest: ${pushedDigest}`);
      expect(out).toContain(`Status: Downloaded newer image for ${ref}`);
      expect(await imageId(ref)).toBe(appId);
    },
    TIMEOUT,
  );

  it(
    'a second repository gets the shared base layer mounted, not uploaded again',
    async () => {
      const ref = `${wharf.host}/study/other:1`;
      await d.dockerOk(['tag', 'study-other:1', ref], opts);
      const out = await d.dockerOk(['push', ref], opts);

      expect(out).toContain(`The push refers to repository [${wharf.host}/study/other]`);
      expect(out).toMatch(new RegExp(`^${baseLayer}: (Mounted from study/app|Layer already exists)$`, 'm'));
      expect(out).not.toMatch(new RegExp(`^${baseLayer}: Pushed$`, 'm'));
      expect(out).toMatch(new RegExp(`^${otherLayer}: Pushed$`, 'm'));
      expect(out).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);

      // And it pulls back from there too.
      const id = await imageId(ref);
      await d.dockerOk(['rmi', ref, 'study-other:1'], opts);
      await d.dockerOk(['pull', ref], opts);
      expect(await imageId(ref)).toBe(id);
    },
    TIMEOUT,
  );

  it(
    'docker pull of a missing tag fails with manifest unknown',
    async () => {
      const ref = `${wharf.host}/study/app:missing`;
      const r = await d.docker(['pull', ref], opts);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`manifest for ${ref} not found: manifest unknown`);
    },
    TIMEOUT,
  );

  it(
    'the catalog lists both repositories and their tags',
    async () => {
      const catalog = await fetch(`${wharf.url}/v2/_catalog`);
      expect(catalog.status).toBe(200);
      expect(await catalog.json()).toEqual({ repositories: ['study/app', 'study/other'] });
      for (const name of ['study/app', 'study/other']) {
        const tags = await fetch(`${wharf.url}/v2/${name}/tags/list`);
        expect(tags.status).toBe(200);
        expect(await tags.json()).toEqual({ name, tags: ['1'] });
      }
    },
    TIMEOUT,
  );
});
