// A full disk as `docker push` meets it (issue 10): Wharf's data directory is a 40 MiB tmpfs,
// filled up. Docker shows the registry's message ("denied: storage is full: …") without
// retrying the layer, nothing is left in uploads/, and once space is freed the same push works.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { fillDisk, mountTmpfs } from '../support/root.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { interopDescribe, rootDescribe } from '../support/tools.js';

const TIMEOUT = 180_000;

interopDescribe('docker push onto a full disk', ['dockerd', 'docker', 'busybox'], () => {
  rootDescribe('wharf on a 40 MiB tmpfs (mounts a tmpfs)', () => {
    let d: Dockerd;
    let wharf: WharfProcess;
    let tmpfs: Awaited<ReturnType<typeof mountTmpfs>>;
    const opts = { timeoutMs: TIMEOUT };

    beforeAll(async () => {
      tmpfs = await mountTmpfs(40);
      [d, wharf] = await Promise.all([startDockerd(), startWharf({ dataDir: tmpfs.dir })]);
      await makeBusyboxImage(d, 'full-base:1');
      await d.dockerOk(['tag', 'full-base:1', `${wharf.host}/full/busybox:1`], opts);
    }, TIMEOUT);

    afterAll(async () => {
      await Promise.all([d?.stop(), wharf?.stop()]);
      await tmpfs?.unmount();
    }, TIMEOUT);

    it(
      'shows "denied: storage is full", leaves no upload behind, and pushes once space is freed',
      async () => {
        const filler = join(tmpfs.dir, 'filler');
        fillDisk(filler);
        const refused = await d.docker(['push', `${wharf.host}/full/busybox:1`], opts);
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toContain('denied: storage is full: ');
        // DENIED is not retried: Docker gives up at once instead of re-sending the layer.
        expect(refused.stdout + refused.stderr).not.toContain('Retrying');
        expect(await readdir(join(tmpfs.dir, 'uploads')).catch(() => [])).toEqual([]);

        await rm(filler);
        const pushed = await d.docker(['push', `${wharf.host}/full/busybox:1`], opts);
        expect(pushed.code, pushed.stderr).toBe(0);
      },
      TIMEOUT,
    );
  });
});
