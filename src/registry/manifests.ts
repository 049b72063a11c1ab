import { linkedDigests } from '../metadata/blobs.js';
import type { MetadataDb } from '../metadata/db.js';
import { reviewTime } from '../metadata/gc.js';
import {
  existingManifests,
  getManifestByDigest,
  getManifestByTag,
  hasManifest,
  type ManifestRecord,
  MissingReferencesError,
  putManifest,
  deleteManifest as removeManifest,
} from '../metadata/manifests.js';
import { ensureRepository, findRepositoryId, resolveReadName } from '../metadata/repositories.js';
import { deleteTag } from '../metadata/tags.js';
import { digestOf, looksLikeDigest, parseDigest } from '../oci/digest.js';
import { type Descriptor, ManifestFormatError, type ParsedManifest, parseManifest } from '../oci/manifest.js';
import { isValidTag } from '../oci/name.js';
import type { EventRequest, ManifestEvent, RegistryContext } from './context.js';
import { fail, RegistryError } from './errors.js';
import { enforceQuota } from './quota.js';

/** A manifest reference from a URL: a tag or a digest. */
export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

/** Most tags one `PUT …/manifests/<digest>?tag=` may set. */
export const MAX_TAGS_PER_PUT = 10;

export function parseReference(value: string): Reference {
  if (looksLikeDigest(value) || value.includes(':')) {
    const digest = parseDigest(value);
    if (!digest) fail('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: value } });
    return { kind: 'digest', digest: digest.value };
  }
  if (!isValidTag(value)) fail('TAG_INVALID', { message: 'invalid tag', detail: { tag: value } });
  return { kind: 'tag', tag: value };
}

/**
 * A reference to read (GET/HEAD). Something that is neither a tag nor a digest cannot name a
 * stored manifest, so it is unknown (404 MANIFEST_UNKNOWN, as Distribution's router and the OCI
 * conformance suite's `.INVALID_MANIFEST_NAME` expect), not a 400: only writes reject the name.
 */
export function parseReadReference(value: string): Reference {
  try {
    return parseReference(value);
  } catch (err) {
    if (err instanceof RegistryError) fail('MANIFEST_UNKNOWN', { detail: { reference: value } });
    throw err;
  }
}

/**
 * Tells ctx.events after a committed change. Never fails the request: a listener's failure is
 * its own to log, and deliveries happen later from the hub's queue.
 */
async function emit(
  ctx: RegistryContext,
  kind: 'onManifestPushed' | 'onManifestPulled' | 'onManifestDeleted',
  event: ManifestEvent,
): Promise<void> {
  if (!ctx.events) return;
  try {
    await ctx.events[kind](event);
  } catch {
    // Listeners log their own failures; the registry operation already succeeded.
  }
}

/** A manifest by tag or digest, from ctx.manifestCache when it holds a fresh answer. */
async function lookup(ctx: RegistryContext, repository: string, ref: Reference): Promise<ManifestRecord | undefined> {
  const cache = ctx.manifestCache;
  const read = () =>
    ref.kind === 'tag'
      ? getManifestByTag(ctx.db, repository, ref.tag)
      : getManifestByDigest(ctx.db, repository, ref.digest);
  if (!cache) return read();
  const digest = ref.kind === 'tag' ? cache.tag(repository, ref.tag) : ref.digest;
  const hit = digest === undefined ? undefined : cache.manifest(repository, digest);
  if (hit) return hit;
  if (ref.kind === 'tag') return cache.load(repository, ref.tag, ref.tag, read);
  return cache.load(repository, undefined, ref.digest, read);
}

/**
 * The repository a read of `name` (one component, e.g. `alpine`) is served from: `name` itself
 * when it exists, else an official `library/name`. An existing name is remembered in
 * ctx.manifestCache, so that reads of a top-level repository do not each ask the database.
 */
export async function resolveReadTarget(ctx: RegistryContext, name: string): Promise<string> {
  const cache = ctx.manifestCache;
  if (cache?.exists(name)) return name;
  const generation = cache?.generation ?? 0;
  const target = await resolveReadName(ctx.db, name);
  if (target === name) cache?.rememberExists(name, generation);
  return target ?? name;
}

/** A manifest by tag or digest; with `pull` (a GET, not a HEAD) the read counts as a pull event. */
export async function getManifest(
  ctx: RegistryContext,
  repository: string,
  ref: Reference,
  pull?: EventRequest,
): Promise<ManifestRecord> {
  const found = await lookup(ctx, repository, ref);
  if (!found) {
    fail('MANIFEST_UNKNOWN', { detail: ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest } });
  }
  if (pull) {
    await emit(ctx, 'onManifestPulled', {
      repository,
      ...(ref.kind === 'tag' ? { tag: ref.tag } : {}),
      digest: found.digest,
      mediaType: found.mediaType,
      size: found.size,
      request: pull,
    });
  }
  return found;
}

export interface PutResult {
  digest: string;
  tags: string[];
  subject?: string;
}

/** Layers a client may leave out of the registry: foreign (Windows) and non-distributable layers with URLs. */
function isExternal(d: Descriptor): boolean {
  return (d.urls?.length ?? 0) > 0 && /foreign|nondistributable/.test(d.mediaType);
}

/**
 * Stores a manifest after checking it: well-formed, digest matching the reference, every blob
 * and child manifest present in the repository. Tags are updated in the same transaction.
 */
export async function putManifestChecked(
  ctx: RegistryContext,
  repository: string,
  ref: Reference,
  content: Uint8Array,
  contentType: string,
  extraTags: string[],
  request?: EventRequest,
): Promise<PutResult> {
  if (content.byteLength > ctx.options.maxManifestSize) {
    fail('SIZE_INVALID', { status: 413, message: `manifest is larger than ${ctx.options.maxManifestSize} bytes` });
  }
  let parsed: ParsedManifest;
  try {
    parsed = parseManifest(content, contentType);
  } catch (err) {
    if (err instanceof ManifestFormatError) fail('MANIFEST_INVALID', { message: `manifest invalid: ${err.message}` });
    throw err;
  }
  const algorithm = ref.kind === 'digest' ? (parseDigest(ref.digest)?.algorithm ?? 'sha256') : 'sha256';
  const digest = digestOf(content, algorithm);
  if (ref.kind === 'digest' && ref.digest !== digest) {
    fail('DIGEST_INVALID', {
      message: 'manifest digest did not match the reference',
      detail: { expected: ref.digest, actual: digest },
    });
  }
  const tags = ref.kind === 'tag' ? [ref.tag] : extraTags;
  if (tags.length > MAX_TAGS_PER_PUT)
    fail('TAG_INVALID', { status: 414, message: `at most ${MAX_TAGS_PER_PUT} tags per request` });
  for (const tag of tags) if (!isValidTag(tag)) fail('TAG_INVALID', { message: 'invalid tag', detail: { tag } });

  // Checked before the repository is created, so that a refused manifest leaves nothing behind.
  const knownId = await findRepositoryId(ctx.db, repository);
  const blobs = parsed.blobs.filter((d) => !isExternal(d)).map((d) => d.digest);
  const present = knownId === undefined ? new Set<string>() : await linkedDigests(ctx.db, knownId, blobs);
  const children = parsed.manifests.map((d) => d.digest);
  const existing = knownId === undefined ? new Set<string>() : await existingManifests(ctx.db, knownId, children);
  // One MANIFEST_BLOB_UNKNOWN per missing blob or child manifest, as Distribution reports them.
  const [firstMissing, ...moreMissing] = [
    ...blobs
      .filter((d) => !present.has(d))
      .map((d) => new RegistryError('MANIFEST_BLOB_UNKNOWN', { detail: { digest: d } })),
    ...children
      .filter((d) => !existing.has(d) && d !== digest)
      .map(
        (d) =>
          new RegistryError('MANIFEST_BLOB_UNKNOWN', {
            message: 'manifest unknown to registry',
            detail: { digest: d },
          }),
      ),
  ];
  if (firstMissing) {
    fail('MANIFEST_BLOB_UNKNOWN', { message: firstMissing.message, detail: firstMissing.detail, also: moreMissing });
  }
  // Only a manifest new to the repository adds bytes.
  const quotaCheck = async (db: MetadataDb) => {
    if (knownId !== undefined && (await hasManifest(db, knownId, digest))) return;
    await enforceQuota(ctx, db, repository, { kind: 'manifest', digest, size: content.byteLength });
  };
  await quotaCheck(ctx.db);
  const repoId = knownId ?? (await ensureRepository(ctx.db, repository, ctx.options.defaultVisibility));

  await putManifest(
    ctx.db,
    repoId,
    {
      digest,
      mediaType: parsed.mediaType,
      content,
      ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
      ...(parsed.subject ? { subjectDigest: parsed.subject.digest } : {}),
      ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
      references: [
        ...blobs.map((d) => ({ digest: d, kind: 'blob' as const })),
        ...children.map((d) => ({ digest: d, kind: 'manifest' as const })),
      ],
    },
    tags,
    { reviewAfter: reviewTime(ctx.options.gcReviewDelay), ...(ctx.quota ? { guard: quotaCheck } : {}) },
  ).catch((err: unknown) => {
    // GC removed a blob or child between the check above and the commit.
    if (err instanceof MissingReferencesError) {
      fail('MANIFEST_BLOB_UNKNOWN', { message: err.message, detail: { digest: err.digests[0] ?? null } });
    }
    throw err;
  });
  for (const tag of tags) ctx.manifestCache?.forgetTag(repository, tag);
  const pushed = { repository, digest, mediaType: parsed.mediaType, size: content.byteLength, request };
  if (tags.length === 0) await emit(ctx, 'onManifestPushed', pushed);
  for (const tag of tags) await emit(ctx, 'onManifestPushed', { ...pushed, tag });
  return { digest, tags, ...(parsed.subject ? { subject: parsed.subject.digest } : {}) };
}

/** By digest: deletes the manifest and its tags. By tag: removes the tag only. */
export async function deleteManifest(
  ctx: RegistryContext,
  repository: string,
  ref: Reference,
  request?: EventRequest,
): Promise<void> {
  if (!ctx.options.deleteEnabled) fail('UNSUPPORTED', { message: 'deletes are disabled on this registry' });
  const repoId = await findRepositoryId(ctx.db, repository);
  // What the tag pointed to, for the event: read before it goes.
  const before =
    ctx.events && repoId !== undefined
      ? ref.kind === 'tag'
        ? await getManifestByTag(ctx.db, repository, ref.tag)
        : await getManifestByDigest(ctx.db, repository, ref.digest)
      : undefined;
  const deleted =
    repoId !== undefined &&
    (ref.kind === 'tag'
      ? await deleteTag(ctx.db, repoId, ref.tag, reviewTime(ctx.options.gcReviewDelay))
      : await removeManifest(ctx.db, repoId, ref.digest, reviewTime(ctx.options.gcReviewDelay)));
  if (!deleted) fail('MANIFEST_UNKNOWN', { detail: ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest } });
  if (ref.kind === 'tag') ctx.manifestCache?.forgetTag(repository, ref.tag);
  else ctx.manifestCache?.forgetManifest(repository, ref.digest);
  if (before) {
    await emit(ctx, 'onManifestDeleted', {
      repository,
      ...(ref.kind === 'tag' ? { tag: ref.tag } : {}),
      digest: before.digest,
      mediaType: before.mediaType,
      size: before.size,
      ...(request ? { request } : {}),
    });
  }
}
