// With a mirror remote, the store still comes first: repositories pushed to Wharf are served
// without asking the remote (counted at nginx in front of the reference registry).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Nginx, startNginx } from '../support/nginx.js';
import { pushImage } from '../support/push.js';
import { type ReferenceRegistry, startReferenceRegistry } from '../support/reference-registry.js';
import { interopDescribe } from '../support/tools.js';
import { type ProxyServer, startProxyServer } from './support.js';

interopDescribe('pull-through cache: a mirror shares the namespace with pushes', ['docker-registry', 'nginx'], () => {
  let remote: ReferenceRegistry;
  let nginx: Nginx;
  let wharf: ProxyServer;

  beforeAll(async () => {
    remote = await startReferenceRegistry();
    nginx = await startNginx({ upstream: remote.host });
    // tag_ttl 0: a cached tag would be rechecked on every pull; a pushed one never is.
    wharf = await startProxyServer([{ name: 'hub', url: nginx.url, mirror: true }], { WHARF_PROXY_TAG_TTL: '0s' });
  }, 120_000);
  afterAll(async () => {
    await wharf?.close();
    await nginx?.stop();
    await remote?.stop();
  });

  it('pushes work under mirror names and their tags are served from the store alone', async () => {
    const app = wharf.server.app;
    const pushed = await pushImage(app, 'alice/app', 'v1', { layers: ['layer one'] });
    const before = (await nginx.accessLog()).length;
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'GET', url: '/v2/alice/app/manifests/v1' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['docker-content-digest']).toBe(pushed.digest);
      const blob = await app.inject({ method: 'GET', url: `/v2/alice/app/blobs/${pushed.layers[0]}` });
      expect(blob.statusCode).toBe(200);
    }
    expect((await nginx.accessLog()).slice(before)).toEqual([]);
    // A name the store does not have goes to the remote, which does not have it either.
    const miss = await app.inject({ method: 'GET', url: '/v2/alice/other/manifests/v1' });
    expect(miss.statusCode).toBe(404);
    expect(miss.body).toContain('MANIFEST_UNKNOWN');
    expect((await nginx.accessLog()).slice(before).some((l) => l.startsWith('GET /v2/alice/other/manifests/v1'))).toBe(
      true,
    );
  }, 120_000);
});
