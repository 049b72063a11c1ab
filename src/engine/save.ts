// `docker save`: images as Docker's v25+ archive, a docker-archive and an OCI layout in one tar:
//
//   blobs/sha256/<image id hex>   config (exact bytes)
//   blobs/sha256/<diff id hex>    each layer as an uncompressed tar, once however many images share it
//   blobs/sha256/<manifest hex>   one OCI manifest per image
//   manifest.json                 [{"Config","RepoTags","Layers","Parent"?}]
//   repositories                  {"name":{"tag":"<top diff id hex>"}} (only when something is tagged)
//   index.json, oci-layout        the OCI layout (one index entry per tag)
//
// The tar is streamed: layers are read from the content store and, when stored compressed (pulled),
// decompressed on the way (counted first, since a tar header carries the size); nothing is held whole.
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { decompress } from '../archive/compression.js';
import { digestOf, newHash } from '../oci/digest.js';
import {
  familiarName,
  familiarString,
  fullName,
  type ImageReference,
  parseReference,
  withDefaultTag,
} from '../oci/reference.js';
import type { EngineDb } from './db.js';
import { DaemonError, NoSuchImageError, resolveImage } from './images.js';
import type { LocalStore } from './store.js';

/** One image to save and the tags it is saved with (full references, tagged). */
interface Selected {
  id: string;
  refs: ImageReference[];
}

/**
 * Docker's choice of what each argument saves: a name alone every tag of that repository, a
 * `name:tag` that tag, an ID (or `name@digest`) the image without tags. Images keep the order of
 * their first mention.
 */
export async function selectImages(db: EngineDb, names: readonly string[]): Promise<Selected[]> {
  const selected = new Map<string, Selected>();
  const add = (id: string, ref?: ImageReference) => {
    let s = selected.get(id);
    if (!s) {
      s = { id, refs: [] };
      selected.set(id, s);
    }
    if (ref && !s.refs.some((r) => fullName(r) === fullName(ref) && r.tag === ref.tag)) s.refs.push(ref);
  };
  for (const name of names) {
    if (/^(sha256:)?[a-f0-9]{64}$/.test(name)) {
      const id = name.startsWith('sha256:') ? name : `sha256:${name}`;
      const row = await db.selectFrom('images').select('id').where('id', '=', id).executeTakeFirst();
      if (!row) throw new NoSuchImageError(name);
      add(row.id);
      continue;
    }
    const ref = parseReference(name);
    if (familiarName(ref) === 'sha256' || ref.digest !== undefined) {
      add(await resolveImage(db, name));
      continue;
    }
    const full = fullName(ref);
    if (ref.tag === undefined) {
      const tags = await db
        .selectFrom('tags')
        .select(['tag', 'image_id'])
        .where('name', '=', full)
        .orderBy('tag')
        .execute();
      const digests = await db.selectFrom('repo_digests').select('image_id').where('name', '=', full).execute();
      for (const t of tags) add(t.image_id, { ...ref, tag: t.tag });
      for (const d of digests) add(d.image_id);
      if (tags.length === 0 && digests.length === 0) add(await resolveImage(db, name));
      continue;
    }
    const row = await db
      .selectFrom('tags')
      .select('image_id')
      .where('name', '=', full)
      .where('tag', '=', ref.tag)
      .executeTakeFirst();
    if (!row) throw new DaemonError('reference does not exist');
    add(row.image_id, ref);
  }
  return [...selected.values()];
}

interface SavedLayer {
  diffId: string;
  blobDigest: string;
  /** Bytes of the blob as stored (the uncompressed tar when blobDigest = diffId). */
  size: number;
  /** Bytes of the uncompressed tar, when recorded. */
  tarSize: number | null;
}

/** A hashing pass-through that counts too. */
function measuring(): { transform: Transform; digest: () => string; length: () => number } {
  const hash = newHash('sha256');
  let length = 0;
  const transform = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      length += chunk.length;
      done(null, chunk);
    },
  });
  return { transform, digest: () => `sha256:${hash.digest('hex')}`, length: () => length };
}

async function uncompressedReader(store: LocalStore, layer: SavedLayer) {
  const raw = await store.content.reader(layer.blobDigest);
  return layer.blobDigest === layer.diffId ? raw : decompress(raw);
}

/**
 * The uncompressed tar's length (a tar entry's header needs it before the data): recorded when
 * the layer was stored, else measured with one decompressing pass.
 */
async function uncompressedLength(store: LocalStore, layer: SavedLayer): Promise<number> {
  if (layer.blobDigest === layer.diffId) return layer.size;
  if (layer.tarSize !== null) return layer.tarSize;
  const m = measuring();
  const sink = new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });
  await pipeline(await uncompressedReader(store, layer), m.transform, sink);
  if (m.digest() !== layer.diffId) throw new Error(`layer ${layer.blobDigest} does not unpack to ${layer.diffId}`);
  return m.length();
}

/** Adds a small file to the tar. */
function addFile(pack: tar.Pack, name: string, bytes: Buffer, mtime: Date): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: bytes.length, mtime, mode: 0o644, uid: 0, gid: 0, type: 'file' }, bytes, (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

/** Streams one layer into the tar as `blobs/sha256/<diff id>`, checking it unpacks to its diff ID; returns its length. */
async function addLayer(store: LocalStore, pack: tar.Pack, layer: SavedLayer, mtime: Date): Promise<number> {
  const size = await uncompressedLength(store, layer);
  const name = `blobs/sha256/${layer.diffId.slice('sha256:'.length)}`;
  const entry = pack.entry({ name, size, mtime, mode: 0o644, uid: 0, gid: 0, type: 'file' });
  const m = measuring();
  await pipeline(await uncompressedReader(store, layer), m.transform, entry);
  if (m.digest() !== layer.diffId) throw new Error(`layer ${layer.blobDigest} does not unpack to ${layer.diffId}`);
  return size;
}

interface ImageConfig {
  created?: unknown;
  os?: unknown;
  architecture?: unknown;
  variant?: unknown;
  rootfs?: { diff_ids?: unknown };
}

/** `docker save`: writes the archive of `names` to `out` (ended when done, destroyed on failure). */
export async function saveImages(store: LocalStore, names: readonly string[], out: Writable): Promise<void> {
  const { db, content } = store;
  const selected = await selectImages(db, names);
  const pack = tar.pack();
  const writing = pipeline(pack, out);
  writing.catch(() => {});
  const epoch = new Date(0);
  try {
    const dir = (name: string) =>
      new Promise<void>((resolve, reject) =>
        pack.entry({ name, type: 'directory', mode: 0o755, mtime: epoch, uid: 0, gid: 0 }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    await dir('blobs/');
    await dir('blobs/sha256/');
    const written = new Set<string>();
    const lengths = new Map<string, number>();
    const manifest: Record<string, unknown>[] = [];
    const indexEntries: Record<string, unknown>[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const savedIds = new Set(selected.map((s) => s.id));
    for (const image of selected) {
      const configBytes = await content.get(image.id);
      const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
      const created =
        typeof config.created === 'string' && !Number.isNaN(Date.parse(config.created))
          ? new Date(config.created)
          : epoch;
      const rows = await db
        .selectFrom('image_layers')
        .innerJoin('layers', 'layers.blob_digest', 'image_layers.blob_digest')
        .select([
          'image_layers.diff_id as diffId',
          'image_layers.blob_digest as blobDigest',
          'layers.size as size',
          'layers.tar_size as tarSize',
        ])
        .where('image_layers.image_id', '=', image.id)
        .orderBy('image_layers.position')
        .execute();
      if (rows.length === 0) throw new DaemonError('empty export - not implemented');
      const layers: SavedLayer[] = rows.map((r) => ({
        diffId: r.diffId,
        blobDigest: r.blobDigest,
        size: Number(r.size),
        tarSize: r.tarSize === null ? null : Number(r.tarSize),
      }));
      const descriptors: { mediaType: string; digest: string; size: number }[] = [];
      for (const layer of layers) {
        if (!lengths.has(layer.diffId)) lengths.set(layer.diffId, await addLayer(store, pack, layer, created));
        descriptors.push({
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: layer.diffId,
          size: lengths.get(layer.diffId) as number,
        });
      }
      const idHex = image.id.slice('sha256:'.length);
      if (!written.has(image.id)) {
        await addFile(pack, `blobs/sha256/${idHex}`, configBytes, created);
        written.add(image.id);
      }
      const ociManifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: image.id, size: configBytes.length },
          layers: descriptors,
        }),
      );
      const manifestDigest = digestOf(ociManifest);
      if (!written.has(manifestDigest)) {
        await addFile(pack, `blobs/sha256/${manifestDigest.slice('sha256:'.length)}`, ociManifest, created);
        written.add(manifestDigest);
      }
      const platform: Record<string, string> = {
        architecture: typeof config.architecture === 'string' ? config.architecture : '',
        os: typeof config.os === 'string' ? config.os : '',
      };
      if (typeof config.variant === 'string' && config.variant !== '') platform.variant = config.variant;
      const descriptor = {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifestDigest,
        size: ociManifest.length,
      };
      const top = (layers[layers.length - 1] as SavedLayer).diffId.slice('sha256:'.length);
      for (const ref of image.refs) {
        const tag = ref.tag as string;
        const familiar = familiarName(ref);
        repositories[familiar] = { ...(repositories[familiar] ?? {}), [tag]: top };
        indexEntries.push({
          ...descriptor,
          annotations: {
            'io.containerd.image.name': `${fullName(ref)}:${tag}`,
            'org.opencontainers.image.ref.name': tag,
          },
          platform,
        });
      }
      if (image.refs.length === 0) indexEntries.push({ ...descriptor, platform });
      const item: Record<string, unknown> = {
        Config: `blobs/sha256/${idHex}`,
        RepoTags: image.refs.length > 0 ? image.refs.map((r) => familiarString(withDefaultTag(r))) : null,
        Layers: layers.map((l) => `blobs/sha256/${l.diffId.slice('sha256:'.length)}`),
      };
      // Docker writes a Parent only when the parent is in the same archive.
      const row = await db.selectFrom('images').select('parent').where('id', '=', image.id).executeTakeFirst();
      if (row?.parent && savedIds.has(row.parent)) item.Parent = row.parent;
      manifest.push(item);
    }
    await addFile(
      pack,
      'index.json',
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: indexEntries,
        }),
      ),
      epoch,
    );
    await addFile(pack, 'manifest.json', Buffer.from(`${JSON.stringify(manifest)}\n`), epoch);
    await addFile(pack, 'oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })), epoch);
    if (Object.keys(repositories).length > 0) {
      // Go's encoding/json sorts map keys.
      const sorted = Object.fromEntries(
        Object.keys(repositories)
          .sort()
          .map((k) => [
            k,
            Object.fromEntries(Object.entries(repositories[k] ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))),
          ]),
      );
      await addFile(pack, 'repositories', Buffer.from(`${JSON.stringify(sorted)}\n`), epoch);
    }
    pack.finalize();
    await writing;
  } catch (err) {
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
    out.destroy(err instanceof Error ? err : new Error(String(err)));
    await writing.catch(() => {});
    throw err;
  }
}
