// The real Docker engine with Wharf as its registry mirror (daemon.json registry-mirrors): the
// remote is the reference registry holding library/busybox, as Docker Hub would.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { type ReferenceRegistry, startReferenceRegistry } from '../support/reference-registry.js';
import { interopDescribe } from '../support/tools.js';
import { type ProxyServer, startProxyServer } from './support.js';

const TIMEOUT = 300_000;

interopDescribe(
  'Wharf as the Docker engine’s registry mirror',
  ['dockerd', 'docker', 'busybox', 'docker-registry'],
  () => {
    let remote: ReferenceRegistry;
    let wharf: ProxyServer;
    let d: Dockerd;

    beforeAll(async () => {
      remote = await startReferenceRegistry();
      wharf = await startProxyServer([{ name: 'hub', url: remote.url, mirror: true }]);
      d = await startDockerd({ daemonConfig: { 'registry-mirrors': [wharf.url] } });
    }, TIMEOUT);
    afterAll(async () => {
      await d?.stop();
      await wharf?.close();
      await remote?.stop();
    }, TIMEOUT);

    it(
      'pulls busybox through Wharf, then again from Wharf’s cache with the remote stopped',
      async () => {
        const opts = { timeoutMs: TIMEOUT };
        const built = await makeBusyboxImage(d, `${remote.host}/library/busybox:latest`);
        await d.dockerOk(['push', `${remote.host}/library/busybox:latest`], opts);
        await d.dockerOk(['rmi', `${remote.host}/library/busybox:latest`], opts);

        await d.dockerOk(['pull', 'busybox'], opts);
        const first = (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', 'busybox'], opts)).trim();
        expect(first).toBe(built);
        expect(wharf.logs.some((l) => l.includes('library/busybox') && l.includes('proxy: cached manifest'))).toBe(
          true,
        );

        await d.dockerOk(['rmi', 'busybox'], opts);
        await remote.stop();
        await d.dockerOk(['pull', 'busybox'], opts);
        const again = (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', 'busybox'], opts)).trim();
        expect(again).toBe(first);
      },
      TIMEOUT,
    );
  },
);
