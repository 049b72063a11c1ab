// What the UI's charts draw (issue 15): every push of a tag with the image's compressed size, and
// a repository's pulls per UTC day (tables of migration 0007_ui_history).
import { sql } from 'kysely';
import type { MetadataDb } from '../metadata/db.js';
import { getManifestByDigest } from '../metadata/manifests.js';

/** The tables of 0007_ui_history, typed for queries here (the shared schema stays as it is). */
export type UsageHistoryTables = {
  tag_pushes: { id?: number; repository_id: number; tag: string; digest: string; size: number; pushed_at: string };
  daily_pulls: { repository_id: number; day: string; count: number };
};

const typed = (db: MetadataDb) => db.withTables<UsageHistoryTables>();

interface SizedManifest {
  config?: { size?: unknown };
  layers?: { size?: unknown }[];
  manifests?: { digest?: unknown; size?: unknown }[];
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * Compressed size of the image behind a manifest: config + layers; for an index, the sum over
 * its platform images (those stored in the repository).
 */
export async function compressedSize(db: MetadataDb, repository: string, digest: string): Promise<number> {
  const record = await getManifestByDigest(db, repository, digest);
  if (!record) return 0;
  const m = JSON.parse(Buffer.from(record.content).toString('utf8')) as SizedManifest;
  if (Array.isArray(m.manifests)) {
    let total = 0;
    for (const child of m.manifests) {
      if (typeof child.digest === 'string') total += await compressedSize(db, repository, child.digest);
    }
    return total;
  }
  return num(m.config?.size) + (m.layers ?? []).reduce((n, l) => n + num(l.size), 0);
}

/** Records a push of `tag` (called in the push's transaction). */
export async function recordTagPush(
  trx: MetadataDb,
  push: { repositoryId: number; repository: string; tag: string; digest: string; at: string },
): Promise<void> {
  const size = await compressedSize(trx, push.repository, push.digest);
  await typed(trx)
    .insertInto('tag_pushes')
    .values({ repository_id: push.repositoryId, tag: push.tag, digest: push.digest, size, pushed_at: push.at })
    .execute();
}

/** The pushes of a tag, oldest first (the last `limit`). */
export async function tagPushes(
  db: MetadataDb,
  repositoryId: number,
  tag: string,
  limit = 50,
): Promise<{ digest: string; size: number; pushedAt: string }[]> {
  const rows = await typed(db)
    .selectFrom('tag_pushes')
    .select(['digest', 'size', 'pushed_at'])
    .where('repository_id', '=', repositoryId)
    .where('tag', '=', tag)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse().map((r) => ({ digest: r.digest, size: Number(r.size), pushedAt: r.pushed_at }));
}

/**
 * Adds pulls to the repositories' counts of `day` (YYYY-MM-DD, UTC). Takes a batch so that a
 * flush of counted pulls can write them in one go.
 */
export async function recordDailyPulls(
  trx: MetadataDb,
  counts: { repositoryId: number; count: number }[],
  day: string,
): Promise<void> {
  const rows = counts.filter((c) => c.count > 0).map((c) => ({ repository_id: c.repositoryId, day, count: c.count }));
  if (rows.length === 0) return;
  await typed(trx)
    .insertInto('daily_pulls')
    .values(rows)
    .onConflict((oc) =>
      oc.columns(['repository_id', 'day']).doUpdateSet({ count: sql`daily_pulls.count + excluded.count` }),
    )
    .execute();
}

/** Pulls per day of the last `days` days up to `today` (YYYY-MM-DD), days without pulls as 0. */
export async function dailyPulls(
  db: MetadataDb,
  repositoryId: number,
  today: string,
  days = 30,
): Promise<{ day: string; count: number }[]> {
  const dayList: string[] = [];
  const end = Date.parse(`${today}T00:00:00Z`);
  for (let i = days - 1; i >= 0; i--) dayList.push(new Date(end - i * 86_400_000).toISOString().slice(0, 10));
  const rows = await typed(db)
    .selectFrom('daily_pulls')
    .select(['day', 'count'])
    .where('repository_id', '=', repositoryId)
    .where('day', '>=', dayList[0] ?? today)
    .where('day', '<=', today)
    .execute();
  const byDay = new Map(rows.map((r) => [r.day, Number(r.count)]));
  return dayList.map((day) => ({ day, count: byDay.get(day) ?? 0 }));
}
