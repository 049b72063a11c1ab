import { type RawBuilder, sql } from 'kysely';
import type { MetadataDb } from './db.js';

/**
 * Disk usage from the metadata alone, with SQL aggregates (never by walking storage). A blob's
 * bytes are on disk once however many repositories link it (the store deduplicates by digest), so
 * a scope's blob bytes split into those only it links (unique) and those another scope links too
 * (shared). Manifests are kept per repository (rows in this database), so they are always unique.
 * Blob rows are the blob files: the sum of `blobs.size` is what `du` counts under blobs/.
 */

/** A repository (by id), a namespace (by name; '' for top-level names without a slash). */
export type UsageScope = { repositoryId: number } | { namespace: string };

export interface Usage {
  /** Bytes only this scope holds: blobs linked nowhere else, and its manifests. */
  uniqueBytes: number;
  /** Blob bytes linked in this scope and elsewhere. */
  sharedBytes: number;
  blobs: number;
  blobBytes: number;
  manifests: number;
  manifestBytes: number;
  /** blobBytes + manifestBytes = uniqueBytes + sharedBytes: what the scope holds, shared blobs whole. */
  totalBytes: number;
}

export interface StoreTotals {
  blobs: number;
  /** Sum of every blob's size: the bytes under blobs/. */
  blobBytes: number;
  /** Blob bytes no repository links (waiting for garbage collection). */
  unlinkedBytes: number;
  manifests: number;
  manifestBytes: number;
  totalBytes: number;
}

/** The condition "repository `alias` is in the scope", portable to PostgreSQL. */
function inScope(scope: UsageScope, alias: string): RawBuilder<boolean> {
  const r = sql.ref(alias);
  if ('repositoryId' in scope) return sql<boolean>`${r}.id = ${scope.repositoryId}`;
  // Ranges, not LIKE: `_` in a namespace would be a wildcard; '0' is the character after '/'.
  if (scope.namespace === '') return sql<boolean>`${r}.name not like ${'%/%'}`;
  return sql<boolean>`(${r}.name > ${`${scope.namespace}/`} and ${r}.name < ${`${scope.namespace}0`})`;
}

const num = (v: unknown): number => Number(v ?? 0);

export async function scopeUsage(db: MetadataDb, scope: UsageScope): Promise<Usage> {
  const blobs = await sql<{ n: unknown; total: unknown; shared: unknown }>`
    with mine as (
      select distinct l.digest from repository_blobs l
      join repositories r on r.id = l.repository_id
      where ${inScope(scope, 'r')}
    )
    select count(*) as n, coalesce(sum(b.size), 0) as total,
      coalesce(sum(case when exists (
        select 1 from repository_blobs l2 join repositories r2 on r2.id = l2.repository_id
        where l2.digest = b.digest and not ${inScope(scope, 'r2')}
      ) then b.size else 0 end), 0) as shared
    from mine join blobs b on b.digest = mine.digest`.execute(db);
  const manifests = await sql<{ n: unknown; total: unknown }>`
    select count(*) as n, coalesce(sum(m.size), 0) as total from manifests m
    join repositories r on r.id = m.repository_id
    where ${inScope(scope, 'r')}`.execute(db);
  const b = blobs.rows[0];
  const m = manifests.rows[0];
  const blobBytes = num(b?.total);
  const sharedBytes = num(b?.shared);
  const manifestBytes = num(m?.total);
  return {
    uniqueBytes: blobBytes - sharedBytes + manifestBytes,
    sharedBytes,
    blobs: num(b?.n),
    blobBytes,
    manifests: num(m?.n),
    manifestBytes,
    totalBytes: blobBytes + manifestBytes,
  };
}

/** Bytes a scope holds (its linked blobs counted once, and its manifests): cheaper than scopeUsage. */
export async function scopeTotal(db: MetadataDb, scope: UsageScope): Promise<number> {
  const row = await sql<{ blobs: unknown; manifests: unknown }>`
    select
      (select coalesce(sum(b.size), 0) from blobs b where b.digest in (
        select l.digest from repository_blobs l join repositories r on r.id = l.repository_id
        where ${inScope(scope, 'r')})) as blobs,
      (select coalesce(sum(m.size), 0) from manifests m join repositories r on r.id = m.repository_id
        where ${inScope(scope, 'r')}) as manifests`.execute(db);
  return num(row.rows[0]?.blobs) + num(row.rows[0]?.manifests);
}

/** The whole store. */
export async function storeTotals(db: MetadataDb): Promise<StoreTotals> {
  const blobs = await sql<{ n: unknown; total: unknown; unlinked: unknown }>`
    select count(*) as n, coalesce(sum(b.size), 0) as total,
      coalesce(sum(case when not exists (select 1 from repository_blobs l where l.digest = b.digest)
        then b.size else 0 end), 0) as unlinked
    from blobs b`.execute(db);
  const manifests = await sql<{ n: unknown; total: unknown }>`
    select count(*) as n, coalesce(sum(size), 0) as total from manifests`.execute(db);
  const b = blobs.rows[0];
  const m = manifests.rows[0];
  return {
    blobs: num(b?.n),
    blobBytes: num(b?.total),
    unlinkedBytes: num(b?.unlinked),
    manifests: num(m?.n),
    manifestBytes: num(m?.total),
    totalBytes: num(b?.total) + num(m?.total),
  };
}

/**
 * A repository's namespace from its name ('' without a slash). Dialect-specific, so kept here:
 * SQLite's instr/substr, which run on PostgreSQL as they are (substr is built in; instr is
 * defined as strpos when the database is opened, see metadata/postgres.ts).
 */
function namespaceKey(alias: string): RawBuilder<string> {
  const r = sql.ref(alias);
  return sql<string>`case when instr(${r}.name, '/') > 0 then substr(${r}.name, 1, instr(${r}.name, '/') - 1) else '' end`;
}

/**
 * Every namespace's usage in three aggregate queries (scopeUsage per namespace would cost one
 * round per namespace): the same numbers as scopeUsage({ namespace }) for each.
 */
export async function allNamespaceUsage(db: MetadataDb): Promise<Map<string, Usage & { repositories: number }>> {
  // Per blob and namespace, how many namespaces hold the blob (a window over the distinct links).
  const blobs = await sql<{ ns: string; n: unknown; total: unknown; shared: unknown }>`
    select ns, count(*) as n, coalesce(sum(size), 0) as total,
      coalesce(sum(case when holders > 1 then size else 0 end), 0) as shared
    from (
      select links.ns as ns, b.size as size, count(*) over (partition by links.digest) as holders
      from (
        select distinct ${namespaceKey('r')} as ns, l.digest as digest from repository_blobs l
        join repositories r on r.id = l.repository_id
      ) links join blobs b on b.digest = links.digest
    ) per_blob
    group by ns`.execute(db);
  const manifests = await sql<{ ns: string; n: unknown; total: unknown }>`
    select ${namespaceKey('r')} as ns, count(*) as n, coalesce(sum(m.size), 0) as total
    from manifests m join repositories r on r.id = m.repository_id group by 1`.execute(db);
  const repositories = await sql<{ ns: string; n: unknown }>`
    select ${namespaceKey('r')} as ns, count(*) as n from repositories r group by 1`.execute(db);
  const out = new Map<string, Usage & { repositories: number }>();
  for (const r of repositories.rows) {
    out.set(r.ns, {
      repositories: num(r.n),
      uniqueBytes: 0,
      sharedBytes: 0,
      blobs: 0,
      blobBytes: 0,
      manifests: 0,
      manifestBytes: 0,
      totalBytes: 0,
    });
  }
  for (const b of blobs.rows) {
    const u = out.get(b.ns);
    if (!u) continue;
    u.blobs = num(b.n);
    u.blobBytes = num(b.total);
    u.sharedBytes = num(b.shared);
  }
  for (const m of manifests.rows) {
    const u = out.get(m.ns);
    if (!u) continue;
    u.manifests = num(m.n);
    u.manifestBytes = num(m.total);
  }
  for (const u of out.values()) {
    u.uniqueBytes = u.blobBytes - u.sharedBytes + u.manifestBytes;
    u.totalBytes = u.blobBytes + u.manifestBytes;
  }
  return out;
}

/** Whether a repository of the namespace already links the blob (a push of it adds no bytes). */
export async function linkedInScope(db: MetadataDb, scope: UsageScope, digest: string): Promise<boolean> {
  const found = await sql<{ one: number }>`
    select 1 as one from repository_blobs l join repositories r on r.id = l.repository_id
    where l.digest = ${digest} and ${inScope(scope, 'r')} limit 1`.execute(db);
  return found.rows.length > 0;
}
