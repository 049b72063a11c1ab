import { listReferrers } from '../metadata/manifests.js';
import { type CatalogReader, findRepositoryId, listReadableRepositories } from '../metadata/repositories.js';
import { listTags } from '../metadata/tags.js';
import { MediaType } from '../oci/mediatypes.js';
import { requireDigest } from './blobs.js';
import type { RegistryContext } from './context.js';
import { fail } from './errors.js';

/** One page of a sorted listing; `next` is the `last` value of the following page, if any. */
export interface Page {
  items: string[];
  next?: string;
}

/** Default page size of the catalog when the client gives no `n`, as in Distribution. */
const CATALOG_DEFAULT_PAGE = 100;

/** Parses the `n` query parameter: a non-negative integer, else PAGINATION_NUMBER_INVALID. */
export function parsePageSize(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) fail('PAGINATION_NUMBER_INVALID', { detail: { n: value } });
  return Number(value);
}

async function page(fetch: (limit: number) => Promise<string[]>, n: number): Promise<Page> {
  if (n === 0) return { items: [] };
  const rows = await fetch(n + 1);
  if (rows.length <= n) return { items: rows };
  const items = rows.slice(0, n);
  return { items, next: items[items.length - 1] as string };
}

/**
 * The catalog from the database, never from storage, as `reader` may see it.
 * More than the maximum is refused, as Distribution does.
 */
export async function catalog(
  ctx: RegistryContext,
  reader: CatalogReader,
  n: number | undefined,
  last: string | undefined,
): Promise<Page> {
  const size = n ?? Math.min(CATALOG_DEFAULT_PAGE, ctx.options.catalogMaxEntries);
  if (size > ctx.options.catalogMaxEntries) {
    fail('PAGINATION_NUMBER_INVALID', { detail: { n: size, max: ctx.options.catalogMaxEntries } });
  }
  return page((limit) => listReadableRepositories(ctx.db, reader, limit, last), size);
}

/** Tags of a repository; `n` is clamped to the configured maximum. */
export async function tags(
  ctx: RegistryContext,
  repository: string,
  n: number | undefined,
  last: string | undefined,
): Promise<Page> {
  const repoId = await findRepositoryId(ctx.db, repository);
  if (repoId === undefined) fail('NAME_UNKNOWN', { detail: { name: repository } });
  const size = Math.min(n ?? ctx.options.tagsMaxEntries, ctx.options.tagsMaxEntries);
  return page((limit) => listTags(ctx.db, repoId, limit, last), size);
}

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: {
    mediaType: string;
    digest: string;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
  }[];
}

/** The referrers of `subject` as an OCI index; empty (never an error) for an unknown subject. */
export async function referrers(
  ctx: RegistryContext,
  repository: string,
  subject: string,
  artifactType?: string,
): Promise<ReferrersIndex> {
  requireDigest(subject);
  const rows = await listReferrers(ctx.db, repository, subject, artifactType);
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: rows.map((r) => ({
      mediaType: r.mediaType,
      digest: r.digest,
      size: Number(r.size),
      ...(r.artifactType ? { artifactType: r.artifactType } : {}),
      ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
    })),
  };
}
