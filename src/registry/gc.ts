import {
  clearBlobDeletions,
  DEFAULT_REVIEW_DELAY,
  type DueBlob,
  type DueManifest,
  dueBlobReviews,
  dueManifestReviews,
  type GcRunCounts,
  pendingBlobDeletions,
  postponeAfterFailure,
  type ReviewOptions,
  recordRun,
  reviewBlobs,
  reviewManifests,
  reviewTime,
} from '../metadata/gc.js';
import { parseDigest } from '../oci/digest.js';
import { PathNotFoundError } from '../storage/driver.js';
import { paths } from '../storage/paths.js';
import { deleteBlobDir, removeBlobFile } from './blob-files.js';
import type { RegistryContext } from './context.js';
import { type EvictionOptions, evictCache } from './proxy/evict.js';
import { purgeStaleUploads } from './uploads.js';

/**
 * The online garbage collector. A run takes the due items of the review queues one at a time;
 * each review is one transaction that re-checks and deletes rows (metadata/gc.ts). A blob's file
 * goes only after its row's deletion is committed, under a deletion mark that makes an upload of
 * the same digest wait: a crash leaves at worst a file without a row (the next run, or fsck,
 * finds it), never a row without a file. Pushes, pulls and deletes go on meanwhile.
 */

export interface GcOptions {
  /** `gc.delete_untagged`: delete manifests no tag reaches. */
  deleteUntagged: boolean;
  /** `gc.review_delay` in ms. */
  reviewDelay: number;
  dryRun?: boolean;
  /** Who asked: `schedule`, `api`, `cli`. */
  trigger?: string;
  /** Upload sessions receiving bytes in this process (left alone by the purge). */
  uploadBusy?: (id: string) => boolean;
  /** Stop after this many reviews (the rest waits for the next run). */
  maxItems?: number;
  /** The pull-through cache's limits (`proxy.max_bytes`, `proxy.keep_days`): evicted first in each run. */
  eviction?: EvictionOptions;
}

export interface GcDeletion {
  kind: 'manifest' | 'blob';
  digest: string;
  repository?: string;
  size: number;
  /** A cached manifest evicted by the pull-through cache's limits, and which one. */
  evicted?: 'keep_days' | 'max_bytes';
}

export interface GcReport extends GcRunCounts {
  /** Its id in the history (0 for a scheduled run that found nothing to do, which is not kept). */
  runId: number;
  dryRun: boolean;
  /** What was (or, in a dry run, would be) deleted. */
  deleted: GcDeletion[];
  /** Reviews that failed (retried later with a back-off). */
  failures: number;
  seconds: number;
}

/** Cumulative figures since the process started, for /metrics. */
export interface GcTotals {
  runs: number;
  manifestsDeleted: number;
  /** Cached manifests evicted by the pull-through cache's limits. */
  manifestsEvicted: number;
  blobsDeleted: number;
  bytesFreed: number;
  failures: number;
  lastRunSeconds: number;
  lastRunFinished: number;
}

export const gcTotals: GcTotals = {
  runs: 0,
  manifestsDeleted: 0,
  manifestsEvicted: 0,
  blobsDeleted: 0,
  bytesFreed: 0,
  failures: 0,
  lastRunSeconds: 0,
  lastRunFinished: 0,
};

const PAGE = 200;
/** Reviews per transaction: amortizes the commit, and keeps the write lock short. */
const BATCH = 16;

/**
 * Reviews a batch in one transaction; when it fails, each item alone, so that one bad item is
 * postponed (with its error) without holding back the others. Undefined for a failed item.
 */
async function inBatch<I, R>(
  items: I[],
  review: (items: I[]) => Promise<R[]>,
  postpone: (item: I, err: unknown) => Promise<void>,
  report: { failures: number },
): Promise<(R | undefined)[]> {
  try {
    return await review(items);
  } catch (err) {
    if (items.length === 1) {
      report.failures++;
      await postpone(items[0] as I, err);
      return [undefined];
    }
  }
  const out: (R | undefined)[] = [];
  for (const item of items) out.push(...(await inBatch([item], review, postpone, report)));
  return out;
}

/** One garbage collection run, recorded in the history. */
export async function runGc(ctx: RegistryContext, options: GcOptions): Promise<GcReport> {
  const started = performance.now();
  const dryRun = options.dryRun ?? false;
  const startedAt = new Date().toISOString();
  const trigger = options.trigger ?? 'cli';
  const report: GcReport = {
    runId: 0,
    dryRun,
    deleted: [],
    failures: 0,
    seconds: 0,
    manifestsDeleted: 0,
    blobsDeleted: 0,
    bytesFreed: 0,
    uploadsPurged: 0,
    manifestsEvicted: 0,
  };
  let error: string | undefined;
  try {
    if (!dryRun) await finishPendingDeletions(ctx);
    report.uploadsPurged = await purgeStaleUploads(ctx, options.uploadBusy, undefined, dryRun);
    const at = new Date().toISOString();
    const review: ReviewOptions = {
      deleteUntagged: options.deleteUntagged,
      // From the same instant as `at`: with a review delay of 0, what this run frees is due in this run.
      childrenAfter: reviewTime(options.reviewDelay, Date.parse(at)),
      linkCutoff: reviewTime(-options.reviewDelay),
      dryRun,
      at,
    };
    if (options.eviction) {
      // Before the reviews, and due at once: the same run deletes the blobs eviction freed. The
      // blob review still keeps what another repository uses or a link younger than the delay
      // holds (a fill or a push within gc.review_delay): that goes once it is old enough.
      const evicted = await evictCache(ctx, { ...options.eviction, dryRun, at, reviewAfter: at });
      for (const e of evicted.evicted) {
        report.manifestsEvicted++;
        report.deleted.push({
          kind: 'manifest',
          digest: e.digest,
          repository: e.repository,
          size: e.size,
          evicted: e.reason,
        });
      }
    }
    let budget = options.maxItems ?? Number.POSITIVE_INFINITY;
    let cursor: DueManifest | undefined;
    while (budget > 0) {
      const page = await dueManifestReviews(ctx.db, at, Math.min(PAGE, budget), cursor);
      if (page.length === 0) break;
      budget -= page.length;
      for (let i = 0; i < page.length; i += BATCH) {
        const results = await inBatch(
          page.slice(i, i + BATCH),
          (items) => reviewManifests(ctx.db, items, review),
          (item, err) => postponeAfterFailure(ctx.db, { kind: 'manifest', ...item }, errorText(err)),
          report,
        );
        for (const r of results) {
          if (!r?.deleted) continue;
          report.manifestsDeleted++;
          report.deleted.push({ kind: 'manifest', digest: r.digest, repository: r.repository, size: r.size });
          if (!dryRun) ctx.manifestCache?.forgetManifest(r.repository, r.digest);
        }
      }
      cursor = page[page.length - 1];
    }
    let blobCursor: DueBlob | undefined;
    while (budget > 0) {
      const page = await dueBlobReviews(ctx.db, at, Math.min(PAGE, budget), blobCursor);
      if (page.length === 0) break;
      budget -= page.length;
      for (let i = 0; i < page.length; i += BATCH) {
        const results = await inBatch(
          page.slice(i, i + BATCH),
          (items) => reviewBlobs(ctx.db, items, review),
          (item, err) => postponeAfterFailure(ctx.db, { kind: 'blob', ...item }, errorText(err)),
          report,
        );
        const gone: string[] = [];
        for (const r of results) {
          if (!r?.deleted) continue;
          // Without a row (an orphan file fsck queued), the file's size; nothing at all counts for nothing.
          const size = r.size ?? (await fileSize(ctx, r.digest));
          // The rows' deletion is committed: now the files, then their marks.
          if (!dryRun) {
            await deleteBlobDir(ctx, r.digest);
            gone.push(r.digest);
          }
          if (size === undefined) continue;
          report.blobsDeleted++;
          report.bytesFreed += size;
          report.deleted.push({ kind: 'blob', digest: r.digest, size });
        }
        await clearBlobDeletions(ctx.db, gone);
      }
      blobCursor = page[page.length - 1];
    }
  } catch (err) {
    error = errorText(err);
    throw err;
  } finally {
    report.seconds = (performance.now() - started) / 1000;
    // Every run goes into the history, except scheduled runs that found nothing to do.
    const idle =
      report.manifestsDeleted +
        report.manifestsEvicted +
        report.blobsDeleted +
        report.uploadsPurged +
        report.failures ===
        0 && !error;
    if (!(trigger === 'schedule' && idle)) {
      report.runId = await recordRun(ctx.db, {
        ...report,
        startedAt,
        trigger,
        dryRun,
        ...(error ? { error } : {}),
      }).catch(() => 0);
    }
    if (!dryRun) {
      gcTotals.runs++;
      gcTotals.manifestsDeleted += report.manifestsDeleted;
      gcTotals.manifestsEvicted += report.manifestsEvicted;
      gcTotals.blobsDeleted += report.blobsDeleted;
      gcTotals.bytesFreed += report.bytesFreed;
      gcTotals.failures += report.failures;
      gcTotals.lastRunSeconds = report.seconds;
      gcTotals.lastRunFinished = Date.now();
    }
  }
  return report;
}

/** Files whose rows a crashed run deleted: remove them now (no upload can claim a marked digest). */
async function finishPendingDeletions(ctx: RegistryContext): Promise<void> {
  for (const p of await pendingBlobDeletions(ctx.db)) await removeBlobFile(ctx, p.digest, p.startedAt);
}

/** The size of a blob's file; undefined when there is none. */
async function fileSize(ctx: RegistryContext, digestValue: string): Promise<number | undefined> {
  const digest = parseDigest(digestValue);
  if (!digest) return undefined;
  try {
    return (await ctx.storage.stat(paths.blob(digest))).size;
  } catch (err) {
    if (err instanceof PathNotFoundError) return undefined;
    throw err;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const schedulers = new WeakMap<RegistryContext, GcScheduler>();

/** The scheduler running for this registry in this process, if any (the admin API runs through it). */
export function gcSchedulerOf(ctx: RegistryContext): GcScheduler | undefined {
  return schedulers.get(ctx);
}

export interface GcScheduler {
  /** Runs now unless a run is in progress (then waits for it and returns its report). */
  runNow(options?: { dryRun?: boolean; trigger?: string }): Promise<GcReport>;
  stop(): Promise<void>;
}

/**
 * Runs GC every `interval` ms, one run at a time in this process. Failures are logged by
 * `onError`; the next tick tries again.
 */
export function scheduleGc(
  ctx: RegistryContext,
  options: GcOptions & { interval: number },
  hooks: { onReport?: (r: GcReport) => void; onError?: (err: unknown) => void } = {},
): GcScheduler {
  let running: Promise<GcReport> | undefined;
  let stopped = false;
  const run = (extra: { dryRun?: boolean; trigger?: string }) => {
    if (running && !extra.dryRun) return running;
    const p = runGc(ctx, { ...options, ...extra }).finally(() => {
      if (running === p) running = undefined;
    });
    if (!extra.dryRun) running = p;
    return p;
  };
  const tick = () => {
    if (stopped || running) return;
    run({ trigger: 'schedule' }).then(
      (r) => hooks.onReport?.(r),
      (err: unknown) => hooks.onError?.(err),
    );
  };
  const timer = setInterval(tick, Math.max(options.interval, 100));
  timer.unref();
  const scheduler: GcScheduler = {
    runNow: (extra = {}) => run({ trigger: 'api', ...extra }),
    async stop() {
      stopped = true;
      clearInterval(timer);
      schedulers.delete(ctx);
      await running?.catch(() => {});
    },
  };
  schedulers.set(ctx, scheduler);
  return scheduler;
}

export { DEFAULT_REVIEW_DELAY };
