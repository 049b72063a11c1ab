import type { MetadataDb } from '../metadata/db.js';
import type { QuotaAddition, RegistryContext } from './context.js';
import { fail } from './errors.js';

/**
 * Refuses a write with DENIED and the quota's message when ctx.quota says it does not fit.
 * Called once before any work (so a refused push creates nothing) and again inside the write's
 * transaction (`db` = the transaction), which is the check that counts under concurrency.
 */
export async function enforceQuota(
  ctx: RegistryContext,
  db: MetadataDb,
  repository: string,
  added: QuotaAddition,
): Promise<void> {
  if (!ctx.quota) return;
  const message = await ctx.quota.refusal(db, repository, added);
  if (message !== undefined) fail('DENIED', { message, detail: { repository, digest: added.digest } });
}
