/** Queries of the pull-through cache's bookkeeping (schema in proxy-migrations.ts). */
import { type Kysely, sql } from 'kysely';
import { type MetadataDb, now } from './db.js';
import { deleteManifestRows, queueManifestDependents } from './gc.js';
import { isPostgres } from './migrate.js';
import { lockRepository } from './repositories.js';

export interface ProxyTagCheck {
  tag: string;
  remote: string;
  digest: string;
  checkedAt: string;
}

/** Records that `remote` named `digest` for the tag just now. */
export async function recordTagCheck(
  db: MetadataDb,
  repository: string,
  tag: string,
  remote: string,
  digest: string,
): Promise<void> {
  const at = now();
  await db
    .insertInto('proxy_tags')
    .values({ repository, tag, remote, digest, checked_at: at })
    .onConflict((oc) => oc.columns(['repository', 'tag']).doUpdateSet({ remote, digest, checked_at: at }))
    .execute();
}

export async function findTagCheck(
  db: MetadataDb,
  repository: string,
  tag: string,
): Promise<ProxyTagCheck | undefined> {
  return db
    .selectFrom('proxy_tags')
    .select(['tag', 'remote', 'digest', 'checked_at as checkedAt'])
    .where('repository', '=', repository)
    .where('tag', '=', tag)
    .executeTakeFirst();
}

/** Every checked tag of a repository, by tag name. */
export async function listTagChecks(db: MetadataDb, repository: string): Promise<ProxyTagCheck[]> {
  return db
    .selectFrom('proxy_tags')
    .select(['tag', 'remote', 'digest', 'checked_at as checkedAt'])
    .where('repository', '=', repository)
    .orderBy('tag')
    .execute();
}

/** Records that `remote` filled the manifest (a manifest filled again keeps its first record). */
export async function recordCachedManifest(
  db: MetadataDb,
  repositoryId: number,
  digest: string,
  remote: string,
): Promise<void> {
  await db
    .insertInto('proxy_manifests')
    .values({ repository_id: repositoryId, digest, remote, cached_at: now(), pulled_at: null })
    .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
    .execute();
}

/** The manifest is no longer the cache's (a push made it the user's). */
export async function forgetCachedManifest(db: MetadataDb, repositoryId: number, digest: string): Promise<void> {
  await db
    .deleteFrom('proxy_manifests')
    .where('repository_id', '=', repositoryId)
    .where('digest', '=', digest)
    .execute();
}

/**
 * Last pull times of a repository's manifests (digest → ISO time), for the cached ones among
 * them; a repository without cached manifests costs one read.
 */
export async function touchCachedManifests(
  db: MetadataDb,
  repositoryId: number,
  pulls: ReadonlyMap<string, string>,
): Promise<void> {
  if (pulls.size === 0) return;
  const any = await db
    .selectFrom('proxy_manifests')
    .select('digest')
    .where('repository_id', '=', repositoryId)
    .limit(1)
    .executeTakeFirst();
  if (!any) return;
  for (const [digest, at] of pulls) {
    await db
      .updateTable('proxy_manifests')
      .set({ pulled_at: at })
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .where((eb) => eb.or([eb('pulled_at', 'is', null), eb('pulled_at', '<', at)]))
      .execute();
  }
}

export interface CachedManifest {
  repositoryId: number;
  repository: string;
  digest: string;
  size: number;
  /** Its last pull, or its fill when it was never pulled since (ISO). */
  lastPulled: string;
}

/** Every cached manifest (or those last pulled before `before`), least recently pulled first. */
export async function listCachedManifests(db: MetadataDb, before?: string): Promise<CachedManifest[]> {
  let q = db
    .selectFrom('proxy_manifests as p')
    .innerJoin('manifests as m', (j) =>
      j.onRef('m.repository_id', '=', 'p.repository_id').onRef('m.digest', '=', 'p.digest'),
    )
    .innerJoin('repositories as r', 'r.id', 'p.repository_id')
    .select([
      'p.repository_id as repositoryId',
      'r.name as repository',
      'p.digest as digest',
      'm.size as size',
      sql<string>`coalesce(p.pulled_at, p.cached_at)`.as('lastPulled'),
    ])
    .orderBy(sql`coalesce(p.pulled_at, p.cached_at)`)
    .orderBy('p.repository_id')
    .orderBy('p.digest');
  if (before !== undefined) q = q.where(sql<boolean>`coalesce(p.pulled_at, p.cached_at) < ${before}`);
  const rows = await q.execute();
  return rows.map((r) => ({ ...r, size: Number(r.size) }));
}

/**
 * At least the cache's bytes (its manifests and every stored blob they reference, each once, shared
 * or not), in two aggregates: when this fits under the limit, the exact count is not needed.
 */
export async function cachedBytesUpperBound(db: MetadataDb): Promise<number> {
  const row = await sql<{ blobs: unknown; manifests: unknown }>`
    select
      (select coalesce(sum(b.size), 0) from blobs b where b.digest in (
        select mr.child_digest from manifest_references mr
        join proxy_manifests p on p.repository_id = mr.repository_id and p.digest = mr.manifest_digest
        where mr.kind = 'blob')) as blobs,
      (select coalesce(sum(m.size), 0) from manifests m
        join proxy_manifests p on p.repository_id = m.repository_id and p.digest = m.digest) as manifests`.execute(db);
  return Number(row.rows[0]?.blobs ?? 0) + Number(row.rows[0]?.manifests ?? 0);
}

export interface CachedBlobReference {
  repositoryId: number;
  manifestDigest: string;
  blob: string;
  /** The stored blob's size (blobs not fetched yet are not listed: they take no room). */
  size: number;
  /** A manifest that is not cached references it too: evicting the cache never frees it. */
  shared: boolean;
}

/** The stored blobs cached manifests reference. */
export async function listCachedBlobReferences(db: MetadataDb): Promise<CachedBlobReference[]> {
  const rows = await sql<{
    repository_id: number;
    manifest_digest: string;
    child_digest: string;
    size: unknown;
    shared: unknown;
  }>`
    select mr.repository_id, mr.manifest_digest, mr.child_digest, b.size,
      case when exists (
        select 1 from manifest_references o
        where o.child_digest = mr.child_digest and o.kind = 'blob' and not exists (
          select 1 from proxy_manifests q where q.repository_id = o.repository_id and q.digest = o.manifest_digest)
      ) then 1 else 0 end as shared
    from manifest_references mr
    join proxy_manifests p on p.repository_id = mr.repository_id and p.digest = mr.manifest_digest
    join blobs b on b.digest = mr.child_digest
    where mr.kind = 'blob'`.execute(db);
  return rows.rows.map((r) => ({
    repositoryId: Number(r.repository_id),
    manifestDigest: r.manifest_digest,
    blob: r.child_digest,
    size: Number(r.size),
    shared: Number(r.shared) === 1,
  }));
}

/**
 * Evicts cached manifests in one transaction (a few at a time amortize the commit, as GC's
 * reviews do), each as a manifest DELETE does: its tags (and their proxy check records) and rows
 * go, and what it leaves behind is queued for GC's review at `reviewAfter`. A manifest pulled
 * since `lastPulled`, or gone, is left alone (undefined). Returns the tags that pointed at each.
 */
export async function evictCachedManifests(
  db: MetadataDb,
  items: readonly { repositoryId: number; repository: string; digest: string; lastPulled: string }[],
  reviewAfter: string,
): Promise<({ tags: string[] } | undefined)[]> {
  return db.transaction().execute(async (tx) => {
    const out: ({ tags: string[] } | undefined)[] = new Array(items.length).fill(undefined);
    // Repositories in id order, as GC's reviews and the pull-count flush lock them (no deadlock).
    const inLockOrder = items.map((m, i) => ({ m, i })).sort((x, y) => x.m.repositoryId - y.m.repositoryId);
    for (const { m, i } of inLockOrder) {
      // PostgreSQL: as GC's review, hold the repository (a fill's putManifest takes it too).
      if (isPostgres(db as Kysely<unknown>)) await lockRepository(tx, m.repositoryId);
      // The claim comes first (a write: on SQLite the transaction then reads the latest state).
      const claimed = await tx
        .deleteFrom('proxy_manifests')
        .where('repository_id', '=', m.repositoryId)
        .where('digest', '=', m.digest)
        .where(sql<boolean>`coalesce(pulled_at, cached_at) = ${m.lastPulled}`)
        .executeTakeFirst();
      if (Number(claimed.numDeletedRows) === 0) continue;
      const tags = (
        await tx
          .selectFrom('tags')
          .select('name')
          .where('repository_id', '=', m.repositoryId)
          .where('manifest_digest', '=', m.digest)
          .execute()
      ).map((t) => t.name);
      if (tags.length > 0) {
        await tx.deleteFrom('proxy_tags').where('repository', '=', m.repository).where('tag', 'in', tags).execute();
      }
      await queueManifestDependents(tx, m.repositoryId, m.digest, reviewAfter);
      await deleteManifestRows(tx, m.repositoryId, m.digest);
      out[i] = { tags };
    }
    return out;
  });
}
