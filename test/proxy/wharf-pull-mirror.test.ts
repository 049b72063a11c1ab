// `wharf pull` with Wharf's pull-through cache as its registry mirror: from a --registry-mirror
// flag, then from daemon.json's registry-mirrors with the remote stopped (served from the cache).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importBusybox, wharfIn } from '../support/busybox.js';
import { type ReferenceRegistry, startReferenceRegistry } from '../support/reference-registry.js';
import { interopDescribe, removeTmpDir, tmpDir } from '../support/tools.js';
import { type ProxyServer, startProxyServer } from './support.js';

interopDescribe('wharf pull through a registry mirror', ['docker-registry', 'busybox'], () => {
  let remote: ReferenceRegistry;
  let wharf: ProxyServer;
  let dir: string;

  beforeAll(async () => {
    remote = await startReferenceRegistry();
    wharf = await startProxyServer([{ name: 'hub', url: remote.url, mirror: true }]);
    dir = await tmpDir('wharf-pull-mirror');
  }, 120_000);
  afterAll(async () => {
    await wharf?.close();
    await remote?.stop();
    await removeTmpDir(dir);
  });

  it('pulls docker.io images from the mirror (flag, then daemon.json), the second time with the remote gone', async () => {
    const root = join(dir, 'store');
    const config = join(dir, 'config');
    const env = { ...process.env, WHARF_CONFIG_DIR: config, WHARF_DAEMON_CONFIG: '' };
    const cli = wharfIn(root, { env, timeoutMs: 120_000 });
    const id = await importBusybox(root, 'busybox:latest');
    const upstream = `${remote.host}/library/busybox:latest`;
    await cli.ok(['tag', 'busybox:latest', upstream]);
    await cli.ok(['push', upstream]);
    await cli.ok(['rmi', 'busybox:latest', upstream]);

    await cli.ok(['pull', '--registry-mirror', wharf.url, 'busybox']);
    expect((await cli.ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox'])).trim()).toBe(id);
    expect(wharf.logs.some((l) => l.includes('library/busybox') && l.includes('proxy: cached manifest'))).toBe(true);
    // The API says where the cache repository comes from and when its tag was checked.
    const api = (await (await fetch(`${wharf.url}/api/repositories/library/busybox`)).json()) as {
      proxy_origin?: { remote: string; host: string; upstream: string; tags: { tag: string; lastChecked: string }[] };
    };
    expect(api.proxy_origin).toMatchObject({ remote: 'hub', host: remote.host, upstream: 'library/busybox' });
    expect(api.proxy_origin?.tags.map((t) => t.tag)).toEqual(['latest']);
    expect(Date.now() - Date.parse(api.proxy_origin?.tags[0]?.lastChecked ?? '')).toBeLessThan(120_000);

    await cli.ok(['rmi', 'busybox']);
    await remote.stop();
    await mkdir(config, { recursive: true });
    await writeFile(join(config, 'daemon.json'), JSON.stringify({ 'registry-mirrors': [wharf.url] }));
    await cli.ok(['pull', 'busybox']);
    expect((await cli.ok(['image', 'inspect', '--format', '{{.Id}}', 'busybox'])).trim()).toBe(id);
  }, 240_000);
});
