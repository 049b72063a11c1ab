// `docker push NAME[:TAG]` and `-a` (hub-and-engine.md §4.9): per layer, top first and named by
// its short diff ID, Preparing / Waiting / Layer already exists / Mounted from / Pushing / Pushed;
// then the config and a Docker schema2 manifest (OCI with `oci`), and `<tag>: digest: … size: …`.
//
// Layers pulled from a registry are stored compressed and pushed as they are. Layers made here
// (import, load, commit) are stored uncompressed and pushed gzip-compressed on the fly, as Docker
// does; gzip output differs between implementations, so the compressed digest is recorded in
// layer_sources and the next push of that layer to the same registry checks (HEAD) or mounts that
// blob instead of compressing again.
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { RegistryClient } from '../client/client.js';
import { digestOf } from '../oci/digest.js';
import { canonicalString, familiarName, fullName, type ImageReference, parseReference } from '../oci/reference.js';
import { DaemonError } from './images.js';
import { type CredentialLookup, type PullEvent, storedCredentials } from './pull.js';
import { addLayerSource, addRepoDigest } from './record.js';
import { defaultRegistrySettings, pushEndpoint, type RegistrySettings } from './registry-config.js';
import type { LocalStore } from './store.js';
import { shortId } from './units.js';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface PushOptions {
  /** `-a`: every tag of the repository. */
  allTags?: boolean;
  /** Push an OCI image manifest instead of Docker's schema2. */
  oci?: boolean;
  onEvent?: (event: PullEvent) => void;
  /** Concurrent layer uploads (Docker: 5). */
  concurrency?: number;
  settings?: RegistrySettings;
  credentials?: CredentialLookup;
  signal?: AbortSignal;
}

export interface PushedTag {
  tag: string;
  digest: string;
  size: number;
}

export interface PushResult {
  /** Canonical reference (what `docker push -q` prints). */
  reference: string;
  tags: PushedTag[];
}

export class PushReferenceError extends Error {}

interface LocalLayer {
  diffId: string;
  blobDigest: string;
  mediaType: string;
  size: number;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** Is a stored layer uncompressed (made here), so that it must be compressed to be pushed? */
function isUncompressed(mediaType: string): boolean {
  return mediaType.endsWith('.tar') || mediaType === 'application/vnd.docker.image.rootfs.diff.tar';
}

/** The media type a stored compressed layer gets in the pushed manifest. */
function manifestLayerType(stored: string, oci: boolean): string {
  const gzip = stored === DOCKER_LAYER_GZIP || stored === OCI_LAYER_GZIP || stored.endsWith('.tar.gzip');
  if (gzip) return oci ? OCI_LAYER_GZIP : DOCKER_LAYER_GZIP;
  return stored; // zstd and others keep their (OCI) type
}

/** Runs `run` over `items`, at most `limit` at a time; the first failure wins after all settle. */
async function pool<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await run(item);
      } catch (err) {
        errors.push(err);
        next = items.length;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

/** Docker's schema2 (or OCI) manifest bytes: Go's json.MarshalIndent with three spaces. */
export function manifestBytes(config: Descriptor, layers: readonly Descriptor[], oci: boolean): Buffer {
  const d = (x: Descriptor) => ({ mediaType: x.mediaType, size: x.size, digest: x.digest });
  const manifest = {
    schemaVersion: 2,
    mediaType: oci ? OCI_MANIFEST : DOCKER_MANIFEST,
    config: d({ ...config, mediaType: oci ? OCI_CONFIG : DOCKER_CONFIG }),
    layers: layers.map(d),
  };
  return Buffer.from(JSON.stringify(manifest, null, 3), 'utf8');
}

/** `docker push`. */
export async function pushImage(store: LocalStore, input: string, options: PushOptions = {}): Promise<PushResult> {
  const { db } = store;
  const emit = options.onEvent ?? (() => {});
  const parsed = parseReference(input);
  if (parsed.digest !== undefined) throw new PushReferenceError('cannot push a digest reference');
  if (options.allTags && parsed.tag !== undefined) throw new PushReferenceError("tag can't be used with --all-tags/-a");
  let ref: ImageReference = parsed;
  if (!options.allTags && parsed.tag === undefined) {
    emit({ status: 'Using default tag: latest' });
    ref = { ...parsed, tag: 'latest' };
  }
  const name = fullName(ref);
  emit({ status: `The push refers to repository [${name}]` });

  let query = db.selectFrom('tags').select(['tag', 'image_id']).where('name', '=', name);
  if (ref.tag !== undefined) query = query.where('tag', '=', ref.tag);
  const tags = await query.orderBy('tag').execute();
  if (tags.length === 0) throw new DaemonError(`An image does not exist locally with the tag: ${familiarName(ref)}`);

  const settings = options.settings ?? defaultRegistrySettings();
  const endpoint = await pushEndpoint(settings, ref.domain);
  const credentials = await (options.credentials ?? storedCredentials)(endpoint.host);
  const client = new RegistryClient({
    host: endpoint.host,
    insecure: endpoint.insecure,
    ...(credentials ? { credentials } : {}),
  });
  try {
    const pushed: PushedTag[] = [];
    for (const { tag, image_id: imageId } of tags) {
      const result = await pushTag(store, client, ref, tag, imageId, options);
      emit({ status: `${tag}: digest: ${result.digest} size: ${result.size}` });
      pushed.push({ tag, ...result });
    }
    return { reference: canonicalString(ref), tags: pushed };
  } finally {
    await client.close();
  }
}

/** Pushes one image's layers, config and manifest under `ref`'s repository and a tag. */
async function pushTag(
  store: LocalStore,
  client: RegistryClient,
  ref: ImageReference,
  tag: string,
  imageId: string,
  options: PushOptions,
): Promise<{ digest: string; size: number }> {
  const { db, content } = store;
  const emit = options.onEvent ?? (() => {});
  const oci = options.oci === true;
  const { signal } = options;
  const repo = ref.path;
  const registry = ref.domain;

  const layers: LocalLayer[] = (
    await db
      .selectFrom('image_layers')
      .innerJoin('layers', 'layers.blob_digest', 'image_layers.blob_digest')
      .select(['image_layers.diff_id', 'image_layers.blob_digest', 'layers.media_type', 'layers.size'])
      .where('image_layers.image_id', '=', imageId)
      .orderBy('image_layers.position')
      .execute()
  ).map((l) => ({ diffId: l.diff_id, blobDigest: l.blob_digest, mediaType: l.media_type, size: Number(l.size) }));
  const count = await db
    .selectFrom('image_layers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('image_id', '=', imageId)
    .executeTakeFirst();
  if (Number(count?.n ?? 0) !== layers.length)
    throw new Error(`image ${imageId} has layers missing from the local store`);

  // Top layer first, each diff ID once, as Docker lists them.
  const unique: LocalLayer[] = [];
  for (const l of [...layers].reverse()) if (!unique.some((u) => u.diffId === l.diffId)) unique.push(l);
  const limit = options.concurrency ?? 5;
  for (const l of unique) emit({ id: shortId(l.diffId), status: 'Preparing' });
  for (const l of unique.slice(limit)) emit({ id: shortId(l.diffId), status: 'Waiting' });

  const pushedLayers = new Map<string, Descriptor>();
  await pool(unique, limit, async (layer) => {
    const id = shortId(layer.diffId);
    const outcome = await pushLayer(store, client, registry, repo, layer, oci, signal, (current, total) =>
      emit({ id, status: 'Pushing', progress: { current, total } }),
    );
    emit({
      id,
      status:
        outcome.how === 'exists'
          ? 'Layer already exists'
          : outcome.how === 'mounted'
            ? `Mounted from ${outcome.from}`
            : 'Pushed',
    });
    pushedLayers.set(layer.diffId, outcome.descriptor);
  });

  const configBytes = await content.get(imageId);
  await client.pushBlob(repo, imageId, configBytes.length, async () => Readable.from([configBytes]), {
    ...(signal ? { signal } : {}),
  });
  const descriptors = layers.map((l) => pushedLayers.get(l.diffId) as Descriptor);
  const manifest = manifestBytes({ mediaType: '', digest: imageId, size: configBytes.length }, descriptors, oci);
  const digest = await client.putManifest(repo, tag, manifest, oci ? OCI_MANIFEST : DOCKER_MANIFEST, signal);
  if (digest !== digestOf(manifest)) throw new Error(`registry stored the manifest as ${digest}`);

  const now = new Date().toISOString();
  await db.transaction().execute(async (tx) => {
    for (const [diffId, d] of pushedLayers) {
      await addLayerSource(
        tx,
        { registry, repository: repo, blobDigest: d.digest, diffId, mediaType: d.mediaType, size: d.size },
        now,
      );
    }
    await addRepoDigest(tx, fullName(ref), digest, imageId, now);
  });
  return { digest, size: manifest.length };
}

type LayerOutcome =
  | { how: 'exists'; descriptor: Descriptor }
  | { how: 'mounted'; from: string; descriptor: Descriptor }
  | { how: 'pushed'; descriptor: Descriptor };

/**
 * One layer: already there (HEAD), mounted from another repository of the same registry that is
 * known to hold it (layer_sources), or uploaded (as stored, or gzip-compressed on the fly).
 */
async function pushLayer(
  store: LocalStore,
  client: RegistryClient,
  registry: string,
  repo: string,
  layer: LocalLayer,
  oci: boolean,
  signal: AbortSignal | undefined,
  progress: (current: number, total: number) => void,
): Promise<LayerOutcome> {
  const { db, content } = store;
  const local = !isUncompressed(layer.mediaType);
  // The compressed blobs known to hold this layer on this registry, and where.
  const sources = await db
    .selectFrom('layer_sources')
    .select(['repository', 'blob_digest', 'media_type', 'size'])
    .where('registry', '=', registry)
    .where('diff_id', '=', layer.diffId)
    .orderBy('created_at', 'desc')
    .execute();
  const candidates: Descriptor[] = [];
  const add = (d: Descriptor) => {
    if (!candidates.some((c) => c.digest === d.digest)) candidates.push(d);
  };
  if (local) add({ digest: layer.blobDigest, mediaType: layer.mediaType, size: layer.size });
  for (const s of sources) {
    if (!isUncompressed(s.media_type)) add({ digest: s.blob_digest, mediaType: s.media_type, size: Number(s.size) });
  }
  const opts = signal ? { signal } : {};
  const asPushed = (d: Descriptor): Descriptor => ({ ...d, mediaType: manifestLayerType(d.mediaType, oci) });

  for (const c of candidates) {
    if ((await client.blobExists(repo, c.digest, signal)) !== undefined)
      return { how: 'exists', descriptor: asPushed(c) };
  }
  for (const c of candidates) {
    for (const s of sources) {
      if (s.blob_digest !== c.digest || s.repository === repo) continue;
      if (await client.mountBlob(repo, c.digest, s.repository, signal)) {
        return { how: 'mounted', from: s.repository, descriptor: asPushed(c) };
      }
    }
  }

  if (local) {
    await client.pushBlob(repo, layer.blobDigest, layer.size, () => content.reader(layer.blobDigest), {
      ...opts,
      checkExists: false,
      onProgress: (sent) => progress(sent, layer.size),
    });
    return {
      how: 'pushed',
      descriptor: asPushed({ digest: layer.blobDigest, mediaType: layer.mediaType, size: layer.size }),
    };
  }
  // Made here: gzip on the way out; progress counts the uncompressed bytes, as Docker's does.
  const source = await content.reader(layer.blobDigest);
  let read = 0;
  source.on('data', (chunk: Buffer) => {
    read += chunk.length;
    progress(read, layer.size);
  });
  const gzip = createGzip();
  source.on('error', (err) => gzip.destroy(err));
  source.pipe(gzip);
  const { digest, size } = await client.pushStream(repo, gzip, opts);
  return { how: 'pushed', descriptor: { digest, size, mediaType: oci ? OCI_LAYER_GZIP : DOCKER_LAYER_GZIP } };
}
