import type { MetadataDb } from './db.js';

// Queries of the login throttle's table (login-failure-migrations.ts), for auth/db-throttle.ts.

/** The `limit` most recent failure times of `key` after `since`, newest first. */
export async function recentFailures(db: MetadataDb, key: string, since: number, limit: number): Promise<number[]> {
  const rows = await db
    .selectFrom('login_failures')
    .select('failed_at')
    .where('key', '=', key)
    .where('failed_at', '>', since)
    .orderBy('failed_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => Number(r.failed_at));
}

/** Records one failure at `at` for each key, and deletes every failure at or before `expired`. */
export async function recordFailures(db: MetadataDb, keys: string[], at: number, expired: number): Promise<void> {
  if (keys.length === 0) return;
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto('login_failures')
      .values(keys.map((key) => ({ key, failed_at: at })))
      .execute();
    await tx.deleteFrom('login_failures').where('failed_at', '<=', expired).execute();
  });
}

/** Forgets every failure of `keys`. */
export async function clearFailures(db: MetadataDb, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await db.deleteFrom('login_failures').where('key', 'in', keys).execute();
}
