// Three stateless nodes behind nginx round-robin (issue 12, test/support/cluster.ts): PostgreSQL
// metadata, blobs in Swift (s3api), token auth. The real Docker engine logs in, pushes a
// multi-layer image whose uploads are served by different nodes (POST, PATCH and PUT of one
// upload on ≥2 nodes, as nginx's log shows), and pulls it back with the same image ID; its tokens,
// issued by whichever node answered /token, are accepted by every node (one shared signing key).
// Then a node is killed (-9) in the middle of a layer's PATCH: Docker retries, the retry lands on
// another node, the push completes and `wharf fsck` finds nothing wrong.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLUSTER_TOOLS, type Cluster, startCluster } from '../support/cluster.js';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { interopDescribe, waitFor } from '../support/tools.js';

const TIMEOUT = 300_000;
const MiB = 1024 * 1024;
const ADMIN_PASSWORD = 'admin-Cluster-1';

/** The upload id in an upload's URL (`…/blobs/uploads/<id>?…`), or undefined. */
function uploadId(url: string): string | undefined {
  return /\/blobs\/uploads\/([^/?]+)/.exec(url)?.[1];
}

interopDescribe(
  'a three-node cluster behind nginx: the Docker engine',
  [...CLUSTER_TOOLS, 'dockerd', 'docker', 'busybox'],
  () => {
    let cluster: Cluster;
    let d: Dockerd;
    const opts = { timeoutMs: TIMEOUT };
    const ref = (name: string) => `${cluster.host}/${name}`;
    const imageId = async (image: string) =>
      (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', image], opts)).trim();

    /** Removes the images and every layer they hold, so that a pull must fetch everything. */
    async function removeAll(refs: string[]): Promise<void> {
      await d.dockerOk(['rmi', '-f', ...refs], opts);
      await d.dockerOk(['image', 'prune', '-f'], opts);
      for (const r of refs) expect((await d.docker(['image', 'inspect', r], opts)).code).not.toBe(0);
    }

    beforeAll(async () => {
      [cluster, d] = await Promise.all([
        startCluster({ env: { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD } }),
        startDockerd(),
      ]);
      await makeBusyboxImage(d, 'cluster-base:1');
      const login = await d.docker(['login', cluster.host, '-u', 'admin', '--password-stdin'], {
        ...opts,
        input: `${ADMIN_PASSWORD}\n`,
      });
      expect(login.code, login.stderr).toBe(0);
    }, TIMEOUT);

    afterAll(async () => {
      await Promise.all([d?.stop(), cluster?.stop()]);
    }, TIMEOUT);

    it(
      'pushes a multi-layer image whose uploads are spread over the nodes, and pulls it back with the same image ID',
      async () => {
        // Two layers of random (incompressible) bytes over the 5 MiB part size, on busybox.
        await commitLayer(d, 'cluster-base:1', 'cluster-mid:1', 'data/one.bin', randomBytes(6 * MiB));
        const id = await commitLayer(d, 'cluster-mid:1', 'cluster-app:1', 'data/two.bin', randomBytes(8 * MiB));
        await d.dockerOk(['tag', 'cluster-app:1', ref('admin/app:1')], opts);
        const before = (await cluster.upstreamLog()).length;
        const push = await d.docker(['push', ref('admin/app:1')], opts);
        expect(push.code, `${push.stderr}\n${cluster.logs()}`).toBe(0);

        const log = (await cluster.upstreamLog()).slice(before);
        // Every request of one upload (its POST answers the upload's URL), and the node that served it.
        const nodesOfUpload = new Map<string, Set<number>>();
        for (const line of log) {
          const id = uploadId(line.location) ?? uploadId(line.uri);
          const node = cluster.nodeOf(line.upstreams.at(-1) ?? '');
          if (id === undefined || node < 0) continue;
          nodesOfUpload.set(id, (nodesOfUpload.get(id) ?? new Set()).add(node));
        }
        const patches = log.filter((l) => l.method === 'PATCH' && l.uri.includes('/admin/app/blobs/uploads/'));
        expect(patches.length, JSON.stringify(log)).toBeGreaterThanOrEqual(3);
        const spread = [...nodesOfUpload.values()].filter((nodes) => nodes.size >= 2);
        expect(spread.length, JSON.stringify(log)).toBeGreaterThanOrEqual(1);
        // And the push as a whole went through every node.
        const served = new Set(log.map((l) => cluster.nodeOf(l.upstreams.at(-1) ?? '')));
        expect(
          [0, 1, 2].every((n) => served.has(n)),
          JSON.stringify(log),
        ).toBe(true);

        await removeAll([ref('admin/app:1'), 'cluster-app:1', 'cluster-mid:1', 'cluster-base:1']);
        const pull = await d.docker(['pull', ref('admin/app:1')], opts);
        expect(pull.code, pull.stderr).toBe(0);
        expect(await imageId(ref('admin/app:1'))).toBe(id);
      },
      TIMEOUT,
    );

    it(
      'kill -9 of the node receiving a layer: Docker retries through nginx on another node, the push completes, fsck is clean',
      async () => {
        await makeBusyboxImage(d, 'cluster-base:1');
        // One big layer, so that its PATCH lasts long enough to be cut.
        const id = await commitLayer(d, 'cluster-base:1', 'cluster-big:1', 'data/big.bin', randomBytes(48 * MiB));
        await d.dockerOk(['tag', 'cluster-big:1', ref('admin/big:1')], opts);
        const nodeMetrics = async (i: number) => {
          const metrics = await (await fetch(`${cluster.node(i).url}/metrics`)).text();
          return {
            active: Number(/^wharf_uploads_in_progress (\d+)/m.exec(metrics)?.[1] ?? 0),
            received: Number(/^wharf_bytes_received_total (\d+)/m.exec(metrics)?.[1] ?? 0),
          };
        };
        const receivedBefore = await Promise.all(
          cluster.nodeHosts.map(async (_, i) => (await nodeMetrics(i)).received),
        );
        const before = (await cluster.upstreamLog()).length;
        const pushing = d.docker(['push', ref('admin/big:1')], opts);

        // The node streaming the big layer: an upload in progress, over 8 MiB received since the push began.
        let victim = -1;
        await waitFor(
          'a node receiving the big layer',
          async () => {
            for (const [i] of cluster.nodeHosts.entries()) {
              const { active, received } = await nodeMetrics(i);
              if (active > 0 && received - (receivedBefore[i] ?? 0) > 8 * MiB) victim = i;
            }
            return victim >= 0;
          },
          { timeoutMs: 120_000, intervalMs: 100 },
        );
        await cluster.kill(victim);
        const push = await pushing;
        expect(push.code, `${push.stderr}\n${cluster.logs()}`).toBe(0);

        const log = (await cluster.upstreamLog()).slice(before);
        const patches = log.filter((l) => l.method === 'PATCH' && l.uri.includes('/admin/big/blobs/uploads/'));
        // The cut PATCH (nginx answered 502 for the dead node), then a PATCH that succeeded elsewhere.
        const cut = patches.findIndex((l) => l.status >= 500 && cluster.nodeOf(l.upstreams.at(-1) ?? '') === victim);
        expect(cut, JSON.stringify(patches)).toBeGreaterThanOrEqual(0);
        const retried = patches.slice(cut + 1).filter((l) => l.status === 202);
        expect(retried.length, JSON.stringify(patches)).toBeGreaterThanOrEqual(1);
        for (const l of retried) expect(cluster.nodeOf(l.upstreams.at(-1) ?? '')).not.toBe(victim);

        // Nothing inconsistent: every blob row has its object, of the right size and digest.
        const fsck = await cluster.wharf(['fsck']);
        expect(fsck.code, `${fsck.stdout}${fsck.stderr}`).toBe(0);
        expect(fsck.stdout).toMatch(/: 0 problem\(s\), 0 orphan file\(s\)/);

        // The node comes back and serves again; the image pulls back whole.
        await cluster.restart(victim);
        await removeAll([ref('admin/big:1'), 'cluster-big:1', 'cluster-base:1']);
        const pull = await d.docker(['pull', ref('admin/big:1')], opts);
        expect(pull.code, pull.stderr).toBe(0);
        expect(await imageId(ref('admin/big:1'))).toBe(id);
      },
      TIMEOUT,
    );
  },
);
