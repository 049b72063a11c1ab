// The pull-through cache's eviction on the dialect of the run (SQLite in `npm test`, PostgreSQL in
// `npm run test:postgres`): its queries (recency, the cache's bytes, shared blobs) and GC's rule
// that leaves cached manifests to eviction. Manifests are marked cached as a fill marks them
// (recordCachedManifest); fills from a real remote are in test/proxy/eviction.test.ts.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { flushPullCounts } from '../../src/hub/pulls.js';
import { now } from '../../src/metadata/db.js';
import { putManifest } from '../../src/metadata/manifests.js';
import {
  evictCachedManifests,
  listCachedManifests,
  recordCachedManifest,
  touchCachedManifests,
} from '../../src/metadata/proxy.js';
import { ensureRepository, findRepositoryId } from '../../src/metadata/repositories.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { type GcOptions, runGc } from '../../src/registry/gc.js';
import type { WharfServer } from '../../src/server/app.js';
import { pushImage } from '../support/push.js';
import { hubServer, memoryServer } from '../support/server.js';
import { waitFor } from '../support/tools.js';

let server: WharfServer;
afterEach(async () => {
  await server?.close();
});

const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000).toISOString();

/** Marks the manifest as filled by a remote and pulled at `pulledAt`. */
async function cached(repo: string, digest: string, pulledAt: string): Promise<void> {
  const db = server.ctx.db;
  const id = await findRepositoryId(db, repo);
  if (id === undefined) throw new Error(`no repository ${repo}`);
  await recordCachedManifest(db, id, digest, 'remote');
  await touchCachedManifests(db, id, new Map([[digest, pulledAt]]));
}

const gc = (eviction: GcOptions['eviction']) =>
  runGc(server.ctx, { deleteUntagged: true, reviewDelay: 0, trigger: 'test', ...(eviction ? { eviction } : {}) });

const status = async (app: FastifyInstance, url: string) => (await app.inject({ method: 'GET', url })).statusCode;

describe(`pull-through cache eviction (${process.env.WHARF_TEST_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('max_bytes evicts least recently pulled first, counts a layer a pushed image shares as not the cache’s, frees blobs in the run; keep_days evicts the stale', async () => {
    server = await memoryServer({ WHARF_GC_REVIEW_DELAY: '0s', WHARF_GC_ENABLED: 'false' });
    const app = server.app;
    const layer = (c: string) => c.repeat(10_000);
    const a = await pushImage(app, 'cache/a', 'v1', { layers: [layer('a')] });
    const b = await pushImage(app, 'cache/b', 'v1', { layers: [layer('b')] });
    const c = await pushImage(app, 'cache/c', 'v1', { layers: [layer('c')] });
    // A pushed image with a's layer: that layer stays whatever the cache does.
    const mine = await pushImage(app, 'mine/app', 'v1', { layers: [layer('a')] });
    await cached('cache/a', a.digest, minutesAgo(1));
    await cached('cache/b', b.digest, minutesAgo(3));
    await cached('cache/c', c.digest, minutesAgo(2));

    // About 10.5 kB each for b and c; a holds only its config and manifest: b goes, then it fits.
    const first = await gc({ maxBytes: 15_000, keepDays: 0 });
    expect(first.deleted.filter((d) => d.evicted).map((d) => d.repository)).toEqual(['cache/b']);
    // Its layer; not its config, which every image here shares (same body), pushed ones too.
    expect(first.deleted.filter((d) => d.kind === 'blob').map((d) => d.digest)).toEqual([b.layers[0]]);
    expect(b.config).toBe(mine.config);
    expect(await status(app, `/v2/cache/b/manifests/v1`)).toBe(404);
    expect(await status(app, `/v2/cache/b/blobs/${b.layers[0]}`)).toBe(404);
    for (const [repo, img] of [
      ['cache/a', a],
      ['cache/c', c],
      ['mine/app', mine],
    ] as const) {
      expect(await status(app, `/v2/${repo}/manifests/v1`)).toBe(200);
      expect(await status(app, `/v2/${repo}/blobs/${img.layers[0]}`)).toBe(200);
    }
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^wharf_gc_evicted_total [1-9]/m);
    // Under the limit now: another run evicts nothing.
    expect((await gc({ maxBytes: 15_000, keepDays: 0 })).manifestsEvicted).toBe(0);

    // c's last pull ten days ago: keep_days 7 evicts it, a (pulled a minute ago) stays.
    // Time, honestly: c's recorded pull as the database would hold it ten days on.
    await server.ctx.db
      .updateTable('proxy_manifests')
      .set({ pulled_at: minutesAgo(60 * 24 * 10), cached_at: minutesAgo(60 * 24 * 10) })
      .where('digest', '=', c.digest)
      .execute();
    const second = await gc({ maxBytes: 0, keepDays: 7 });
    expect(second.deleted.filter((d) => d.evicted)).toEqual([
      expect.objectContaining({ repository: 'cache/c', digest: c.digest, evicted: 'keep_days' }),
    ]);
    expect(await status(app, `/v2/cache/c/manifests/v1`)).toBe(404);
    expect(await status(app, `/v2/cache/a/manifests/v1`)).toBe(200);
  });

  it('delete_untagged leaves an untagged cached manifest alone and still deletes an untagged pushed one', async () => {
    server = await memoryServer({ WHARF_GC_REVIEW_DELAY: '0s', WHARF_GC_ENABLED: 'false' });
    const app = server.app;
    const byDigest = async (repo: string) => {
      const img = await pushImage(app, repo, 'tmp');
      // Untagged: the manifest again by digest, then the tag removed (its review is due at once).
      const res = await app.inject({ method: 'DELETE', url: `/v2/${repo}/manifests/tmp` });
      expect(res.statusCode).toBe(202);
      return img;
    };
    const cachedImg = await byDigest('cache/d');
    const pushedImg = await byDigest('mine/d');
    await cached('cache/d', cachedImg.digest, minutesAgo(1));
    const report = await gc(undefined);
    const deleted = report.deleted.filter((d) => d.kind === 'manifest').map((d) => d.digest);
    expect(deleted).toContain(pushedImg.digest);
    expect(deleted).not.toContain(cachedImg.digest);
    expect(await status(app, `/v2/cache/d/manifests/${cachedImg.digest}`)).toBe(200);
    expect(await status(app, `/v2/mine/d/manifests/${pushedImg.digest}`)).toBe(404);
  });
});

describe(`pushed and cached at once (${process.env.WHARF_TEST_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite'})`, () => {
  /** What a fill stores: the manifest's bytes under `tag`, from `remote` (as ProxyCache.storeManifest). */
  async function fill(repo: string, tag: string, manifest: { digest: string; mediaType: string; content: Buffer }) {
    const db = server.ctx.db;
    const id = await ensureRepository(db, repo, 'public');
    await putManifest(db, id, { ...manifest, references: [] }, [tag], { lazyReferences: true, cachedFrom: 'hub' });
    // Not pulled for an hour: keep_days of 0.01 (14 minutes) evicts whatever is the cache's.
    await touchCachedManifests(db, id, new Map([[manifest.digest, minutesAgo(60)]]));
  }

  async function manifestOf(repo: string, ref: string) {
    const res = await server.app.inject({ method: 'GET', url: `/v2/${repo}/manifests/${ref}` });
    expect(res.statusCode).toBe(200);
    return {
      digest: String(res.headers['docker-content-digest']),
      mediaType: String(res.headers['content-type']),
      content: res.rawPayload,
    };
  }

  it('a tag a user pushed survives eviction when a fill brings the same manifest, before or after the push', async () => {
    server = await memoryServer({ WHARF_GC_REVIEW_DELAY: '0s', WHARF_GC_ENABLED: 'false' });
    const app = server.app;
    // Pushed first, then the remote's `latest` turns out to be the same manifest.
    const pushed = await pushImage(app, 'library/alpine', 'prod', { layers: ['alpine'] });
    await fill('library/alpine', 'latest', await manifestOf('library/alpine', 'prod'));
    // Filled first, then a user pushes the same image under another tag.
    // (The same tag name makes the same config, so the same manifest.)
    const other = await pushImage(app, 'scratch/busybox', 'prod', { layers: ['busybox'] });
    await fill('library/busybox', 'latest', await manifestOf('scratch/busybox', 'prod'));
    const pushedLater = await pushImage(app, 'library/busybox', 'prod', { layers: ['busybox'] });
    expect(pushedLater.digest).toBe(other.digest);
    // And a manifest only the cache has, which goes.
    const onlyCached = await pushImage(app, 'scratch/redis', 'v1', { layers: ['redis'] });
    await fill('library/redis', 'latest', await manifestOf('scratch/redis', 'v1'));

    const report = await gc({ maxBytes: 0, keepDays: 0.01 });
    expect(report.deleted.filter((d) => d.evicted).map((d) => `${d.repository}@${d.digest}`)).toEqual([
      `library/redis@${onlyCached.digest}`,
    ]);
    for (const url of [
      '/v2/library/alpine/manifests/prod',
      '/v2/library/alpine/manifests/latest',
      '/v2/library/busybox/manifests/prod',
      '/v2/library/busybox/manifests/latest',
    ]) {
      expect(await status(app, url), url).toBe(200);
    }
    expect(await status(app, '/v2/library/redis/manifests/latest')).toBe(404);
    expect((await manifestOf('library/alpine', 'latest')).digest).toBe(pushed.digest);
  });
});

describe(`eviction beside the pull counts (${process.env.WHARF_TEST_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('an eviction and a flush of pulls of the same repository at the same moment both succeed (no deadlock)', async () => {
    server = await memoryServer({ WHARF_GC_REVIEW_DELAY: '0s', WHARF_GC_ENABLED: 'false' });
    const db = server.ctx.db;
    // On PostgreSQL the two transactions run on two pooled connections, as on two nodes; they
    // once took the repository's row and the cached manifests' rows in opposite orders.
    for (let round = 0; round < 10; round++) {
      const repo = `library/round${round}`;
      const a = await pushImage(server.app, repo, 'a');
      const b = await pushImage(server.app, repo, 'b');
      await cached(repo, a.digest, minutesAgo(10));
      await cached(repo, b.digest, minutesAgo(10));
      const plan = (await listCachedManifests(db)).filter((m) => m.repository === repo);
      expect(plan).toHaveLength(2);
      const pulls = { count: 1, tags: new Map([['b', now()]]), manifests: new Map([[b.digest, now()]]) };
      const [evicted, flushed] = await Promise.allSettled([
        evictCachedManifests(db, plan, now()),
        flushPullCounts(db, new Map([[repo, pulls]])),
      ]);
      expect(evicted.status === 'rejected' ? String(evicted.reason) : 'ok').toBe('ok');
      expect(flushed.status === 'rejected' ? String(flushed.reason) : 'ok').toBe('ok');
    }
  });
});

describe('eviction on the server’s GC schedule', () => {
  it('the scheduled run evicts with the configured proxy limits', async () => {
    server = await memoryServer({
      WHARF_GC_ENABLED: 'true',
      WHARF_GC_INTERVAL: '200ms',
      WHARF_GC_REVIEW_DELAY: '0s',
      WHARF_PROXY_KEEP_DAYS: '7',
    });
    const app = server.app;
    const old = await pushImage(app, 'cache/old', 'v1');
    const fresh = await pushImage(app, 'cache/fresh', 'v1');
    await cached('cache/fresh', fresh.digest, minutesAgo(1));
    await cached('cache/old', old.digest, minutesAgo(60 * 24 * 8));
    await server.ctx.db
      .updateTable('proxy_manifests')
      .set({ cached_at: minutesAgo(60 * 24 * 8) })
      .where('digest', '=', old.digest)
      .execute();
    await waitFor(
      'the scheduled GC to evict cache/old',
      async () => (await status(app, '/v2/cache/old/manifests/v1')) === 404,
    );
    expect(await status(app, '/v2/cache/fresh/manifests/v1')).toBe(200);
  });
});

describe('evictions on the admin GC page', () => {
  it('states the cache limits and counts evictions in the run history', async () => {
    const passwords = { admin: 'admin-Secret-0' };
    server = await hubServer(passwords, {
      env: { WHARF_GC_ENABLED: 'false', WHARF_PROXY_KEEP_DAYS: '7', WHARF_PROXY_MAX_BYTES: '1GiB' },
    });
    const db = server.ctx.db;
    // A cached manifest last pulled ten days ago (its blobs never fetched: a fill stores them lazily).
    const content = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, layers: [] }));
    const digest = digestOf(content);
    const id = await ensureRepository(db, 'cache/old', 'public');
    await putManifest(db, id, { digest, mediaType: MediaType.ociManifest, content, references: [] }, ['v1'], {
      lazyReferences: true,
    });
    await recordCachedManifest(db, id, digest, 'remote');
    await db
      .updateTable('proxy_manifests')
      .set({ cached_at: minutesAgo(60 * 24 * 10) })
      .execute();
    const report = await runGc(server.ctx, {
      deleteUntagged: true,
      reviewDelay: 0,
      trigger: 'test',
      eviction: { maxBytes: 1024 ** 3, keepDays: 7 },
    });
    expect(report.manifestsEvicted).toBe(1);

    const app = server.app;
    const first = await app.inject({ method: 'GET', url: '/signin' });
    const csrf = first.cookies.find((c) => c.name === 'wharf_csrf')?.value ?? '';
    const signin = await app.inject({
      method: 'POST',
      url: '/signin',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `wharf_csrf=${csrf}` },
      payload: new URLSearchParams({ username: 'admin', password: passwords.admin, _csrf: csrf }).toString(),
    });
    const session = signin.cookies.find((c) => c.name === 'wharf_session')?.value ?? '';
    const page = await app.inject({ method: 'GET', url: '/admin/gc', headers: { cookie: `wharf_session=${session}` } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(
      'evicts pull-through cache content not pulled for 7 day(s), then least recently pulled first above',
    );
    expect(page.body).toContain('<th>Evicted</th>');
    expect(page.body).toMatch(/<td>test<\/td><td><\/td>(<td>[^<]*<\/td>){4}<td>1<\/td>/);
  });
});
