// `docker push` to Wharf's registry, then `wharf pull`: the same image ID as Docker's, and the
// same SIZE column as `docker images` (Docker's uncompressed size and units).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { interopDescribe, removeTmpDir, runOk, tmpDir } from '../support/tools.js';

const TIMEOUT = 180_000;

interopDescribe('wharf pull of an image pushed by docker', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let server: WharfProcess;
  let root: string;
  const opts = { timeoutMs: TIMEOUT };

  beforeAll(async () => {
    [d, server, root] = await Promise.all([startDockerd(), startWharf(), tmpDir('wharf-engine-docker-')]);
    await makeBusyboxImage(d, 'engine-base:1');
    await commitLayer(d, 'engine-base:1', 'engine-app:1', 'etc/engine/app.txt', 'app\n');
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), server?.cleanup(), root && !process.env.KEEP_ROOT ? removeTmpDir(root) : undefined]);
  }, TIMEOUT);

  it(
    'gives the image ID and size docker shows',
    async () => {
      const ref = `${server.host}/engine/app:1`;
      await d.dockerOk(['tag', 'engine-app:1', ref], opts);
      await d.dockerOk(['push', ref], opts);
      const dockerId = (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref], opts)).trim();
      const dockerSize = (await d.dockerOk(['images', '--format', '{{.Size}}', ref], opts)).trim();

      const pulled = await runOk(process.execPath, [WHARF_BIN, 'pull', '--root', root, ref], opts);
      expect(pulled.stdout).toContain(`Status: Downloaded newer image for ${ref}\n`);
      expect(pulled.stdout.endsWith(`\n${ref}\n`)).toBe(true);
      const ids = await runOk(process.execPath, [WHARF_BIN, 'images', '--root', root, '-q', '--no-trunc', ref], opts);
      expect(ids.stdout).toBe(`${dockerId}\n`);
      const table = await runOk(process.execPath, [WHARF_BIN, 'images', '--root', root, ref], opts);
      const row = table.stdout
        .trimEnd()
        .split('\n')[1]
        ?.split(/\s{3,}/);
      expect(row?.[2]).toBe(dockerId.slice(7, 19));
      expect(row?.[4]).toBe(dockerSize);
    },
    TIMEOUT,
  );
});
