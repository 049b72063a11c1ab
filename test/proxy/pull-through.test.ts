// The pull-through cache against a real remote: Debian's docker-registry filled by skopeo,
// behind Debian's nginx where the test needs to count requests, rate limit or cut transfers.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/client.js';
import { findBlob } from '../../src/metadata/blobs.js';
import { parseDigest } from '../../src/oci/digest.js';
import { paths } from '../../src/storage/paths.js';
import { type Nginx, startNginx } from '../support/nginx.js';
import { type ReferenceRegistry, startReferenceRegistry } from '../support/reference-registry.js';
import { interopDescribe, removeTmpDir, sleep, tmpDir } from '../support/tools.js';
import { getBlob, pullOverHttp, pushRandomImage } from './remote-image.js';
import { type ProxyServer, startProxyServer } from './support.js';

const TOOLS = ['docker-registry', 'skopeo', 'nginx'];

interopDescribe('pull-through cache: prefix remote with credentials', ['docker-registry', 'skopeo', 'htpasswd'], () => {
  const password = 'pr0xy-S3cret-do-not-log';
  let dir: string;
  let remote: ReferenceRegistry;
  let wharf: ProxyServer;

  beforeAll(async () => {
    dir = await tmpDir('wharf-proxy-auth');
    const htpasswd = join(dir, 'htpasswd');
    execFileSync('htpasswd', ['-Bbc', htpasswd, 'mirror', password], { stdio: 'ignore' });
    remote = await startReferenceRegistry({ htpasswd });
    wharf = await startProxyServer([
      { name: 'private', url: remote.url, username: 'mirror', password, prefix: 'cache/private' },
    ]);
  }, 120_000);
  afterAll(async () => {
    await wharf?.close();
    await remote?.stop();
    await removeTmpDir(dir);
  });

  it('pulls through the prefix with Wharf’s credentials; the password is in no log line and no answer', async () => {
    const pushed = await pushRandomImage(remote.host, 'team/app', 'v1', [3000, 5000], `mirror:${password}`);
    const pulled = await pullOverHttp(wharf.url, 'cache/private/team/app', 'v1');
    expect(pulled).toEqual(pushed);
    // Now an ordinary repository of the store.
    expect(await findBlob(wharf.server.ctx.db, pushed.blobs[1] as string)).toBeDefined();
    const answers = await Promise.all(
      ['/v2/_catalog', '/v2/cache/private/team/app/tags/list', '/metrics', '/api/repositories?q=app'].map(async (p) =>
        (await fetch(`${wharf.url}${p}`)).text(),
      ),
    );
    expect(answers[0]).toContain('cache/private/team/app');
    expect(wharf.logs.some((l) => l.includes('proxy: cached manifest'))).toBe(true);
    for (const text of [...answers, ...wharf.logs]) expect(text).not.toContain(password);
  }, 120_000);

  it('in token mode, a cold pull follows auth.default_visibility: anonymous when public, signed-in when private', async () => {
    const remotes = [{ name: 'private', url: remote.url, username: 'mirror', password, prefix: 'cache/private' }];
    await pushRandomImage(remote.host, 'team/open', 'v1', [1000], `mirror:${password}`);
    for (const visibility of ['public', 'private'] as const) {
      // The first admin's password is read from the process environment (auth/bootstrap).
      process.env.WHARF_ADMIN_PASSWORD = 'admin-pass-123';
      const hub = await startProxyServer(remotes, {
        WHARF_AUTH_MODE: 'token',
        WHARF_AUTH_DEFAULT_VISIBILITY: visibility,
      });
      delete process.env.WHARF_ADMIN_PASSWORD;
      const anonymous = new RegistryClient({ host: new URL(hub.url).host });
      const admin = new RegistryClient({
        host: new URL(hub.url).host,
        credentials: { username: 'admin', password: 'admin-pass-123' },
      });
      try {
        if (visibility === 'public') {
          expect((await anonymous.getManifest('cache/private/team/open', 'v1')).digest).toMatch(/^sha256:/);
        } else {
          await expect(anonymous.getManifest('cache/private/team/open', 'v1')).rejects.toThrow();
          expect((await admin.getManifest('cache/private/team/open', 'v1')).digest).toMatch(/^sha256:/);
        }
        for (const line of hub.logs) expect(line).not.toContain(password);
      } finally {
        await anonymous.close();
        await admin.close();
        await hub.close();
      }
    }
  }, 120_000);

  it('refuses pushes under the cache prefix with UNSUPPORTED', async () => {
    const res = await fetch(`${wharf.url}/v2/cache/private/team/app/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(await res.text()).toContain('UNSUPPORTED');
  });
});

interopDescribe('pull-through cache: coalescing and rate limits behind nginx', TOOLS, () => {
  let remote: ReferenceRegistry;
  let nginx: Nginx;
  let wharf: ProxyServer;

  beforeAll(async () => {
    remote = await startReferenceRegistry();
    nginx = await startNginx({ upstream: remote.host });
    // tag_ttl 0: every tag pull rechecks, so the 429 below is met on cached tags too.
    wharf = await startProxyServer([{ name: 'hub', url: nginx.url, prefix: 'cache/hub' }], {
      WHARF_PROXY_TAG_TTL: '0s',
    });
  }, 120_000);
  afterAll(async () => {
    await wharf?.close();
    await nginx?.stop();
    await remote?.stop();
  });

  it('50 concurrent cold pulls of a 3-layer image make exactly one upstream GET per blob', async () => {
    const pushed = await pushRandomImage(remote.host, 'lib/three', 'v1', [2 << 20, 1 << 20, 512 << 10]);
    const pulls = await Promise.all(
      Array.from({ length: 50 }, () => pullOverHttp(wharf.url, 'cache/hub/lib/three', 'v1')),
    );
    for (const p of pulls) expect(p).toEqual(pushed);
    const log = await nginx.accessLog();
    for (const digest of pushed.blobs) {
      expect(log.filter((l) => l === `GET /v2/lib/three/blobs/${digest} 200`)).toHaveLength(1);
    }
  }, 180_000);

  it('while the remote answers 429, cached tags still pull; a never-cached tag says the remote is rate limited', async () => {
    const pushed = await pushRandomImage(remote.host, 'lib/cached', 'v1', [4000]);
    await pushRandomImage(remote.host, 'lib/never', 'v1', [4000]);
    expect(await pullOverHttp(wharf.url, 'cache/hub/lib/cached', 'v1')).toEqual(pushed);
    await nginx.rateLimit(true);
    try {
      const before = (await nginx.accessLog()).length;
      expect(await pullOverHttp(wharf.url, 'cache/hub/lib/cached', 'v1')).toEqual(pushed);
      // The recheck did reach the remote and met the 429.
      expect((await nginx.accessLog()).slice(before)).toContain('HEAD /v2/lib/cached/manifests/v1 429');
      expect(wharf.logs.some((l) => l.includes('serving stale cached tag'))).toBe(true);
      const res = await fetch(`${wharf.url}/v2/cache/hub/lib/never/manifests/v1`);
      expect(res.status).toBe(429);
      const body = (await res.json()) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]?.code).toBe('TOOMANYREQUESTS');
      expect(body.errors[0]?.message).toMatch(/rate limit/);
      // The remote's rate-limit headers, as gauges.
      const metrics = await (await fetch(`${wharf.url}/metrics`)).text();
      expect(metrics).toContain('wharf_proxy_remote_ratelimit{remote="hub",header="ratelimit-limit"} 100');
      expect(metrics).toContain('wharf_proxy_remote_ratelimit{remote="hub",header="ratelimit-remaining"} 0');
    } finally {
      await nginx.rateLimit(false);
    }
  }, 120_000);
});

interopDescribe('pull-through cache: tag freshness', ['docker-registry', 'skopeo'], () => {
  let remote: ReferenceRegistry;
  let wharf: ProxyServer;
  const TTL_MS = 3_000;

  beforeAll(async () => {
    remote = await startReferenceRegistry();
    wharf = await startProxyServer([{ name: 'r', url: remote.url, prefix: 'cache/r' }], {
      WHARF_PROXY_TAG_TTL: `${TTL_MS}ms`,
    });
  }, 120_000);
  afterAll(async () => {
    await wharf?.close();
    await remote?.stop();
  });

  it('a tag moved at the remote is seen after tag_ttl, not before', async () => {
    const first = await pushRandomImage(remote.host, 'app', 'latest', [1000]);
    expect((await pullOverHttp(wharf.url, 'cache/r/app', 'latest')).manifestDigest).toBe(first.manifestDigest);
    const started = Date.now();
    const moved = await pushRandomImage(remote.host, 'app', 'latest', [1000]);
    expect(moved.manifestDigest).not.toBe(first.manifestDigest);
    const early = await pullOverHttp(wharf.url, 'cache/r/app', 'latest');
    // Only meaningful if the ttl had not run out yet (skopeo may be slow on a loaded machine).
    if (Date.now() - started < TTL_MS - 500) expect(early.manifestDigest).toBe(first.manifestDigest);
    await sleep(TTL_MS + 200);
    expect((await pullOverHttp(wharf.url, 'cache/r/app', 'latest')).manifestDigest).toBe(moved.manifestDigest);
  }, 120_000);
});

interopDescribe('pull-through cache: remote killed mid-transfer', TOOLS, () => {
  let remote: ReferenceRegistry;
  let nginx: Nginx;
  let wharf: ProxyServer;

  beforeAll(async () => {
    remote = await startReferenceRegistry();
    // 1 MiB/s: a 6 MiB layer takes seconds, time enough to cut it.
    nginx = await startNginx({ upstream: remote.host, limitRate: '1m' });
    wharf = await startProxyServer([{ name: 'slow', url: nginx.url, prefix: 'cache/slow' }]);
  }, 120_000);
  afterAll(async () => {
    await wharf?.close();
    await nginx?.stop();
    await remote?.stop();
  });

  it('leaves no partial blob; the next pull fetches it whole and verifies', async () => {
    const pushed = await pushRandomImage(remote.host, 'big', 'v1', [6 << 20]);
    const layer = pushed.blobs[1] as string;
    const res = await fetch(`${wharf.url}/v2/cache/slow/big/blobs/${layer}`);
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    while (received < 1 << 20) {
      const { value, done } = await reader.read();
      if (done) break;
      received += value.length;
    }
    await nginx.kill();
    let cut = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value.length;
      }
    } catch {
      cut = true;
    }
    expect(cut || received < 6 << 20).toBe(true);
    const { ctx } = wharf.server;
    await sleep(200);
    expect(await findBlob(ctx.db, layer)).toBeUndefined();
    await expect(ctx.storage.stat(paths.blob(parseDigest(layer) as never))).rejects.toThrow();
    const uploads = await ctx.storage.list('/uploads').catch(() => []);
    expect(uploads).toEqual([]);
    await nginx.restart();
    await getBlob(wharf.url, 'cache/slow/big', layer);
    expect(await findBlob(ctx.db, layer)).toBeDefined();
  }, 120_000);
});
