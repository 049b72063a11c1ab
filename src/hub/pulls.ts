import { type Kysely, sql } from 'kysely';
import type { MetadataDb } from '../metadata/db.js';
import { isPostgres } from '../metadata/migrate.js';
import { touchCachedManifests } from '../metadata/proxy.js';
import { lockRepository } from '../metadata/repositories.js';
import { recordDailyPulls } from './usage-history.js';

/**
 * Pull counts, batched. A pull (a manifest GET by tag) is the hottest request of a registry; a
 * transaction per pull for `pull_count` and the tag's `pulled_at` cost more than the rest of the
 * request. Pulls are counted in memory and written by `flushPullCounts` about once a second, in
 * one transaction (Docker Hub's counts lag too); a clean shutdown flushes what is left.
 */

/** Pulls seen since the last flush, per repository. */
export interface RepositoryPulls {
  count: number;
  /** Tag → time of its last pull (ISO). */
  tags: Map<string, string>;
  /** Manifest digest → time of its last GET, by tag or digest (ISO): the pull-through cache's recency. */
  manifests: Map<string, string>;
}

/** Repository name → its pulls since the last flush. */
export type PullBatch = Map<string, RepositoryPulls>;

/**
 * Writes one batch in one transaction: each repository's `pull_count` grows by its count, so do
 * its pulls of the day (the UI's chart; the day of its last pull in the batch, so a batch that
 * spans midnight counts its second of pulls on the new day) and each tag's `pulled_at` becomes its
 * last pull time. Repositories or tags deleted meanwhile are skipped (their updates match no row).
 */
export async function flushPullCounts(db: MetadataDb, batch: PullBatch): Promise<void> {
  if (batch.size === 0) return;
  await db.transaction().execute(async (tx) => {
    const repos = await tx
      .selectFrom('repositories')
      .select(['id', 'name'])
      .where('name', 'in', [...batch.keys()])
      .orderBy('id')
      .execute();
    // Locks as GC and eviction take them (PostgreSQL): repositories in id order, each repository's
    // row before its manifests' and tags' rows. Touching the cached manifests first deadlocked
    // with an eviction that held the repository and waited for those rows.
    for (const repo of repos) {
      const pulls = batch.get(repo.name);
      if (!pulls) continue;
      if (pulls.count > 0) {
        await tx
          .updateTable('repositories')
          .set({ pull_count: sql`pull_count + ${pulls.count}` })
          .where('id', '=', repo.id)
          .execute();
      } else if (pulls.manifests.size > 0 && isPostgres(db as Kysely<unknown>)) {
        await lockRepository(tx, repo.id);
      }
      await touchCachedManifests(tx, repo.id, pulls.manifests);
      if (pulls.count === 0) continue;
      const last = [...pulls.tags.values()].reduce((a, b) => (a > b ? a : b), '');
      if (last !== '') await recordDailyPulls(tx, [{ repositoryId: repo.id, count: pulls.count }], last.slice(0, 10));
      for (const [tag, at] of pulls.tags) {
        await tx
          .updateTable('tags')
          .set({ pulled_at: at })
          .where('repository_id', '=', repo.id)
          .where('name', '=', tag)
          .execute();
      }
    }
  });
}

export interface PullCounterOptions {
  /** How often pending pulls are written, ms. */
  intervalMs?: number;
  log: { error(obj: object, msg: string): void };
}

/** Counts pulls in memory and flushes them with `flushPullCounts` every interval and on stop. */
export class PullCounter {
  private pending: PullBatch = new Map();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly intervalMs: number;

  constructor(
    private readonly db: MetadataDb,
    private readonly options: PullCounterOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
  }

  /** One pull of `repository:tag` at `at` (ISO time). */
  record(repository: string, tag: string, at: string): void {
    const pulls = this.pullsOf(repository);
    pulls.count++;
    pulls.tags.set(tag, at);
    this.schedule();
  }

  /** A GET of a manifest (by tag or digest): only its time is kept, for the cache's eviction order. */
  recordManifest(repository: string, digest: string, at: string): void {
    this.pullsOf(repository).manifests.set(digest, at);
    this.schedule();
  }

  /** Pulls counted but not yet written. */
  get pendingCount(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.count;
    return n;
  }

  /** Writes everything pending; flushes never overlap. A failed batch is kept for the next one. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending;
      if (batch.size === 0) return;
      this.pending = new Map();
      try {
        await flushPullCounts(this.db, batch);
      } catch (err) {
        this.options.log.error({ err, repositories: batch.size }, 'writing pull counts failed; retrying later');
        this.putBack(batch);
      }
    });
    return this.flushing;
  }

  private pullsOf(repository: string): RepositoryPulls {
    let pulls = this.pending.get(repository);
    if (pulls === undefined) {
      pulls = { count: 0, tags: new Map(), manifests: new Map() };
      this.pending.set(repository, pulls);
    }
    return pulls;
  }

  /** The timer runs only while something waits: an idle server does no work. */
  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** A batch that could not be written goes back, merged with pulls counted since. */
  private putBack(batch: PullBatch): void {
    for (const [name, pulls] of batch) {
      const into = this.pullsOf(name);
      into.count += pulls.count;
      for (const [tag, at] of pulls.tags) {
        const later = into.tags.get(tag);
        if (later === undefined || later < at) into.tags.set(tag, at);
      }
      for (const [digest, at] of pulls.manifests) {
        const later = into.manifests.get(digest);
        if (later === undefined || later < at) into.manifests.set(digest, at);
      }
    }
    this.schedule();
  }

  /** Stops the timer and writes what is pending (call before the database closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
