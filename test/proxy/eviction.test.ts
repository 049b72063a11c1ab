// Eviction of the pull-through cache through GC (proxy.max_bytes, proxy.keep_days), against a real
// remote (Debian's docker-registry filled by skopeo), with Wharf on the filesystem driver and its
// SQLite file so that `wharf gc` runs on the same data directory, as an operator would.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MetadataDb } from '../../src/metadata/db.js';
import { type ReferenceRegistry, startReferenceRegistry } from '../support/reference-registry.js';
import { openDataDirDb, WHARF_BIN } from '../support/server.js';
import { interopDescribe, removeTmpDir, runOk, tmpDir, waitFor } from '../support/tools.js';
import { getBlob, pullOverHttp, pushRandomImage, type RemoteImage } from './remote-image.js';
import { type ProxyServer, startProxyServer } from './support.js';

const PREFIX = 'cache/ref';
/** Each image: two random layers of these sizes (unique to it), a config and a manifest. */
const LAYERS = [100_000, 60_000];
/** Two images fit (about 321 kB), three (about 481 kB) do not. */
const MAX_BYTES = 400_000;

interopDescribe(
  'pull-through cache: eviction through GC, stale fills, cold ranges',
  ['docker-registry', 'skopeo'],
  () => {
    let dir: string;
    let remote: ReferenceRegistry;
    let wharf: ProxyServer;
    let db: MetadataDb;
    const images: Record<string, RemoteImage> = {};

    const serverEnv = () => ({
      WHARF_STORAGE_DRIVER: 'filesystem',
      WHARF_STORAGE_ROOT: dir,
      WHARF_LOG_LEVEL: 'info',
      // GC runs from `wharf gc` here; a review delay of 0 makes what a fill or an eviction queues due at once.
      WHARF_GC_ENABLED: 'false',
      WHARF_GC_REVIEW_DELAY: '0s',
    });
    const start = () => startProxyServer([{ name: 'ref', url: remote.url, prefix: PREFIX }], serverEnv());

    /** `wharf gc --json` on Wharf's data directory with these settings; the report. */
    async function gc(env: Record<string, string>, extra: string[] = []) {
      const out = await runOk(process.execPath, [WHARF_BIN, 'gc', '--json', ...extra, '--data', dir], {
        env: { ...process.env, WHARF_GC_REVIEW_DELAY: '0s', ...env },
      });
      return JSON.parse(out.stdout) as {
        manifestsEvicted: number;
        manifestsDeleted: number;
        blobsDeleted: number;
        deleted: { kind: string; digest: string; repository?: string; evicted?: string }[];
      };
    }

    const blobFile = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');

    /** The bytes of every blob file under blobs/ (what the cache takes on disk here: nothing else is stored). */
    async function blobBytesOnDisk(): Promise<number> {
      let total = 0;
      for (const entry of await readdir(join(dir, 'blobs'), { recursive: true, withFileTypes: true })) {
        if (entry.isFile() && entry.name === 'data') total += (await stat(join(entry.parentPath, entry.name))).size;
      }
      return total;
    }

    /** When the server last saw a GET of the manifest (pull times are written in batches). */
    async function lastPull(repo: string, digest: string): Promise<string | undefined> {
      const row = await db
        .selectFrom('proxy_manifests as p')
        .innerJoin('repositories as r', 'r.id', 'p.repository_id')
        .select('p.pulled_at')
        .where('r.name', '=', `${PREFIX}/${repo}`)
        .where('p.digest', '=', digest)
        .executeTakeFirst();
      return row?.pulled_at ?? undefined;
    }

    beforeAll(async () => {
      dir = await tmpDir('wharf-proxy-evict');
      remote = await startReferenceRegistry();
      for (const name of ['a', 'b', 'c', 'd', 'e'])
        images[name] = await pushRandomImage(remote.host, name, 'v1', LAYERS);
      wharf = await start();
      db = await openDataDirDb(dir);
    }, 120_000);
    afterAll(async () => {
      await db?.destroy();
      await wharf?.close();
      await remote?.stop();
      await removeTmpDir(dir);
    });

    it('a manifest cached by digest only is kept by delete_untagged GC (eviction owns it)', async () => {
      const d = images.d as RemoteImage;
      // Pulled by digest only: untagged in Wharf, and its untagged review is due at once (review delay 0).
      expect(await pullOverHttp(wharf.url, `${PREFIX}/d`, d.manifestDigest)).toEqual(d);
      const report = await gc({ WHARF_GC_DELETE_UNTAGGED: 'true' });
      expect(report.deleted.map((x) => x.digest)).not.toContain(d.manifestDigest);
      // Served from the cache alone: the remote is down.
      await remote.pause();
      try {
        expect(await pullOverHttp(wharf.url, `${PREFIX}/d`, d.manifestDigest)).toEqual(d);
      } finally {
        await remote.resume();
      }
    }, 120_000);

    it('proxy.max_bytes evicts the least recently pulled images; the others pull with the remote stopped; the evicted one is fetched again', async () => {
      const [a, b, c] = [images.a, images.b, images.c] as [RemoteImage, RemoteImage, RemoteImage];
      for (const name of ['a', 'b', 'c']) await pullOverHttp(wharf.url, `${PREFIX}/${name}`, 'v1');
      const filledC = await lastPullOrWait('c', c.manifestDigest);
      // `a` again: now `b` is the least recently pulled, though `a` was filled first.
      await pullOverHttp(wharf.url, `${PREFIX}/a`, 'v1');
      await waitFor(
        'the second pull of a recorded',
        async () => ((await lastPull('a', a.manifestDigest)) ?? '') > filledC,
      );
      expect(await blobBytesOnDisk()).toBeGreaterThan(MAX_BYTES);

      // Least recently pulled first: `d` (pulled in the test before), then `b`; then two images fit.
      const limits = { WHARF_PROXY_MAX_BYTES: String(MAX_BYTES) };
      const dry = await gc(limits, ['--dry-run']);
      expect(dry.deleted.filter((x) => x.evicted).map((x) => x.repository)).toEqual([`${PREFIX}/d`, `${PREFIX}/b`]);
      expect(existsSync(blobFile(b.blobs[1] as string))).toBe(true);
      const text = await runOk(process.execPath, [WHARF_BIN, 'gc', '--dry-run', '--data', dir], {
        env: { ...process.env, WHARF_GC_REVIEW_DELAY: '0s', ...limits },
      });
      expect(text.stdout).toContain(`would evict (max_bytes) manifest ${PREFIX}/b@${b.manifestDigest}`);
      expect(text.stdout).toContain('Would evict 2 cached manifest(s)');

      const report = await gc(limits);
      expect(report.manifestsEvicted).toBe(2);
      expect(report.deleted.filter((x) => x.evicted)).toEqual([
        expect.objectContaining({ repository: `${PREFIX}/d`, evicted: 'max_bytes' }),
        expect.objectContaining({ repository: `${PREFIX}/b`, digest: b.manifestDigest, evicted: 'max_bytes' }),
      ]);
      // Their blobs went in the same run (review delay 0), nobody else's did.
      for (const blob of [...b.blobs, ...(images.d as RemoteImage).blobs])
        expect(existsSync(blobFile(blob))).toBe(false);
      for (const blob of [...a.blobs, ...c.blobs]) expect(existsSync(blobFile(blob))).toBe(true);
      expect(await blobBytesOnDisk()).toBeLessThanOrEqual(MAX_BYTES);

      await remote.pause();
      try {
        expect(await pullOverHttp(wharf.url, `${PREFIX}/a`, 'v1')).toEqual(a);
        expect(await pullOverHttp(wharf.url, `${PREFIX}/c`, 'v1')).toEqual(c);
        // The server's in-memory manifest cache trusts an entry for a second at most.
        await waitFor('the evicted image to be unavailable with the remote down', async () => {
          const res = await fetch(`${wharf.url}/v2/${PREFIX}/b/manifests/v1`);
          await res.arrayBuffer();
          return res.status >= 400;
        });
      } finally {
        await remote.resume();
      }
      expect(await pullOverHttp(wharf.url, `${PREFIX}/b`, 'v1')).toEqual(b);
      // Stored again (the commit finishes just after the client has its bytes).
      await waitFor('b stored again', () => b.blobs.every((blob) => existsSync(blobFile(blob))));

      // The run is in the history with its evictions.
      const history = await db
        .selectFrom('gc_runs')
        .select('manifests_evicted')
        .orderBy('id', 'desc')
        .executeTakeFirst();
      expect(history?.manifests_evicted).toBe(2);
    }, 120_000);

    it('proxy.keep_days evicts an image not pulled within the window; a stale proxy fill dir is purged at start', async () => {
      const c = images.c as RemoteImage;
      await wharf.close();
      // Time, honestly: the last pull of `c` as the stopped server's database would hold it ten days on.
      const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000).toISOString();
      const repo = await db
        .selectFrom('repositories')
        .select('id')
        .where('name', '=', `${PREFIX}/c`)
        .executeTakeFirstOrThrow();
      await db
        .updateTable('proxy_manifests')
        .set({ pulled_at: tenDaysAgo, cached_at: tenDaysAgo })
        .where('repository_id', '=', repo.id)
        .execute();
      // A fill's temp dir left by a crash two hours ago, and one being written now (kept).
      const stale = join(dir, 'uploads', `proxy-${randomUUID()}`);
      const fresh = join(dir, 'uploads', `proxy-${randomUUID()}`);
      for (const d of [stale, fresh]) {
        await mkdir(d, { recursive: true });
        await writeFile(join(d, 'data'), 'partial');
      }
      const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
      await utimes(join(stale, 'data'), twoHoursAgo, twoHoursAgo);
      await utimes(stale, twoHoursAgo, twoHoursAgo);

      wharf = await start();
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(fresh)).toBe(true);

      const report = await gc({ WHARF_PROXY_KEEP_DAYS: '7' });
      expect(report.deleted.filter((x) => x.evicted)).toEqual([
        expect.objectContaining({ repository: `${PREFIX}/c`, digest: c.manifestDigest, evicted: 'keep_days' }),
      ]);
      for (const blob of c.blobs) expect(existsSync(blobFile(blob))).toBe(false);
      for (const blob of (images.a as RemoteImage).blobs) expect(existsSync(blobFile(blob))).toBe(true);
      // Its tag is gone from Wharf: the next pull fetches it again.
      expect(await pullOverHttp(wharf.url, `${PREFIX}/c`, 'v1')).toEqual(c);
      await getBlob(wharf.url, `${PREFIX}/c`, c.blobs[1] as string);
    }, 120_000);

    it('a cold Range request answers 206 with the asked bytes (the whole blob is fetched and verified first)', async () => {
      const layer = (images.e as RemoteImage).blobs[1] as string;
      const whole = Buffer.from(await (await fetch(`${remote.url}/v2/e/blobs/${layer}`)).arrayBuffer());
      const res = await fetch(`${wharf.url}/v2/${PREFIX}/e/blobs/${layer}`, { headers: { range: 'bytes=1000-1999' } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes 1000-1999/${whole.length}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(whole.subarray(1000, 2000))).toBe(true);
      // Cached whole: the same range again with the remote down.
      await remote.pause();
      try {
        const again = await fetch(`${wharf.url}/v2/${PREFIX}/e/blobs/${layer}`, { headers: { range: 'bytes=0-9' } });
        expect(again.status).toBe(206);
        expect(Buffer.from(await again.arrayBuffer()).equals(whole.subarray(0, 10))).toBe(true);
      } finally {
        await remote.resume();
      }
    }, 120_000);

    /** The recorded pull of a manifest just pulled (written within about a second). */
    async function lastPullOrWait(repo: string, digest: string): Promise<string> {
      let at: string | undefined;
      await waitFor(`the pull of ${repo} recorded`, async () => {
        at = await lastPull(repo, digest);
        return at !== undefined;
      });
      return at as string;
    }
  },
);
