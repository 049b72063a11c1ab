import { failingItems, queueHealth, recentRuns } from '../metadata/gc.js';
import type { RegistryContext } from '../registry/context.js';
import { type GcOptions, type GcReport, gcSchedulerOf, gcTotals, runGc } from '../registry/gc.js';
import type { Config } from './config.js';

/** The configured rules of a GC run (server schedule, admin API, `wharf gc`): one place, so they never differ. */
export function gcOptions(config: Config): GcOptions {
  return {
    deleteUntagged: config.gc.delete_untagged,
    reviewDelay: config.gc.review_delay,
    eviction: { maxBytes: config.proxy.max_bytes, keepDays: config.proxy.keep_days },
  };
}

/** An item is overdue when it has been due for longer than one interval plus a minute. */
function overdueBefore(config: Config, at: number): string {
  return new Date(at - config.gc.interval - 60_000).toISOString();
}

/** The garbage collector's state for the admin API and page: settings, queue health, failing items, last runs. */
export async function gcStatus(ctx: RegistryContext, config: Config, runs = 20) {
  const at = Date.now();
  const health = await queueHealth(ctx.db, new Date(at).toISOString(), overdueBefore(config, at));
  return {
    enabled: config.gc.enabled,
    review_delay_seconds: config.gc.review_delay / 1000,
    interval_seconds: config.gc.interval / 1000,
    delete_untagged: config.gc.delete_untagged,
    proxy_max_bytes: config.proxy.max_bytes,
    proxy_keep_days: config.proxy.keep_days,
    queues: {
      blobs: health.blobs,
      manifests: health.manifests,
      pending_file_deletions: health.pendingFileDeletions,
    },
    failing: (await failingItems(ctx.db, 20)).map((f) => ({
      kind: f.kind,
      digest: f.digest,
      repository_id: f.repositoryId,
      attempts: f.attempts,
      last_error: f.lastError,
      review_after: f.reviewAfter,
    })),
    runs: (await recentRuns(ctx.db, runs)).map((r) => ({
      id: r.id,
      started_at: r.startedAt,
      finished_at: r.finishedAt,
      dry_run: r.dryRun,
      trigger: r.trigger,
      manifests_deleted: r.manifestsDeleted,
      blobs_deleted: r.blobsDeleted,
      bytes_freed: r.bytesFreed,
      uploads_purged: r.uploadsPurged,
      manifests_evicted: r.manifestsEvicted,
      error: r.error,
    })),
  };
}

/** A run's report as JSON (the deleted list capped, so an answer stays small). */
export function gcReportJson(r: GcReport, maxItems = 1000) {
  return {
    run_id: r.runId,
    dry_run: r.dryRun,
    manifests_deleted: r.manifestsDeleted,
    blobs_deleted: r.blobsDeleted,
    bytes_freed: r.bytesFreed,
    uploads_purged: r.uploadsPurged,
    manifests_evicted: r.manifestsEvicted,
    failures: r.failures,
    seconds: r.seconds,
    deleted: r.deleted.slice(0, maxItems).map((d) => ({
      kind: d.kind,
      digest: d.digest,
      ...(d.repository ? { repository: d.repository } : {}),
      size: d.size,
      ...(d.evicted ? { evicted: d.evicted } : {}),
    })),
    deleted_truncated: r.deleted.length > maxItems,
  };
}

/** `wharf_gc_*` lines for /metrics. */
export async function gcMetricLines(ctx: RegistryContext, config: Config): Promise<string> {
  const at = Date.now();
  const h = await queueHealth(ctx.db, new Date(at).toISOString(), overdueBefore(config, at));
  const out = [
    '# HELP wharf_gc_runs_total Garbage collection runs finished by this process.',
    '# TYPE wharf_gc_runs_total counter',
    `wharf_gc_runs_total ${gcTotals.runs}`,
    '# HELP wharf_gc_deleted_total Objects deleted by garbage collection, by kind.',
    '# TYPE wharf_gc_deleted_total counter',
    `wharf_gc_deleted_total{kind="manifest"} ${gcTotals.manifestsDeleted}`,
    `wharf_gc_deleted_total{kind="blob"} ${gcTotals.blobsDeleted}`,
    '# HELP wharf_gc_evicted_total Cached manifests evicted by the pull-through cache limits (proxy.max_bytes, proxy.keep_days).',
    '# TYPE wharf_gc_evicted_total counter',
    `wharf_gc_evicted_total ${gcTotals.manifestsEvicted}`,
    '# HELP wharf_gc_bytes_freed_total Blob bytes removed from storage by garbage collection.',
    '# TYPE wharf_gc_bytes_freed_total counter',
    `wharf_gc_bytes_freed_total ${gcTotals.bytesFreed}`,
    '# HELP wharf_gc_review_failures_total Reviews that failed (retried with a back-off).',
    '# TYPE wharf_gc_review_failures_total counter',
    `wharf_gc_review_failures_total ${gcTotals.failures}`,
    '# HELP wharf_gc_last_run_duration_seconds Duration of the last run.',
    '# TYPE wharf_gc_last_run_duration_seconds gauge',
    `wharf_gc_last_run_duration_seconds ${gcTotals.lastRunSeconds}`,
    '# HELP wharf_gc_queue_size Items in the review queues, by queue.',
    '# TYPE wharf_gc_queue_size gauge',
    `wharf_gc_queue_size{queue="blob"} ${h.blobs.queued}`,
    `wharf_gc_queue_size{queue="manifest"} ${h.manifests.queued}`,
    '# HELP wharf_gc_queue_due Items whose review time has passed, by queue.',
    '# TYPE wharf_gc_queue_due gauge',
    `wharf_gc_queue_due{queue="blob"} ${h.blobs.due}`,
    `wharf_gc_queue_due{queue="manifest"} ${h.manifests.due}`,
    '# HELP wharf_gc_queue_overdue Items due for longer than an interval plus a minute, by queue.',
    '# TYPE wharf_gc_queue_overdue gauge',
    `wharf_gc_queue_overdue{queue="blob"} ${h.blobs.overdue}`,
    `wharf_gc_queue_overdue{queue="manifest"} ${h.manifests.overdue}`,
  ];
  return `${out.join('\n')}\n`;
}

/**
 * A GC run asked for by an administrator (API or web page): through the server's scheduler when it
 * runs one (so it never overlaps a scheduled run), else directly with the configured rules.
 */
export function runGcNow(
  ctx: RegistryContext,
  config: Config,
  options: { dryRun: boolean; trigger: string },
): Promise<GcReport> {
  const scheduler = gcSchedulerOf(ctx);
  if (scheduler) return scheduler.runNow(options);
  return runGc(ctx, { ...gcOptions(config), ...options });
}
