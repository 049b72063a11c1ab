import {
  type CachedManifest,
  cachedBytesUpperBound,
  evictCachedManifests,
  listCachedBlobReferences,
  listCachedManifests,
} from '../../metadata/proxy.js';
import type { RegistryContext } from '../context.js';

/**
 * Eviction of the pull-through cache, a step of every GC run (registry/gc.ts). It removes cached
 * manifests as a manifest DELETE would (their tags with them) and queues what they leave for the
 * ordinary review, which deletes the blobs nothing else references. What was evicted is simply
 * fetched again by the next pull.
 */

export interface EvictionOptions {
  /** `proxy.max_bytes`: the cache's bytes at most, over all remotes (0: no limit). */
  maxBytes: number;
  /** `proxy.keep_days`: cached manifests not pulled for this long go (0: never). */
  keepDays: number;
}

export interface Eviction {
  repository: string;
  digest: string;
  /** The manifest's own bytes (its blobs are counted when GC deletes them). */
  size: number;
  reason: 'keep_days' | 'max_bytes';
}

export interface EvictionReport {
  evicted: Eviction[];
  /** The cache's bytes before and after (or, in a dry run, as they would be). */
  bytesBefore: number;
  bytesAfter: number;
}

const DAY_MS = 86_400_000;
/** Evictions per transaction (as GC's reviews): amortizes the commit, keeps the write lock short. */
const BATCH = 16;

/**
 * The cache's bytes: its manifests, and the stored blobs its manifests reference that no other
 * manifest does (a base layer that a pushed image shares is not the cache's to free), each once.
 */
class CacheBytes {
  total = 0;
  private readonly users = new Map<string, number>();
  private readonly sizes = new Map<string, number>();
  private readonly blobsOf = new Map<string, string[]>();

  constructor(manifests: CachedManifest[], refs: Awaited<ReturnType<typeof listCachedBlobReferences>>) {
    for (const m of manifests) this.total += m.size;
    for (const r of refs) {
      if (r.shared) continue;
      const key = `${r.repositoryId}@${r.manifestDigest}`;
      this.blobsOf.set(key, [...(this.blobsOf.get(key) ?? []), r.blob]);
      const users = this.users.get(r.blob) ?? 0;
      if (users === 0) this.total += r.size;
      this.users.set(r.blob, users + 1);
      this.sizes.set(r.blob, r.size);
    }
  }

  /** What goes with the manifest: itself, and the blobs no remaining cached manifest references. */
  remove(m: CachedManifest): void {
    this.total -= m.size;
    for (const blob of this.blobsOf.get(`${m.repositoryId}@${m.digest}`) ?? []) {
      const users = (this.users.get(blob) ?? 1) - 1;
      this.users.set(blob, users);
      if (users === 0) this.total -= this.sizes.get(blob) ?? 0;
    }
  }
}

/**
 * Evicts cached manifests not pulled for `keepDays`, then, least recently pulled first, while the
 * cache holds more than `maxBytes`. Each eviction is its own transaction; a manifest pulled
 * between the plan and its eviction is kept (its recency changed).
 */
export async function evictCache(
  ctx: RegistryContext,
  options: EvictionOptions & { dryRun: boolean; at: string; reviewAfter: string },
): Promise<EvictionReport> {
  const report: EvictionReport = { evicted: [], bytesBefore: 0, bytesAfter: 0 };
  const cutoff =
    options.keepDays > 0 ? new Date(Date.parse(options.at) - options.keepDays * DAY_MS).toISOString() : undefined;
  // Every run (each gc.interval) asks: two aggregates when the cache fits, nothing loaded.
  const needRoom = options.maxBytes > 0 && (await cachedBytesUpperBound(ctx.db)) > options.maxBytes;
  if (!needRoom && cutoff === undefined) return report;
  // Without a need for room, only the stale ones matter.
  const manifests = await listCachedManifests(ctx.db, needRoom ? undefined : cutoff);
  const bytes = new CacheBytes(manifests, needRoom ? await listCachedBlobReferences(ctx.db) : []);
  report.bytesBefore = bytes.total;
  // Planned a batch ahead, evicted a batch per transaction. A manifest pulled meanwhile is kept,
  // its bytes already counted as freed: the next run makes up for it.
  let batch: { m: CachedManifest; reason: Eviction['reason'] }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const done = options.dryRun
      ? batch.map(() => ({ tags: [] }))
      : await evictCachedManifests(
          ctx.db,
          batch.map((b) => b.m),
          options.reviewAfter,
        );
    batch.forEach(({ m, reason }, i) => {
      const result = done[i];
      if (!result) return;
      for (const tag of result.tags) ctx.manifestCache?.forgetTag(m.repository, tag);
      if (!options.dryRun) ctx.manifestCache?.forgetManifest(m.repository, m.digest);
      report.evicted.push({ repository: m.repository, digest: m.digest, size: m.size, reason });
    });
    batch = [];
  };
  for (const m of manifests) {
    const stale = cutoff !== undefined && m.lastPulled < cutoff;
    const over = needRoom && bytes.total > options.maxBytes;
    // Least recently pulled first: once one is neither stale nor needed for room, so are the rest.
    if (!stale && !over) break;
    bytes.remove(m);
    batch.push({ m, reason: stale ? 'keep_days' : 'max_bytes' });
    if (batch.length === BATCH) await flush();
  }
  await flush();
  report.bytesAfter = bytes.total;
  return report;
}
