// wharf push ↔ docker pull and docker push ↔ wharf pull through the reference registry
// (Distribution 2.8), for an image made locally (uncompressed layers, gzip-compressed on push)
// and for an image pulled (compressed layers pushed as stored): the same image IDs on both sides,
// and for the pulled image the very manifest Docker pushed (same digest, same size).
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createImage } from '../../src/engine/new-image.js';
import { withLocalStore } from '../../src/engine/store.js';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { makeLayer } from '../support/oci-layout.js';
import { type ReferenceRegistry, startReferenceRegistry } from '../support/reference-registry.js';
import { busyboxRootfsTar } from '../support/rootfs.js';
import { WHARF_BIN } from '../support/server.js';
import { interopDescribe, type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

const TIMEOUT = 240_000;
const ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';

interopDescribe(
  'wharf push and pull with docker through the reference registry',
  ['dockerd', 'docker', 'docker-registry', 'busybox'],
  () => {
    let d: Dockerd;
    let registry: ReferenceRegistry;
    let dir: string;
    const opts = { timeoutMs: TIMEOUT };
    const wharf = (...args: string[]): Promise<RunResult> =>
      run(process.execPath, [WHARF_BIN, ...args], {
        env: { ...process.env, WHARF_ROOT: join(dir, 'root'), HOME: dir, WHARF_CONFIG_DIR: join(dir, 'config') },
        timeoutMs: TIMEOUT,
      });
    const dockerId = async (ref: string) =>
      (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref], opts)).trim();
    const wharfId = async (ref: string) => {
      const r = await wharf('images', '-q', '--no-trunc', ref);
      return r.stdout.trim();
    };

    beforeAll(async () => {
      [d, registry, dir] = await Promise.all([startDockerd(), startReferenceRegistry(), tmpDir('wharf-push-docker-')]);
    }, TIMEOUT);

    afterAll(async () => {
      await Promise.all([d?.stop(), registry?.stop()]);
      if (dir) await removeTmpDir(dir);
    }, TIMEOUT);

    it(
      'an image made by wharf (uncompressed layers) pushed by wharf is pulled by docker with the same ID',
      async () => {
        const tarFile = await busyboxRootfsTar(dir);
        const app = await makeLayer({ 'etc/wharf/app.txt': 'made by wharf\n' });
        const ref = `${registry.host}/local/app:1`;
        const id = await withLocalStore(join(dir, 'root'), async (store) => {
          const base = await createImage(store, {
            layer: createReadStream(tarFile),
            config: { Cmd: ['/bin/sh'] },
            history: { created_by: 'import', comment: 'Imported from -' },
            os: 'linux',
            architecture: ARCH,
          });
          return createImage(store, {
            parent: base,
            layer: Readable.from([app.gzip]),
            config: { Cmd: ['/bin/sh'] },
            history: { created_by: 'commit' },
            os: 'linux',
            architecture: ARCH,
            tag: { name: `${registry.host}/local/app`, tag: '1' },
          });
        });
        const push = await wharf('push', ref);
        expect(push.code, push.stderr).toBe(0);
        expect(push.stdout.split('\n').filter((l) => l.endsWith(': Pushed'))).toHaveLength(2);

        const pulled = await d.dockerOk(['pull', ref], opts);
        expect(pulled).toContain(`Status: Downloaded newer image for ${ref}`);
        expect(await dockerId(ref)).toBe(id);
        // Docker unpacked our gzip stream into the layers the config names.
        const layers = (
          await d.dockerOk(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref], opts)
        ).trim();
        expect(JSON.parse(layers)).toHaveLength(2);
      },
      TIMEOUT,
    );

    it(
      'docker push then wharf pull: same ID; wharf pushes it back as stored (mounted), the very manifest docker pushed, and docker pulls it',
      async () => {
        await makeBusyboxImage(d, 'interop-base:1');
        const id = await commitLayer(d, 'interop-base:1', 'interop-app:1', 'etc/interop/app.txt', 'from docker\n');
        const ref = `${registry.host}/docker/app:1`;
        await d.dockerOk(['tag', 'interop-app:1', ref], opts);
        const dockerPush = await d.dockerOk(['push', ref], opts);
        const digestLine = /^1: digest: sha256:[0-9a-f]{64} size: \d+$/m.exec(dockerPush)?.[0];
        expect(digestLine).toBeDefined();

        const pull = await wharf('pull', ref);
        expect(pull.code, pull.stderr).toBe(0);
        expect(await wharfId(ref)).toBe(id);

        const again = `${registry.host}/again/app:1`;
        expect((await wharf('tag', ref, again)).code).toBe(0);
        const push = await wharf('push', again);
        expect(push.code, push.stderr).toBe(0);
        const lines = push.stdout.trimEnd().split('\n');
        expect(lines.filter((l) => l.endsWith(': Mounted from docker/app'))).toHaveLength(2);
        // Same layers, same config, Docker's schema2 serialisation: the same manifest bytes.
        expect(lines.at(-1)).toBe(digestLine);

        await d.dockerOk(['rmi', ref, 'interop-app:1'], opts);
        const pulled = await d.dockerOk(['pull', again], opts);
        expect(pulled).toContain(`Status: Downloaded newer image for ${again}`);
        expect(await dockerId(again)).toBe(id);
      },
      TIMEOUT,
    );
  },
);
