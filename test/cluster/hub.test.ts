// Three stateless nodes behind nginx round-robin (issue 12, test/support/cluster.ts), token auth:
// the registry and the hub behave as on one node. skopeo copies 20 images at once through the
// balancer and every one comes back byte for byte; `docker search` shows a private repository
// to its owner only; a private repository is denied to another account until a collaborator
// grant, whatever node answers; a webhook is delivered exactly once per push although the
// three nodes poll one delivery queue.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLUSTER_TOOLS, type Cluster, startCluster } from '../support/cluster.js';
import { type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import {
  type Descriptor,
  makeLayer,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  readLayoutImage,
  writeBlob,
} from '../support/oci-layout.js';
import { skopeo } from '../support/skopeo.js';
import { interopDescribe, removeTmpDir, sleep, tmpDir, waitFor } from '../support/tools.js';

const TIMEOUT = 300_000;
const IMAGES = 20;
const PASSWORDS: Record<string, string> = { admin: 'admin-Cluster-0', alice: 'alice-Cluster-1', bob: 'bob-Cluster-2' };
const DENIED = 'denied';

/** An OCI layout with IMAGES single-layer images tagged img0…, each layer of distinct random content. */
async function writeManyImages(layout: string): Promise<Descriptor[]> {
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const entries: Descriptor[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const layer = await makeLayer({ [`data/img${i}.txt`]: randomBytes(384 * 1024).toString('base64') });
    const layerDescriptor = await writeBlob(layout, OCI_LAYER_GZIP, layer.gzip);
    const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.diffId] } };
    const configDescriptor = await writeBlob(layout, OCI_CONFIG, Buffer.from(JSON.stringify(config)));
    const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDescriptor, layers: [layerDescriptor] };
    const m = await writeBlob(layout, OCI_MANIFEST, Buffer.from(JSON.stringify(manifest)));
    entries.push({ ...m, annotations: { 'org.opencontainers.image.ref.name': `img${i}` } });
  }
  await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: entries }));
  return entries;
}

/** A webhook receiver on 127.0.0.1 that records every POST body. */
async function startReceiver(): Promise<{ url: string; bodies: string[]; stop(): Promise<void> }> {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interopDescribe(
  'a three-node cluster behind nginx: skopeo, docker search, hub permissions, webhooks',
  [...CLUSTER_TOOLS, 'skopeo', 'dockerd', 'docker', 'busybox'],
  () => {
    let cluster: Cluster;
    let d: Dockerd;
    let work: string;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    const opts = { timeoutMs: TIMEOUT };
    const ref = (name: string) => `${cluster.host}/${name}`;
    const creds = (user: string) => `${user}:${PASSWORDS[user]}`;

    async function api(user: string, method: string, path: string, body?: unknown) {
      const res = await fetch(`${cluster.url}/api${path}`, {
        method,
        headers: {
          authorization: `Basic ${Buffer.from(creds(user)).toString('base64')}`,
          ...(method !== 'GET' ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    }

    async function loginAs(user: string) {
      await d.docker(['logout', cluster.host], opts);
      const r = await d.docker(['login', cluster.host, '-u', user, '--password-stdin'], {
        ...opts,
        input: `${PASSWORDS[user]}\n`,
      });
      expect(r.code, r.stderr).toBe(0);
    }

    const searchNames = async (term: string) =>
      (await d.dockerOk(['search', ref(term)], opts))
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((line) => line.split(' ')[0]);

    beforeAll(async () => {
      [cluster, d, work, receiver] = await Promise.all([
        startCluster({
          env: {
            WHARF_AUTH_MODE: 'token',
            WHARF_ADMIN_PASSWORD: PASSWORDS.admin,
            WHARF_WEBHOOKS_ALLOW_PRIVATE_TARGETS: 'true',
            // Every node polls the one queue often: a delivery claimed twice would show.
            WHARF_WEBHOOKS_POLL_INTERVAL: '100ms',
          },
        }),
        startDockerd(),
        tmpDir('wharf-cluster-hub'),
        startReceiver(),
      ]);
      for (const user of ['alice', 'bob']) {
        const added = await cluster.wharf(['user', 'add', user, '--password-stdin'], { input: `${PASSWORDS[user]}\n` });
        expect(added.code, added.stderr).toBe(0);
      }
      await makeBusyboxImage(d, 'hub-base:1');
    }, TIMEOUT);

    afterAll(async () => {
      await Promise.all([d?.stop(), cluster?.stop(), receiver?.stop()]);
      if (work) await removeTmpDir(work);
    }, TIMEOUT);

    it('a token issued by any node is accepted by every node; all nodes publish the same JWKS', async () => {
      const basic = `Basic ${Buffer.from(creds('alice')).toString('base64')}`;
      for (const [i] of cluster.nodeHosts.entries()) {
        const issued = await fetch(`${cluster.node(i).url}/token?service=wharf&scope=repository:alice/app:pull`, {
          headers: { authorization: basic },
        });
        expect(issued.status).toBe(200);
        const { token } = (await issued.json()) as { token: string };
        for (const [j] of cluster.nodeHosts.entries()) {
          const res = await fetch(`${cluster.node(j).url}/v2/`, { headers: { authorization: `Bearer ${token}` } });
          expect(res.status, `token of node ${i} on node ${j}`).toBe(200);
        }
      }
      const jwks = await Promise.all(
        cluster.nodeHosts.map(async (_, i) => (await fetch(`${cluster.node(i).url}/token/jwks`)).text()),
      );
      expect(new Set(jwks).size).toBe(1);
      expect((JSON.parse(jwks[0] ?? '{}') as { keys: unknown[] }).keys).toHaveLength(1);
    });

    it(
      'skopeo copies 20 images in parallel through the balancer; each comes back with the same digests',
      async () => {
        const layout = join(work, 'many');
        const entries = await writeManyImages(layout);
        const before = (await cluster.upstreamLog()).length;
        const pushes = await Promise.all(
          entries.map((_, i) =>
            skopeo([
              'copy',
              '--dest-tls-verify=false',
              '--dest-creds',
              creds('alice'),
              `oci:${layout}:img${i}`,
              `docker://${ref(`alice/many${i}:v1`)}`,
            ]),
          ),
        );
        for (const p of pushes) expect(p.code, `${p.stderr}\n${cluster.logs()}`).toBe(0);
        const pulls = await Promise.all(
          entries.map((_, i) =>
            skopeo([
              'copy',
              '--src-tls-verify=false',
              '--src-creds',
              creds('alice'),
              `docker://${ref(`alice/many${i}:v1`)}`,
              `oci:${join(work, `out${i}`)}:img${i}`,
            ]),
          ),
        );
        for (const p of pulls) expect(p.code, p.stderr).toBe(0);
        for (const [i, entry] of entries.entries()) {
          const source = await readLayoutImage(layout, `img${i}`);
          // readLayoutImage and readBlob check every blob against its digest.
          const pulled = await readLayoutImage(join(work, `out${i}`), `img${i}`);
          expect(pulled.descriptor.digest).toBe(entry.digest);
          expect(pulled.bytes.equals(source.bytes)).toBe(true);
        }
        // Spread over the three nodes.
        const served = new Set(
          (await cluster.upstreamLog()).slice(before).map((l) => cluster.nodeOf(l.upstreams.at(-1) ?? '')),
        );
        expect([0, 1, 2].every((n) => served.has(n))).toBe(true);
      },
      TIMEOUT,
    );

    it(
      'a private repository: denied to bob and hidden from his docker search until alice adds him as a collaborator',
      async () => {
        await loginAs('alice');
        await d.dockerOk(['tag', 'hub-base:1', ref('alice/secret:1')], opts);
        const pushed = await d.docker(['push', ref('alice/secret:1')], opts);
        expect(pushed.code, pushed.stderr).toBe(0);
        expect((await api('alice', 'PATCH', '/repositories/alice/secret', { is_private: true })).status).toBe(200);
        expect(await searchNames('secret')).toEqual(['alice/secret']);

        await loginAs('bob');
        expect(await searchNames('secret')).toEqual([]);
        await d.dockerOk(['rmi', ref('alice/secret:1')], opts);
        const denied = await d.docker(['pull', ref('alice/secret:1')], opts);
        expect(denied.code).not.toBe(0);
        expect(denied.stderr).toContain(DENIED);

        const grant = await api('alice', 'PUT', '/repositories/alice/secret/collaborators/bob', { permission: 'read' });
        expect(grant.status).toBe(200);
        // Each pull asks a node for a token and the others check it: several times, so every node answers.
        for (let i = 0; i < 3; i++) {
          const pulled = await d.docker(['pull', ref('alice/secret:1')], opts);
          expect(pulled.code, pulled.stderr).toBe(0);
          await d.dockerOk(['rmi', ref('alice/secret:1')], opts);
        }
        expect(await searchNames('secret')).toEqual(['alice/secret']);
        // Bob's grant is read: a push is still refused.
        await d.dockerOk(['tag', 'hub-base:1', ref('alice/secret:bob')], opts);
        const bobPush = await d.docker(['push', ref('alice/secret:bob')], opts);
        expect(bobPush.code).not.toBe(0);
        expect(bobPush.stderr).toContain(DENIED);
      },
      TIMEOUT,
    );

    it(
      'a webhook is delivered exactly once per push, though three nodes poll the delivery queue',
      async () => {
        const source = join(work, 'many');
        expect(
          (
            await skopeo([
              'copy',
              '--dest-tls-verify=false',
              '--dest-creds',
              creds('alice'),
              `oci:${source}:img0`,
              `docker://${ref('alice/hooked:v0')}`,
            ])
          ).code,
        ).toBe(0);
        const created = await api('alice', 'POST', '/repositories/alice/hooked/webhooks', { url: receiver.url });
        expect(created.status).toBe(201);
        const tags = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6'];
        const pushes = await Promise.all(
          tags.map((tag, i) =>
            skopeo([
              'copy',
              '--dest-tls-verify=false',
              '--dest-creds',
              creds('alice'),
              `oci:${source}:img${i + 1}`,
              `docker://${ref(`alice/hooked:${tag}`)}`,
            ]),
          ),
        );
        for (const p of pushes) expect(p.code, p.stderr).toBe(0);
        const tagOf = (body: string) => (JSON.parse(body) as { push_data: { tag: string } }).push_data.tag;
        await waitFor('a delivery per push', () => receiver.bodies.length >= tags.length, { timeoutMs: 60_000 });
        // A fixed wait on purpose: to show that no second delivery of any push follows.
        await sleep(3_000);
        expect(receiver.bodies.map(tagOf).sort()).toEqual(tags);
      },
      TIMEOUT,
    );
  },
);
