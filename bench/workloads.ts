// The workloads. Each returns plain numbers; run.ts runs the same sequence on both servers.
import { performance } from 'node:perf_hooks';
import { HttpStatusError, RegistryClient } from './client.js';
import { blobStream, MANIFEST_TYPE, type TinyImage, tinyImage } from './data.js';

export interface BigBlob {
  seed: number;
  size: number;
  digest: string;
}

const MiB = 1024 * 1024;
const PATCH_CHUNK = 16 * MiB;

function mibPerSec(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

async function verifyBlob(c: RegistryClient, repo: string, blob: BigBlob): Promise<void> {
  const r = await c.req('HEAD', `/v2/${repo}/blobs/${blob.digest}`);
  const len = Number(r.headers['content-length']);
  if (r.status !== 200 || len !== blob.size) {
    throw new Error(`pushed blob not served back correctly (HEAD ${r.status}, length ${len})`);
  }
}

/** POST, then one PUT ?digest= carrying the whole streamed body. */
export async function pushMonolithic(c: RegistryClient, repo: string, blob: BigBlob): Promise<number> {
  const t0 = performance.now();
  const loc = await c.startUpload(repo);
  await c.finishUpload(loc, blob.digest, blobStream(blob.seed, 0, blob.size), blob.size);
  const ms = performance.now() - t0;
  await verifyBlob(c, repo, blob);
  return mibPerSec(blob.size, ms);
}

/** POST, 16 MiB PATCHes with Content-Range (following each new Location), empty PUT. */
export async function pushChunked(c: RegistryClient, repo: string, blob: BigBlob): Promise<number> {
  const t0 = performance.now();
  let loc = await c.startUpload(repo);
  for (let start = 0; start < blob.size; start += PATCH_CHUNK) {
    const end = Math.min(start + PATCH_CHUNK, blob.size);
    const r = await c.req('PATCH', loc.pathname + loc.search, {
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${start}-${end - 1}`,
        'content-length': String(end - start),
      },
      body: blobStream(blob.seed, start, end),
    });
    RegistryClient.expect(r, [202], `PATCH ${start}-${end - 1}`);
    loc = c.locationPath(r, 'PATCH');
  }
  await c.finishUpload(loc, blob.digest, null, 0);
  const ms = performance.now() - t0;
  await verifyBlob(c, repo, blob);
  return mibPerSec(blob.size, ms);
}

/** POST, one PATCH with no Content-Length (chunked transfer encoding), empty PUT. */
export async function pushStreamed(c: RegistryClient, repo: string, blob: BigBlob): Promise<number> {
  const t0 = performance.now();
  const loc = await c.startUpload(repo);
  const r = await c.req('PATCH', loc.pathname + loc.search, {
    headers: { 'content-type': 'application/octet-stream' },
    body: blobStream(blob.seed, 0, blob.size),
  });
  RegistryClient.expect(r, [202], 'streamed PATCH');
  await c.finishUpload(c.locationPath(r, 'PATCH'), blob.digest, null, 0);
  const ms = performance.now() - t0;
  await verifyBlob(c, repo, blob);
  return mibPerSec(blob.size, ms);
}

/** GET the blob and consume the stream, counting bytes. */
export async function pullBlob(c: RegistryClient, repo: string, blob: BigBlob): Promise<number> {
  const t0 = performance.now();
  const res = await c.pool.request({ method: 'GET', path: `/v2/${repo}/blobs/${blob.digest}`, headers: c.headers() });
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    throw new HttpStatusError(`GET blob: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
  }
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) n += chunk.length;
  const ms = performance.now() - t0;
  if (n !== blob.size) throw new Error(`GET blob returned ${n} bytes, expected ${blob.size}`);
  return mibPerSec(blob.size, ms);
}

export interface Rate {
  perSec: number;
  ops: number;
  p50ms: number;
  p99ms: number;
}

/** Runs `op` from `concurrency` loops for `durationMs`; stops everyone on the first error. */
export async function hammer(durationMs: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Rate> {
  const latencies: number[] = [];
  let next = 0;
  let failed = false;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!failed && performance.now() < end) {
        const t = performance.now();
        try {
          await op(next++);
        } catch (err) {
          failed = true;
          throw err;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    perSec: latencies.length / seconds,
    ops: latencies.length,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
  };
}

/** Runs `op` exactly `count` times from `concurrency` loops. */
export async function runCount(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await op(i);
    }),
  );
  return count / ((performance.now() - start) / 1000);
}

export async function pushImage(c: RegistryClient, repo: string, tag: string, img: TinyImage): Promise<void> {
  await c.pushSmallBlob(repo, img.layer, img.layerDigest);
  await c.pushSmallBlob(repo, img.config, img.configDigest);
  await c.putManifest(repo, tag, img.manifest, MANIFEST_TYPE);
}

export async function manifestGetRate(
  c: RegistryClient,
  repo: string,
  tag: string,
  durationMs: number,
  concurrency: number,
): Promise<Rate> {
  const op = async (): Promise<void> => {
    const r = await c.req('GET', `/v2/${repo}/manifests/${tag}`, { headers: { accept: MANIFEST_TYPE } });
    RegistryClient.expect({ ...r, text: '' }, [200], 'GET manifest');
  };
  await hammer(500, concurrency, op); // warm-up (JIT, connection pool), not counted
  return hammer(durationMs, concurrency, op);
}

export async function blobHeadRate(
  c: RegistryClient,
  repo: string,
  digest: string,
  durationMs: number,
  concurrency: number,
): Promise<Rate> {
  const op = async (): Promise<void> => {
    const r = await c.req('HEAD', `/v2/${repo}/blobs/${digest}`);
    RegistryClient.expect({ ...r, text: '' }, [200], 'HEAD blob');
  };
  await hammer(500, concurrency, op);
  return hammer(durationMs, concurrency, op);
}

/** Unique tiny images pushed the way a client does (HEAD, POST, PUT per blob; PUT manifest). */
export async function smallImagePushRate(
  c: RegistryClient,
  repo: string,
  durationMs: number,
  concurrency: number,
): Promise<Rate> {
  return hammer(durationMs, concurrency, async (i) => {
    await pushImage(c, repo, `i${i}`, tinyImage(100_000 + i));
  });
}

export interface ListingTime {
  medianMs: number;
  p90ms: number;
  items: number;
  pages: number;
}

/**
 * Median time (ms) of `count` sequential listings of `want` entries. Normally one GET
 * ?n=want; a server that caps `n` lower is followed through its Link rel="next" pages
 * until `want` entries arrived, and the time covers all of them.
 */
export async function timeListing(
  c: RegistryClient,
  path: string,
  field: 'tags' | 'repositories',
  want: number,
  count: number,
): Promise<ListingTime> {
  const times: number[] = [];
  let items = 0;
  let pages = 0;
  for (let i = 0; i < count + 2; i++) {
    items = 0;
    pages = 0;
    const t = performance.now();
    for (let next: string | null = path; next !== null && items < want; ) {
      const r = await c.req('GET', next, { text: true });
      RegistryClient.expect(r, [200], `GET ${next}`);
      const list = (JSON.parse(r.text) as Record<string, unknown>)[field];
      items += Array.isArray(list) ? list.length : 0;
      pages++;
      const link = r.headers.link;
      const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(Array.isArray(link) ? link.join(',') : (link ?? ''));
      next =
        m?.[1] === undefined
          ? null
          : (() => {
              const u = new URL(m[1] as string, c.origin);
              return u.pathname + u.search;
            })();
    }
    const ms = performance.now() - t;
    if (i >= 2) times.push(ms); // first two are warm-up
  }
  times.sort((a, b) => a - b);
  return { medianMs: percentile(times, 50), p90ms: percentile(times, 90), items, pages };
}
