import type { Credentials } from '../client/auth.js';
import { RegistryClient } from '../client/client.js';
import { RegistryClientError, renderEntry } from '../client/errors.js';
import { type Descriptor, parseManifest } from '../oci/manifest.js';
import { isIndexMediaType } from '../oci/mediatypes.js';
import {
  canonicalString,
  familiarName,
  familiarString,
  fullName,
  type ImageReference,
  parseReference,
  withDefaultTag,
} from '../oci/reference.js';
import { clientCredentials, findCredentials } from './credentials.js';
import { hostPlatform, type Platform, selectManifest } from './platform.js';
import { addLayerSource, addRepoDigest, recordImage, recordLayer, setTag } from './record.js';
import { defaultRegistrySettings, pullEndpoints, type RegistrySettings } from './registry-config.js';
import type { LocalStore } from './store.js';
import { shortId } from './units.js';

/**
 * One progress message: `<id>: <status>`, or `<status>` alone; transfers (`Downloading`,
 * `Pushing`) carry byte progress, which only a terminal shows.
 */
export interface PullEvent {
  id?: string;
  status: string;
  progress?: { current: number; total: number };
}

/** The credentials to use for a registry host (default: Wharf's config.json, then Docker's). */
export type CredentialLookup = (host: string) => Promise<Credentials | undefined>;

export const storedCredentials: CredentialLookup = async (host) => clientCredentials(await findCredentials(host));

export class AllTagsWithTagError extends Error {
  constructor() {
    super("tag can't be used with --all-tags/-a");
  }
}

export interface PullOptions {
  platform?: Platform;
  onEvent?: (event: PullEvent) => void;
  /** `-a`: every tag of the repository (the reference must be a bare name). */
  allTags?: boolean;
  /** Mirrors, insecure registries, default registry (default: loopback insecure, nothing else). */
  settings?: RegistrySettings;
  credentials?: CredentialLookup;
  /** Concurrent layer downloads (Docker: 3). */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface PullResult {
  /** The image of the (last) tag pulled. */
  imageId: string;
  /** Canonical reference, Docker's last line (`docker.io/library/ubuntu:latest`). */
  reference: string;
  upToDate: boolean;
}

interface ImageConfig {
  created?: string;
  os?: string;
  architecture?: string;
  rootfs?: { diff_ids?: unknown };
}

function unpackKind(mediaType: string): 'compressed' | 'none' | undefined {
  if (/\+(gzip|zstd)$|\.tar\.gzip$/.test(mediaType)) return 'compressed';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('layer.v1.tar')) return 'none';
  return undefined;
}

interface LayerPlan {
  descriptor: Descriptor;
  diffId: string;
  exists: boolean;
  diffSize: number;
}

/** Download attempts of a layer after the first (Docker: 5 attempts in all). */
const LAYER_RETRIES = 4;

/** Runs `tasks` with at most `limit` at a time; rejects with the first failure after all settle. */
async function pool<T>(items: readonly T[], limit: number, run: (item: T, index: number) => Promise<void>) {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await run(items[i] as T, i);
      } catch (err) {
        errors.push(err);
        next = items.length;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

/**
 * `docker pull NAME[:TAG|@DIGEST]` (or `-a NAME`) into the local store. For docker.io names the
 * mirrors are tried first, each failure falling through to the next and then to the registry.
 */
export async function pullImage(store: LocalStore, input: string, options: PullOptions = {}): Promise<PullResult> {
  const emit = options.onEvent ?? (() => {});
  const parsed = parseReference(input);
  if (options.allTags && (parsed.tag !== undefined || parsed.digest !== undefined)) throw new AllTagsWithTagError();
  if (!options.allTags && parsed.tag === undefined && parsed.digest === undefined) {
    emit({ status: 'Using default tag: latest' });
  }
  const ref: ImageReference = options.allTags ? parsed : withDefaultTag(parsed);
  const settings = options.settings ?? defaultRegistrySettings();
  const endpoints = await pullEndpoints(settings, ref.domain);
  const lookup = options.credentials ?? storedCredentials;
  for (const [i, endpoint] of endpoints.entries()) {
    const credentials = await lookup(endpoint.host);
    const client = new RegistryClient({
      host: endpoint.host,
      insecure: endpoint.insecure,
      ...(credentials ? { credentials } : {}),
    });
    try {
      if (!options.allTags) {
        const r = await pullTag(store, client, ref, options);
        const shown = familiarString(ref);
        emit({
          status: r.upToDate
            ? `Status: Image is up to date for ${shown}`
            : `Status: Downloaded newer image for ${shown}`,
        });
        return { imageId: r.imageId, reference: canonicalString(ref), upToDate: r.upToDate };
      }
      const tags = await client.listTags(ref.path, options.signal ? { signal: options.signal } : {});
      let downloaded = false;
      let last: { imageId: string; upToDate: boolean } | undefined;
      for (const tag of tags) {
        last = await pullTag(store, client, { ...ref, tag }, options);
        downloaded ||= !last.upToDate;
      }
      const shown = familiarName(ref);
      emit({
        status: downloaded ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}`,
      });
      return { imageId: last?.imageId ?? '', reference: canonicalString(ref), upToDate: !downloaded };
    } catch (err) {
      // A mirror that fails (down, or without the image) hands over to the next endpoint.
      if (endpoint.mirror === undefined || i === endpoints.length - 1) throw translatePullError(err, ref);
    } finally {
      await client.close();
    }
  }
  throw new Error(`no endpoint to pull ${familiarName(ref)} from`);
}

/**
 * Docker's wording for registry errors of a pull (moby distribution/errors.go): only the first
 * registry error counts; DENIED, MANIFEST_UNKNOWN and NAME_UNKNOWN are explained.
 */
function translatePullError(err: unknown, ref: ImageReference): unknown {
  if (!(err instanceof RegistryClientError)) return err;
  const first = err.errors[0];
  if (first === undefined) return err;
  const cause = renderEntry(first);
  const message =
    first.code === 'DENIED'
      ? `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${cause}`
      : first.code === 'MANIFEST_UNKNOWN'
        ? `manifest for ${familiarString(ref)} not found: ${cause}`
        : first.code === 'NAME_UNKNOWN'
          ? `repository ${familiarName(ref)} not found: ${cause}`
          : cause;
  return new RegistryClientError(message, {
    ...(err.status !== undefined ? { status: err.status } : {}),
    errors: [first],
    cause: err,
  });
}

/** Pulls one tag or digest with `client`: everything up to the `Digest:` line. */
async function pullTag(
  store: LocalStore,
  client: RegistryClient,
  ref: ImageReference,
  options: PullOptions,
): Promise<{ imageId: string; upToDate: boolean }> {
  const { db, content } = store;
  const emit = options.onEvent ?? (() => {});
  const name = fullName(ref);
  const reference = (ref.digest ?? ref.tag) as string;
  const signal = options.signal;
  const top = await client.getManifest(ref.path, reference, undefined, signal);
  let manifest = top;
  if (isIndexMediaType(top.mediaType)) {
    const index = parseManifest(top.bytes, top.mediaType);
    const chosen = selectManifest(index.manifests, options.platform ?? hostPlatform());
    manifest = await client.getManifest(ref.path, chosen.digest, undefined, signal);
  }
  const image = parseManifest(manifest.bytes, manifest.mediaType);
  if (image.kind !== 'image') throw new Error(`unsupported manifest: ${manifest.mediaType}`);
  const [configDescriptor, ...layerDescriptors] = image.blobs;
  if (!configDescriptor) throw new Error('manifest has no config');
  const imageId = configDescriptor.digest;

  emit({ id: reference, status: `Pulling from ${ref.path}` });

  // The config: small, kept in the content store under its digest (= the image ID).
  if (!(await content.has(imageId))) {
    const pending = await content.create(imageId);
    try {
      await client.pullBlob(ref.path, imageId, configDescriptor.size, pending.stream, { signal });
      await pending.commit();
    } catch (err) {
      await pending.cancel();
      throw err;
    }
  }
  const configBytes = await content.get(imageId);
  const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  const diffIds = config.rootfs?.diff_ids;
  if (
    !Array.isArray(diffIds) ||
    diffIds.length !== layerDescriptors.length ||
    !diffIds.every((d): d is string => typeof d === 'string')
  ) {
    throw new Error(`image config ${imageId} does not list one diff ID per layer of the manifest`);
  }

  const plans: LayerPlan[] = [];
  for (const [i, descriptor] of layerDescriptors.entries()) {
    const diffId = diffIds[i] as string;
    const known = await db
      .selectFrom('layers')
      .select(['diff_id', 'diff_size'])
      .where('blob_digest', '=', descriptor.digest)
      .executeTakeFirst();
    const exists = known !== undefined && known.diff_id === diffId && (await content.has(descriptor.digest));
    plans.push({ descriptor, diffId, exists, diffSize: exists ? Number(known?.diff_size) : 0 });
  }
  // A layer listed twice is fetched once.
  const seen = new Set<string>();
  const missing = plans.filter((p) => {
    if (p.exists || seen.has(p.descriptor.digest)) return false;
    seen.add(p.descriptor.digest);
    return true;
  });
  const limit = options.concurrency ?? 3;
  // Docker says nothing about layers of an image it already has (it stops at the config).
  const imageKnown =
    missing.length === 0 &&
    (await db.selectFrom('images').select('id').where('id', '=', imageId).executeTakeFirst()) !== undefined;
  for (const p of plans) {
    if (imageKnown) break;
    if (p.exists) emit({ id: shortId(p.descriptor.digest), status: 'Already exists' });
    else if (missing.includes(p)) emit({ id: shortId(p.descriptor.digest), status: 'Pulling fs layer' });
  }
  for (const p of missing.slice(limit)) emit({ id: shortId(p.descriptor.digest), status: 'Waiting' });

  // Downloads run `limit` at a time; "Pull complete" is reported in layer order, as extraction is.
  const done = new Map<string, { diffSize: number }>();
  let reported = 0;
  const reportInOrder = () => {
    while (reported < missing.length) {
      const p = missing[reported] as LayerPlan;
      if (!done.has(p.descriptor.digest)) break;
      emit({ id: shortId(p.descriptor.digest), status: 'Pull complete' });
      reported++;
    }
  };
  const download = async (p: LayerPlan) => {
    const { digest, size, mediaType } = p.descriptor;
    const kind = unpackKind(mediaType);
    const pending = await content.create(digest, kind);
    // A layer of a kind Wharf does not unpack (foreign, unknown) counts as its blob.
    let diffSize = size;
    let tarSize = size;
    try {
      await client.pullBlob(ref.path, digest, size, pending.stream, {
        signal,
        // Docker's patience with a registry that went away: 5 attempts, waiting longer each time.
        retries: LAYER_RETRIES,
        retryDelayMs: (failures) => failures * 1000,
        onRetry: (_failures, delayMs) =>
          emit({ id: shortId(digest), status: `Retrying in ${delayMs / 1000} second${delayMs === 1000 ? '' : 's'}` }),
        onProgress: (received) =>
          emit({ id: shortId(digest), status: 'Downloading', progress: { current: received, total: size } }),
      });
      emit({ id: shortId(digest), status: 'Verifying Checksum' });
      const blob = await pending.commit(({ diff }) => {
        if (diff && diff.diffId !== p.diffId) {
          throw new Error(`layer ${digest}: content has diff ID ${diff.diffId}, the config says ${p.diffId}`);
        }
      });
      if (blob.diff) ({ diffSize, tarSize } = blob.diff);
    } catch (err) {
      await pending.cancel();
      throw err;
    }
    emit({ id: shortId(digest), status: 'Download complete' });
    await recordLayer(db, {
      blobDigest: digest,
      mediaType,
      size,
      diffId: p.diffId,
      diffSize,
      tarSize,
    });
    done.set(digest, { diffSize });
    reportInOrder();
  };
  await pool(missing, limit, download);
  for (const p of plans) {
    if (!p.exists) p.diffSize = done.get(p.descriptor.digest)?.diffSize ?? 0;
  }

  await content.put(top.digest, top.bytes);
  if (manifest !== top) await content.put(manifest.digest, manifest.bytes);

  // Recorded under the store lock, after checking that every blob is still there: a concurrent
  // `wharf rmi` may have deleted a layer that counted as "Already exists". Such a layer is fetched again.
  const record = () =>
    store.locked(async () => {
      const lost: LayerPlan[] = [];
      for (const p of plans) if (!(await content.has(p.descriptor.digest))) lost.push(p);
      if (lost.length > 0) return { lost, upToDate: undefined };
      return { lost: [], upToDate: await recordPulled() };
    });
  const now = new Date().toISOString();
  const recordPulled = () =>
    db.transaction().execute(async (tx) => {
      const before = await tx.selectFrom('images').select('id').where('id', '=', imageId).executeTakeFirst();
      let pointed: boolean;
      if (ref.digest !== undefined) {
        pointed =
          (await tx
            .selectFrom('repo_digests')
            .select('image_id')
            .where('name', '=', name)
            .where('digest', '=', top.digest)
            .executeTakeFirst()) !== undefined;
      } else {
        const row = await tx
          .selectFrom('tags')
          .select('image_id')
          .where('name', '=', name)
          .where('tag', '=', ref.tag as string)
          .executeTakeFirst();
        pointed = row?.image_id === imageId;
      }
      await recordImage(
        tx,
        {
          id: imageId,
          created: typeof config.created === 'string' ? config.created : '',
          size: plans.reduce((sum, p) => sum + p.diffSize, 0),
          os: config.os ?? '',
          architecture: config.architecture ?? '',
          layers: plans.map((p) => ({ diffId: p.diffId, blobDigest: p.descriptor.digest })),
        },
        now,
      );
      if (ref.tag !== undefined && ref.digest === undefined) await setTag(tx, name, ref.tag, imageId, now);
      await addRepoDigest(tx, name, top.digest, imageId, now);
      for (const p of plans) {
        await addLayerSource(
          tx,
          {
            registry: ref.domain,
            repository: ref.path,
            blobDigest: p.descriptor.digest,
            diffId: p.diffId,
            mediaType: p.descriptor.mediaType,
            size: p.descriptor.size,
          },
          now,
        );
      }
      return before !== undefined && pointed && missing.length === 0;
    });
  let upToDate: boolean | undefined;
  for (let attempt = 0; upToDate === undefined; attempt++) {
    const outcome = await record();
    if (outcome.upToDate === undefined) {
      if (attempt === 2) throw new Error('layers keep disappearing from the local store during the pull');
      await pool(outcome.lost, limit, download);
    } else upToDate = outcome.upToDate;
  }

  emit({ status: `Digest: ${top.digest}` });
  return { imageId, upToDate };
}
