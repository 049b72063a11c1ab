// Checks the interop test support itself: a private dockerd starts, images are
// made with real docker commands (import + commit), and push/pull against the
// reference registry on 127.0.0.1 (plain HTTP) round-trips.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { canRunContainers, commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from './dockerd.js';
import { type ReferenceRegistry, startReferenceRegistry } from './reference-registry.js';
import { interopDescribe } from './tools.js';

interopDescribe('test support: private dockerd', ['dockerd', 'docker', 'busybox', 'docker-registry'], () => {
  let d: Dockerd;
  let registry: ReferenceRegistry;

  beforeAll(async () => {
    const started = Date.now();
    [d, registry] = await Promise.all([startDockerd(), startReferenceRegistry()]);
    console.log(`dockerd ready in ${Date.now() - started} ms, storage driver ${d.storageDriver}`);
  });

  afterAll(async () => {
    await Promise.all([d?.stop(), registry?.stop()]);
  });

  it('builds a two-layer image with import + commit', async () => {
    const baseId = await makeBusyboxImage(d, 'selftest-base:1');
    expect(baseId).toMatch(/^sha256:[0-9a-f]{64}$/);
    const id = await commitLayer(d, 'selftest-base:1', 'selftest:1', 'etc/selftest/hello.txt', 'hello\n');
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const layers: unknown = JSON.parse(
      await d.dockerOk(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', 'selftest:1']),
    );
    expect(Array.isArray(layers) && layers.length).toBe(2);
    console.log(`docker run --network none works: ${await canRunContainers(d, 'selftest:1')}`);
  });

  it('pushes to and pulls from the reference registry', async () => {
    const ref = `${registry.host}/selftest:1`;
    const id = (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', 'selftest:1'])).trim();
    await d.dockerOk(['tag', 'selftest:1', ref]);
    await d.dockerOk(['push', ref]);
    // Remove every name of the image so the pull must fetch it back.
    await d.dockerOk(['rmi', ref, 'selftest:1']);
    expect((await d.docker(['image', 'inspect', id])).code).not.toBe(0);
    await d.dockerOk(['pull', ref]);
    expect((await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref])).trim()).toBe(id);
    const res = await fetch(`${registry.url}/v2/selftest/tags/list`);
    expect(await res.json()).toEqual({ name: 'selftest', tags: ['1'] });
  });
});
