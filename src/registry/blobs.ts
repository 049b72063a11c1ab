import type { Writable } from 'node:stream';
import { findLinkedBlob, unlinkBlob } from '../metadata/blobs.js';
import { reviewTime } from '../metadata/gc.js';
import { findRepositoryId } from '../metadata/repositories.js';
import { parseDigest } from '../oci/digest.js';
import { PathNotFoundError } from '../storage/driver.js';
import { paths } from '../storage/paths.js';
import type { RegistryContext } from './context.js';
import { fail } from './errors.js';

export interface BlobInfo {
  digest: string;
  size: number;
}

/** A byte range to serve, inclusive, already checked against the blob's size. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Parses a digest from a URL or query, answering DIGEST_INVALID for anything malformed. */
export function requireDigest(value: string | undefined) {
  const digest = value === undefined ? undefined : parseDigest(value);
  if (!digest) fail('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: value ?? null } });
  return digest;
}

/** The blob as linked into `repository`; BLOB_UNKNOWN when it is not. Reads metadata only, never the blob. */
export async function statBlob(ctx: RegistryContext, repository: string, digestValue: string): Promise<BlobInfo> {
  requireDigest(digestValue);
  const blob = await findLinkedBlob(ctx.db, repository, digestValue);
  if (!blob) fail('BLOB_UNKNOWN', { detail: { digest: digestValue } });
  return { digest: blob.digest, size: Number(blob.size) };
}

/**
 * Parses an HTTP Range header (one range only) against a blob of `size` bytes.
 * Returns undefined when there is no header; throws RANGE_INVALID (416) when it cannot be served.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  const invalid = () =>
    fail('RANGE_INVALID', { message: `requested range not satisfiable: ${header}`, detail: { size } });
  if (!m || (m[1] === '' && m[2] === '')) return invalid();
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return invalid();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || start > end) return invalid();
  return { start, end };
}

/**
 * Checks that the blob's bytes are in storage (BLOB_UNKNOWN otherwise, before any response byte
 * is sent) and returns how to send them, whole or a range.
 */
/** How long a redirect URL stays valid: Distribution's default too. */
const REDIRECT_TTL_SECONDS = 20 * 60;

/** A URL of the store that serves the blob directly, when the driver has such URLs. */
export async function blobRedirectURL(ctx: RegistryContext, digestValue: string): Promise<string | undefined> {
  if (!ctx.storage.redirectURL) return undefined;
  return ctx.storage.redirectURL(paths.blob(requireDigest(digestValue)), REDIRECT_TTL_SECONDS);
}

export async function prepareBlob(
  ctx: RegistryContext,
  digestValue: string,
): Promise<(dest: Writable, range?: ByteRange) => Promise<void>> {
  const path = paths.blob(requireDigest(digestValue));
  try {
    await ctx.storage.stat(path);
  } catch (err) {
    // Linked in the metadata but gone from storage: answer as unknown rather than 500.
    if (err instanceof PathNotFoundError) fail('BLOB_UNKNOWN', { detail: { digest: digestValue } });
    throw err;
  }
  return (dest, range) =>
    ctx.storage.sendTo(path, dest, range ? { offset: range.start, length: range.end - range.start + 1 } : undefined);
}

/** Unlinks a blob from the repository (the content stays while other repositories link it). */
export async function deleteBlob(ctx: RegistryContext, repository: string, digestValue: string): Promise<void> {
  if (!ctx.options.deleteEnabled) fail('UNSUPPORTED', { message: 'deletes are disabled on this registry' });
  requireDigest(digestValue);
  const repoId = await findRepositoryId(ctx.db, repository);
  if (repoId === undefined || !(await unlinkBlob(ctx.db, repoId, digestValue, reviewTime(ctx.options.gcReviewDelay)))) {
    fail('BLOB_UNKNOWN', { detail: { digest: digestValue } });
  }
}
