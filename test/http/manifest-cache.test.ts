// Manifest GETs are answered from a small cache (registry/manifest-cache.ts): every change to a
// tag or a manifest must show at once. Checked through the HTTP API with the cache warm before
// each change: a re-pushed tag, a deleted tag, a deleted manifest, a deleted repository, and the
// reads that race with a change. Also: GET/HEAD of a reference that is neither a tag nor a digest
// is 404 MANIFEST_UNKNOWN (OCI conformance v1.1.1), while writes still refuse the name.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setOfficial } from '../../src/hub/official.js';
import { ManifestCache } from '../../src/registry/manifest-cache.js';
import type { WharfServer } from '../../src/server/app.js';
import { errorCodes, pushImage } from '../support/push.js';
import { hubServer, memoryServer } from '../support/server.js';

const ACCEPT = { accept: 'application/vnd.oci.image.manifest.v1+json' };

async function get(app: FastifyInstance, path: string, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'GET', url: path, headers: { ...ACCEPT, ...headers } });
  return { status: res.statusCode, digest: res.headers['docker-content-digest'], body: res.body };
}

describe('manifest reads that are neither a tag nor a digest', () => {
  let server: WharfServer;
  beforeAll(async () => {
    server = await memoryServer();
    await pushImage(server.app, 'app', 'v1');
  });
  afterAll(() => server.close());

  it.each(['GET', 'HEAD'] as const)('%s .INVALID_MANIFEST_NAME answers 404 MANIFEST_UNKNOWN', async (method) => {
    for (const ref of ['.INVALID_MANIFEST_NAME', 'sha256:abc', '-dash']) {
      const res = await server.app.inject({ method, url: `/v2/app/manifests/${ref}` });
      expect(res.statusCode, ref).toBe(404);
      if (method === 'GET') expect(errorCodes(res.body), ref).toEqual(['MANIFEST_UNKNOWN']);
    }
    // The same repository answers a valid tag.
    expect((await server.app.inject({ method, url: '/v2/app/manifests/v1' })).statusCode).toBe(200);
  });

  it('PUT and DELETE still refuse the name with 400', async () => {
    const put = await server.app.inject({
      method: 'PUT',
      url: '/v2/app/manifests/.INVALID_MANIFEST_NAME',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      payload: '{}',
    });
    expect(put.statusCode).toBe(400);
    expect(errorCodes(put.body)).toEqual(['TAG_INVALID']);
    const del = await server.app.inject({ method: 'DELETE', url: '/v2/app/manifests/.INVALID_MANIFEST_NAME' });
    expect(del.statusCode).toBe(400);
    expect(errorCodes(del.body)).toEqual(['TAG_INVALID']);
  });
});

describe('manifest cache: every change shows on the next GET', () => {
  let server: WharfServer;
  let app: FastifyInstance;
  beforeAll(async () => {
    server = await memoryServer();
    app = server.app;
  });
  afterAll(() => server.close());

  it('is used: a warm GET by tag is served from the cache', async () => {
    const first = await pushImage(app, 'warm', 'latest');
    expect((await get(app, '/v2/warm/manifests/latest')).digest).toBe(first.digest);
    const cache = server.ctx.manifestCache;
    expect(cache?.tag('warm', 'latest')).toBe(first.digest);
    expect(cache?.manifest('warm', first.digest)?.digest).toBe(first.digest);
  });

  it('a GET right after a re-push of the tag returns the new digest', async () => {
    const first = await pushImage(app, 'moving', 'latest', { layers: ['one'] });
    for (let i = 0; i < 3; i++) expect((await get(app, '/v2/moving/manifests/latest')).digest).toBe(first.digest);
    const second = await pushImage(app, 'moving', 'latest', { layers: ['two'] });
    expect(second.digest).not.toBe(first.digest);
    const after = await get(app, '/v2/moving/manifests/latest');
    expect(after.digest).toBe(second.digest);
    expect(after.body).toBe(second.body.toString());
    // A push by digest with ?tag= moves tags too.
    const third = await pushImage(app, 'moving', 'other', { layers: ['three'] });
    const put = await app.inject({
      method: 'PUT',
      url: `/v2/moving/manifests/${third.digest}?tag=latest`,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      payload: third.body,
    });
    expect(put.statusCode).toBe(201);
    expect((await get(app, '/v2/moving/manifests/latest')).digest).toBe(third.digest);
  });

  it('a deleted tag is unknown at once; its manifest stays readable by digest', async () => {
    const pushed = await pushImage(app, 'untag', 'v1');
    expect((await get(app, '/v2/untag/manifests/v1')).status).toBe(200);
    expect((await get(app, `/v2/untag/manifests/${pushed.digest}`)).status).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: '/v2/untag/manifests/v1' })).statusCode).toBe(202);
    expect((await get(app, '/v2/untag/manifests/v1')).status).toBe(404);
    expect((await get(app, `/v2/untag/manifests/${pushed.digest}`)).status).toBe(200);
  });

  it('a deleted manifest is unknown at once, by digest and by every tag that pointed at it', async () => {
    const pushed = await pushImage(app, 'gone', 'a');
    const put = await app.inject({
      method: 'PUT',
      url: '/v2/gone/manifests/b',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      payload: pushed.body,
    });
    expect(put.statusCode).toBe(201);
    for (const ref of ['a', 'b', pushed.digest]) expect((await get(app, `/v2/gone/manifests/${ref}`)).status).toBe(200);
    const del = await app.inject({ method: 'DELETE', url: `/v2/gone/manifests/${pushed.digest}` });
    expect(del.statusCode).toBe(202);
    for (const ref of ['a', 'b', pushed.digest]) expect((await get(app, `/v2/gone/manifests/${ref}`)).status).toBe(404);
  });

  it('a read that raced with a change does not put the old answer back', async () => {
    const cache = new ManifestCache();
    const record = { digest: 'sha256:old', mediaType: 'x', size: 2, content: new Uint8Array([1, 2]) };
    const seen = cache.generation; // a GET starts its database read…
    cache.forgetTag('r', 't'); // …a PUT moves the tag and commits…
    cache.remember('r', 't', record, seen); // …the GET's stale result arrives.
    expect(cache.tag('r', 't')).toBeUndefined();
    cache.remember('r', 't', record, cache.generation);
    expect(cache.tag('r', 't')).toBe('sha256:old');
  });

  it('misses of one tag at the same moment share one database read', async () => {
    const cache = new ManifestCache();
    const record = { digest: 'sha256:one', mediaType: 'x', size: 2, content: new Uint8Array([1, 2]) };
    let reads = 0;
    let answer: (r: typeof record) => void = () => undefined;
    const read = () => {
      reads++;
      return new Promise<typeof record>((resolve) => {
        answer = resolve;
      });
    };
    const waiting = Array.from({ length: 20 }, () => cache.load('r', 't', 't', read));
    // Another tag and the digest are other keys: reads of their own.
    const other = cache.load('r', 'u', 'u', async () => ({ ...record, digest: 'sha256:two' }));
    expect(reads).toBe(1);
    answer(record);
    for (const found of await Promise.all(waiting)) expect(found?.digest).toBe('sha256:one');
    expect((await other)?.digest).toBe('sha256:two');
    expect(cache.tag('r', 't')).toBe('sha256:one');
    // Once answered, a later miss reads again (here: after the entry is forgotten).
    cache.forgetTag('r', 't');
    await cache.load('r', 't', 't', async () => {
      reads++;
      return record;
    });
    expect(reads).toBe(2);
  });

  it('a miss after a change does not join a read that began before it', async () => {
    const cache = new ManifestCache();
    const rec = (digest: string) => ({ digest, mediaType: 'x', size: 2, content: new Uint8Array([1, 2]) });
    let answerOld: (r: ReturnType<typeof rec>) => void = () => undefined;
    const before = cache.load('r', 't', 't', () => new Promise((resolve) => (answerOld = resolve)));
    cache.forgetTag('r', 't'); // a PUT moved the tag meanwhile
    const after = cache.load('r', 't', 't', async () => rec('sha256:new'));
    expect((await after)?.digest).toBe('sha256:new');
    answerOld(rec('sha256:old'));
    expect((await before)?.digest).toBe('sha256:old');
    // The old answer was not put back over the new one.
    expect(cache.tag('r', 't')).toBe('sha256:new');
  });

  it('a failed shared read fails every waiting request, and the next miss tries again', async () => {
    const cache = new ManifestCache();
    let fail: (err: Error) => void = () => undefined;
    const read = () => new Promise<undefined>((_resolve, reject) => (fail = reject));
    const waiting = [cache.load('r', 't', 't', read), cache.load('r', 't', 't', read)];
    fail(new Error('database unreachable'));
    for (const w of waiting) await expect(w).rejects.toThrow('database unreachable');
    const record = { digest: 'sha256:back', mediaType: 'x', size: 1, content: new Uint8Array(1) };
    expect((await cache.load('r', 't', 't', async () => record))?.digest).toBe('sha256:back');
  });

  it('concurrent GETs of an expired tag all get the current manifest', async () => {
    const pushed = await pushImage(app, 'herd', 'latest');
    const second = await pushImage(app, 'herd', 'latest', { layers: ['two'] });
    expect(second.digest).not.toBe(pushed.digest);
    server.ctx.manifestCache?.forgetRepository('herd'); // as if every entry had expired
    const answers = await Promise.all(Array.from({ length: 16 }, () => get(app, '/v2/herd/manifests/latest')));
    for (const a of answers) expect([a.status, a.digest]).toEqual([200, second.digest]);
  });

  it('stays bounded and expires entries', async () => {
    const cache = new ManifestCache({ maxEntries: 3, maxBytes: 10, ttlMs: 50 });
    const rec = (i: number, size = 2) => ({
      digest: `sha256:${i}`,
      mediaType: 'x',
      size,
      content: new Uint8Array(size),
    });
    for (let i = 0; i < 5; i++) cache.remember('r', `t${i}`, rec(i), cache.generation);
    expect(cache.size).toEqual({ tags: 3, manifests: 3, bytes: 6 });
    expect(cache.tag('r', 't0')).toBeUndefined();
    expect(cache.tag('r', 't4')).toBe('sha256:4');
    cache.remember('r', undefined, rec(9, 9), cache.generation);
    expect(cache.size.bytes).toBeLessThanOrEqual(10);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(cache.tag('r', 't4')).toBeUndefined();
    expect(cache.manifest('r', 'sha256:9')).toBeUndefined();
  });
});

describe('manifest cache: reads of one-component names', () => {
  let server: WharfServer;
  let app: FastifyInstance;
  beforeAll(async () => {
    server = await memoryServer();
    app = server.app;
  });
  afterAll(() => server.close());

  it('an existing top-level repository is remembered, so its reads skip the alias lookup', async () => {
    const pushed = await pushImage(app, 'solo', 'latest');
    expect((await get(app, '/v2/solo/manifests/latest')).digest).toBe(pushed.digest);
    expect(server.ctx.manifestCache?.exists('solo')).toBe(true);
    expect((await get(app, '/v2/nothere/manifests/latest')).status).toBe(404);
    expect(server.ctx.manifestCache?.exists('nothere')).toBe(false);
  });

  it('a name read as its official library/ repository is served by its own repository right after a push', async () => {
    const official = await pushImage(app, 'library/base', 'latest', { layers: ['official'] });
    expect(await setOfficial(server.ctx.db, 'library/base', true)).toBe(true);
    expect((await get(app, '/v2/base/manifests/latest')).digest).toBe(official.digest);
    // The alias is never remembered: a push that creates `base` shows at once.
    const own = await pushImage(app, 'base', 'latest', { layers: ['own'] });
    expect((await get(app, '/v2/base/manifests/latest')).digest).toBe(own.digest);
  });

  it('forgetRepository drops what is remembered, and a lookup begun before it does not put it back', () => {
    const cache = new ManifestCache();
    cache.rememberExists('x', cache.generation);
    expect(cache.exists('x')).toBe(true);
    const seen = cache.generation;
    cache.forgetRepository('x');
    expect(cache.exists('x')).toBe(false);
    cache.rememberExists('x', seen);
    expect(cache.exists('x')).toBe(false);
  });
});

describe('manifest cache: a repository deleted through the hub API', () => {
  const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1' };
  let server: WharfServer;
  beforeAll(async () => {
    server = await hubServer(PASSWORDS);
  });
  afterAll(() => server.close());

  it('its manifests are unknown at once', async () => {
    const basic = `Basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64')}`;
    const tokenRes = await server.app.inject({
      method: 'GET',
      url: '/token?service=wharf&scope=repository:alice/app:pull,push',
      headers: { authorization: basic },
    });
    expect(tokenRes.statusCode).toBe(200);
    const bearer = { authorization: `Bearer ${(tokenRes.json() as { token: string }).token}` };
    const pushed = await pushImageWithHeaders(server.app, bearer);
    expect((await get(server.app, '/v2/alice/app/manifests/latest', bearer)).digest).toBe(pushed);
    const del = await server.app.inject({
      method: 'DELETE',
      url: '/api/repositories/alice/app',
      headers: { authorization: basic, 'content-type': 'application/json' },
    });
    expect(del.statusCode).toBe(204);
    const after = await get(server.app, '/v2/alice/app/manifests/latest', bearer);
    expect(after.status).toBe(404);
  });
});

/** pushImage with a bearer token on every request (the content-type headers it sets are kept). */
async function pushImageWithHeaders(app: FastifyInstance, headers: Record<string, string>): Promise<string> {
  const proxy = {
    inject: (opts: { headers?: Record<string, string> }) =>
      app.inject({ ...opts, headers: { ...(opts.headers ?? {}), ...headers } } as never),
  } as unknown as FastifyInstance;
  return (await pushImage(proxy, 'alice/app', 'latest')).digest;
}
