// Issue 11, "Must show" 1, with the real Docker engine: two images sharing a base layer are pushed
// to two repositories; one tag is deleted through the API (DELETE /v2/<name>/manifests/<tag>);
// after the review delay `wharf gc` (run against the live server's data directory) removes the
// unique layer and config — `du -sb` of the blob directory drops by their bytes — while the
// shared base layer stays and the other repository still pulls with the same image ID.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { interopDescribe, runOk, sleep } from '../support/tools.js';

const TIMEOUT = 240_000;
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

interface Descriptor {
  digest: string;
  size: number;
}
interface DockerManifest {
  config: Descriptor;
  layers: Descriptor[];
}

interopDescribe('garbage collection with the Docker engine', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let wharf: WharfProcess;
  const opts = { timeoutMs: TIMEOUT };

  beforeAll(async () => {
    [d, wharf] = await Promise.all([
      startDockerd(),
      startWharf({ env: { WHARF_GC_REVIEW_DELAY: '1s', WHARF_GC_INTERVAL: '1h' } }),
    ]);
    await makeBusyboxImage(d, 'gc-base:1');
    // A 1 MiB incompressible file makes the unique layer's bytes stand out in `du`.
    await commitLayer(d, 'gc-base:1', 'gc-app:1', 'opt/app.bin', randomBytes(1024 * 1024));
    await commitLayer(d, 'gc-base:1', 'gc-other:1', 'opt/other.txt', 'other\n');
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), wharf?.cleanup()]);
  }, TIMEOUT);

  const blobBytes = async () =>
    Number((await runOk('du', ['-sb', join(wharf.dataDir, 'blobs')])).stdout.split(/\s+/)[0]);

  async function manifestOf(repo: string, tag: string): Promise<DockerManifest> {
    const res = await fetch(`${wharf.url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: DOCKER_MANIFEST } });
    expect(res.status).toBe(200);
    return (await res.json()) as DockerManifest;
  }

  async function gc(): Promise<string> {
    // The same configuration as the server's (here: its environment).
    const env = { ...process.env, WHARF_GC_REVIEW_DELAY: '1s' };
    return (await runOk(process.execPath, [WHARF_BIN, 'gc', '--data', wharf.dataDir], { ...opts, env })).stdout;
  }

  it(
    'a deleted tag gives back its unique layers (du drops), shared layers stay and the other repository still pulls the same image',
    async () => {
      for (const [local, repo] of [
        ['gc-app:1', 'gc/app'],
        ['gc-other:1', 'gc/other'],
      ] as const) {
        await d.dockerOk(['tag', local, `${wharf.host}/${repo}:1`], opts);
        await d.dockerOk(['push', `${wharf.host}/${repo}:1`], opts);
      }
      const otherId = (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', 'gc-other:1'], opts)).trim();
      const app = await manifestOf('gc/app', '1');
      const other = await manifestOf('gc/other', '1');
      const kept = new Set([other.config.digest, ...other.layers.map((l) => l.digest)]);
      const unique = [app.config, ...app.layers].filter((b) => !kept.has(b.digest));
      const shared = app.layers.filter((l) => kept.has(l.digest));
      expect(shared).toHaveLength(1); // the busybox base
      expect(unique).toHaveLength(2); // the 1 MiB layer and the config
      const uniqueBytes = unique.reduce((n, b) => n + b.size, 0);
      expect(uniqueBytes).toBeGreaterThan(1024 * 1024);

      // Nothing is garbage yet: a run after the delay deletes nothing.
      await sleep(1200);
      expect(await gc()).toContain('Deleted 0 manifest(s) and 0 blob(s)');
      const before = await blobBytes();

      const del = await fetch(`${wharf.url}/v2/gc/app/manifests/1`, { method: 'DELETE' });
      expect(del.status).toBe(202);
      // The untagged manifest is reviewed after the delay; the blobs it frees one delay later.
      await sleep(1200);
      expect(await gc()).toContain('Deleted 1 manifest(s) and 0 blob(s)');
      await sleep(1200);
      expect(await gc()).toContain(`Deleted 0 manifest(s) and 2 blob(s)`);

      const after = await blobBytes();
      const freed = before - after;
      // The unique blobs' bytes, plus at most their two directories (du -sb counts directory entries).
      expect(freed).toBeGreaterThanOrEqual(uniqueBytes);
      expect(freed).toBeLessThanOrEqual(uniqueBytes + 2 * 4096);
      for (const b of unique) {
        expect((await fetch(`${wharf.url}/v2/gc/app/blobs/${b.digest}`, { method: 'HEAD' })).status).toBe(404);
      }

      // The other repository still pulls, with the same image ID.
      await d.dockerOk(['rmi', `${wharf.host}/gc/other:1`, 'gc-other:1'], opts);
      await d.dockerOk(['pull', `${wharf.host}/gc/other:1`], opts);
      const pulledId = (
        await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', `${wharf.host}/gc/other:1`], opts)
      ).trim();
      expect(pulledId).toBe(otherId);
    },
    TIMEOUT,
  );
});
