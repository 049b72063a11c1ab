import { clearBlobDeletion } from '../metadata/gc.js';
import { parseDigest } from '../oci/digest.js';
import { PathNotFoundError } from '../storage/driver.js';
import { paths } from '../storage/paths.js';
import type { RegistryContext } from './context.js';

/**
 * Removes a blob's file (its directory) whose row is already gone, then clears the deletion mark
 * (only the mark seen, when `startedAt` is given). A missing file is fine: a crash may have
 * removed it before the mark was cleared.
 */
export async function removeBlobFile(ctx: RegistryContext, digestValue: string, startedAt?: string): Promise<void> {
  await deleteBlobDir(ctx, digestValue);
  await clearBlobDeletion(ctx.db, digestValue, startedAt);
}

/** Removes a blob's directory from storage; a missing one is fine. */
export async function deleteBlobDir(ctx: RegistryContext, digestValue: string): Promise<void> {
  const digest = parseDigest(digestValue);
  if (!digest) return;
  await ctx.storage.delete(paths.blobDir(digest)).catch((err: unknown) => {
    if (!(err instanceof PathNotFoundError)) throw err;
  });
}
