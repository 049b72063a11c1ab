// `docker load`: images from a docker-archive (v25+ `blobs/sha256/…` or the legacy `<v1id>/layer.tar`
// form) or a plain OCI image layout, as a tar, possibly gzip/bzip2/xz/zstd-compressed as a whole.
//
// The archive is read once, as a stream. The order of manifest.json and the blobs in the tar is not
// fixed, so every file entry is spooled into the content store as it passes (by the sha256 of its
// bytes) while a scanner reads it as a layer tar (diff ID, size, safety); at the end manifest.json
// (or index.json) says which entries are configs and layers. Entry names are only looked up in a
// map, never used as file paths. Nothing is recorded until every image of the archive checked out;
// on failure, and for entries that turn out unused, the blobs this load wrote are removed.
import { once } from 'node:events';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import tar, { type Header } from 'tar-stream';
import { z } from 'zod';
import { type Compression, decompress, detectAndDecompress } from '../archive/compression.js';
import { TarFormatError } from '../archive/errors.js';
import { classifyWhiteout, entryComponents } from '../archive/paths.js';
import { scanLayer } from '../archive/scan.js';
import { newHash, parseDigest } from '../oci/digest.js';
import { type Descriptor, descriptorSchema } from '../oci/manifest.js';
import { isIndexMediaType } from '../oci/mediatypes.js';
import {
  familiarString,
  fullName,
  type ImageReference,
  InvalidReferenceError,
  parseReference,
} from '../oci/reference.js';
import { paths } from '../storage/paths.js';
import { LOCAL_LAYER_MEDIA_TYPE } from './new-image.js';
import { hostPlatform, selectManifest } from './platform.js';
import { type ImageLayer, recordImage, recordLayer, setTag } from './record.js';
import type { LocalStore } from './store.js';

/** A load refused: the archive is malformed, incomplete or hostile (printed as is, like docker's). */
export class LoadError extends Error {
  override readonly name = 'LoadError';
}

/** Metadata files (manifest.json, configs, OCI manifests) are read whole: this bounds them. */
const MAX_METADATA_BYTES = 8 * 1024 * 1024;
/** Symlink/hardlink aliases followed when looking a name up (legacy archives link shared layers). */
const MAX_ALIAS_HOPS = 16;

/** What scanning an entry as a layer tar found. */
interface LayerScan {
  compression: Compression;
  diffId: string;
  /** Docker's DiffSize: the sum of the entries' sizes. */
  diffSize: number;
  tarSize: number;
  /** Why the layer is refused for safety (`..`, a write through a symlink, a bad whiteout). */
  unsafe?: string;
}

/** A file entry of the archive, spooled into the content store. */
interface Spooled {
  digest: string;
  size: number;
  /** The scan's result, or why the entry is not a readable layer tar. */
  layer: LayerScan | { error: string };
}

type ArchiveEntry = { kind: 'file'; blob: Spooled } | { kind: 'alias'; target: string };

/** The names of an archive, normalised (`./a//b` is `a/b`). Throws for names that escape. */
function archiveName(name: string): string {
  if (name.includes('\0'))
    throw new LoadError(`invalid archive: entry name ${JSON.stringify(name)} contains a NUL byte`);
  if (name.startsWith('/')) throw new LoadError(`invalid archive: entry ${JSON.stringify(name)} has an absolute path`);
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new LoadError(`invalid archive: entry ${JSON.stringify(name)} escapes the archive`);
  return parts.join('/');
}

/** A link target inside the archive (relative to `base`), or a LoadError if it leaves it. */
function linkTarget(entry: string, base: string, target: string): string {
  if (target.startsWith('/')) {
    throw new LoadError(
      `invalid archive: link ${JSON.stringify(entry)} points to an absolute path ${JSON.stringify(target)}`,
    );
  }
  const parts = base === '' ? [] : base.split('/');
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) {
        throw new LoadError(`invalid archive: link ${JSON.stringify(entry)} points outside the archive (${target})`);
      }
      parts.pop();
    } else parts.push(c);
  }
  return parts.join('/');
}

function parentOf(name: string): string {
  const i = name.lastIndexOf('/');
  return i === -1 ? '' : name.slice(0, i);
}

/**
 * Reads a stream as a (possibly compressed) layer tar without extracting it: the diff ID, the
 * content size, and the first safety problem. Never fails: a stream that is no tar gives `error`,
 * and its input is then drained so the spooling beside it goes on.
 */
function layerScanner(): { input: PassThrough; failed: () => boolean; result: Promise<LayerScan | { error: string }> } {
  const input = new PassThrough();
  let failed = false;
  let finish: (r: LayerScan | { error: string }) => void = () => {};
  const result = new Promise<LayerScan | { error: string }>((resolve) => {
    finish = resolve;
  });
  const fail = (message: string, out?: Readable) => {
    if (failed) return;
    failed = true;
    out?.destroy();
    input.unpipe();
    input.resume();
    finish({ error: message });
  };
  detectAndDecompress(input).then(
    ({ format, stream }) => {
      let unsafe: string | undefined;
      // Symlinks this layer creates: an entry written below one would land wherever it points.
      const links = new Set<string>();
      const check = (header: Header) => {
        if (unsafe !== undefined) return;
        try {
          const parts = entryComponents(header.name, header.name);
          const path = parts.join('/');
          for (let i = 1; i < parts.length; i++) {
            const prefix = parts.slice(0, i).join('/');
            if (links.has(prefix)) {
              throw new Error(
                `entry ${JSON.stringify(header.name)} is written through the symbolic link ${JSON.stringify(prefix)} of the same layer`,
              );
            }
          }
          if (header.type === 'link') entryComponents(header.name, header.linkname ?? '', 'hardlink target');
          if (header.type === 'symlink') links.add(path);
          classifyWhiteout(header.name, parts);
        } catch (err) {
          unsafe = err instanceof Error ? err.message : String(err);
        }
      };
      scanLayer(stream, check).then(
        (diff) => {
          if (failed) return;
          finish({ compression: format, ...diff, ...(unsafe !== undefined ? { unsafe } : {}) });
        },
        (err: Error) =>
          fail(
            err instanceof TarFormatError
              ? `not a valid layer tar: ${err.cause instanceof Error ? err.cause.message : err.message}`
              : err.message,
            stream,
          ),
      );
    },
    (err: unknown) => fail(err instanceof Error ? err.message : String(err)),
  );
  return { input, failed: () => failed, result };
}

/** Writes `chunk` to `stream`, waiting for it to drain when its buffer is full. */
async function write(stream: Writable, chunk: Buffer): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

/** Blobs this load added to the content store (not there before), to remove when unused. */
class Spool {
  readonly created = new Set<string>();

  constructor(private readonly store: LocalStore) {}

  /** Stores one entry's data by its sha256 while scanning it as a layer. */
  async add(body: AsyncIterable<unknown>): Promise<Spooled> {
    const { content } = this.store;
    const pending = await content.create(undefined);
    const scanner = layerScanner();
    const hash = newHash('sha256');
    let size = 0;
    try {
      for await (const raw of body) {
        const chunk = raw as Buffer;
        hash.update(chunk);
        size += chunk.length;
        await write(pending.stream, chunk);
        if (!scanner.failed()) await write(scanner.input, chunk);
      }
      pending.stream.end();
      scanner.input.end();
    } catch (err) {
      scanner.input.destroy();
      await pending.cancel();
      throw err;
    }
    const layer = await scanner.result;
    const digest = `sha256:${hash.digest('hex')}`;
    if (await content.has(digest)) {
      await pending.cancel();
    } else {
      await pending.commit();
      this.created.add(digest);
    }
    return { digest, size, layer };
  }

  /** Removes the blobs this load wrote that no image or layer of the store refers to. */
  async removeUnused(): Promise<void> {
    const { db, content } = this.store;
    if (this.created.size === 0) return;
    await this.store.locked(async () => {
      for (const digest of this.created) {
        const image = await db.selectFrom('images').select('id').where('id', '=', digest).executeTakeFirst();
        const layer = await db
          .selectFrom('layers')
          .select('blob_digest')
          .where('blob_digest', '=', digest)
          .executeTakeFirst();
        if (image || layer) continue;
        const parsed = parseDigest(digest);
        if (parsed) await content.driver.delete(paths.blobDir(parsed)).catch(() => {});
      }
    });
    this.created.clear();
  }
}

/** The archive's entries by name. */
class ArchiveIndex {
  readonly entries = new Map<string, ArchiveEntry>();
  /** Small metadata files kept in memory as they pass. */
  readonly files = new Map<string, Buffer>();

  lookup(name: string): Spooled | undefined {
    let current = name;
    for (let hop = 0; hop <= MAX_ALIAS_HOPS; hop++) {
      let key: string;
      try {
        key = archiveName(current);
      } catch {
        return undefined;
      }
      const e = this.entries.get(key);
      if (!e) return undefined;
      if (e.kind === 'file') return e.blob;
      current = e.target;
    }
    throw new LoadError(`invalid archive: too many links resolving ${JSON.stringify(name)}`);
  }
}

/** Top-level names read into memory instead of the content store. */
const METADATA_NAMES = new Set(['manifest.json', 'index.json', 'repositories', 'oci-layout']);

async function readBody(body: AsyncIterable<unknown>, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const raw of body) {
    const chunk = raw as Buffer;
    size += chunk.length;
    if (size > MAX_METADATA_BYTES)
      throw new LoadError(`invalid archive: ${name} is larger than ${MAX_METADATA_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Reads the archive tar, spooling file entries; the index says where each name went. */
async function readArchive(input: Readable, spool: Spool): Promise<ArchiveIndex> {
  const index = new ArchiveIndex();
  const { stream } = await detectAndDecompress(input);
  const extractor = tar.extract();
  let sourceError: unknown;
  const piping = new Promise<void>((resolve, reject) => {
    // A failing source (a truncated gzip) must also end the entry loop below, which waits on the extractor.
    stream.on('error', (err) => {
      sourceError = err;
      extractor.destroy(err);
      reject(err);
    });
    extractor.on('error', reject);
    stream.pipe(extractor);
    extractor.on('finish', resolve);
  });
  piping.catch(() => {});
  try {
    for await (const entry of extractor) {
      const { header } = entry;
      const name = archiveName(header.name);
      switch (header.type) {
        case 'directory':
          entry.resume();
          break;
        case 'symlink':
          index.entries.set(name, {
            kind: 'alias',
            target: linkTarget(header.name, parentOf(name), header.linkname ?? ''),
          });
          entry.resume();
          break;
        case 'link':
          index.entries.set(name, { kind: 'alias', target: linkTarget(header.name, '', header.linkname ?? '') });
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file':
          if (METADATA_NAMES.has(name)) index.files.set(name, await readBody(entry, name));
          else if (/(^|\/)(json|VERSION)$/.test(name) && name.includes('/') && !name.startsWith('blobs/')) {
            // Legacy per-layer v1 configs: not needed to load.
            entry.resume();
          } else index.entries.set(name, { kind: 'file', blob: await spool.add(entry) });
          break;
        default:
          throw new LoadError(
            `invalid archive: entry ${JSON.stringify(header.name)} has unsupported type ${header.type}`,
          );
      }
    }
    await piping;
  } catch (err) {
    extractor.destroy();
    stream.destroy();
    if (err instanceof LoadError) throw err;
    // Entries only say "destroyed" when the source failed: the source has the reason.
    const cause = sourceError ?? err;
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new LoadError(/end of data|unexpected end/i.test(message) ? 'unexpected EOF' : `invalid archive: ${message}`);
  }
  return index;
}

const manifestItemSchema = z.object({
  Config: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Layers: z.array(z.string()),
  Parent: z.string().optional(),
});

const indexJsonSchema = z.object({ schemaVersion: z.number().optional(), manifests: z.array(descriptorSchema) });
const ociManifestSchema = z.object({ config: descriptorSchema, layers: z.array(descriptorSchema) });

interface ImageConfig {
  created?: unknown;
  os?: unknown;
  architecture?: unknown;
  rootfs?: { diff_ids?: unknown };
}

/** One image to record, checked. */
interface PlannedImage {
  id: string;
  config: ImageConfig;
  diffIds: string[];
  layers: { blob: Spooled; mediaType: string }[];
  /** References to point at it (RepoTags or OCI names). */
  refs: ImageReference[];
  parent?: string;
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new LoadError(`invalid archive: ${what} is not valid JSON: ${(err as Error).message}`);
  }
}

async function readSpooled(store: LocalStore, blob: Spooled, what: string): Promise<Buffer> {
  if (blob.size > MAX_METADATA_BYTES)
    throw new LoadError(`invalid archive: ${what} is larger than ${MAX_METADATA_BYTES} bytes`);
  return store.content.get(blob.digest);
}

function diffIdsOf(config: ImageConfig, id: string): string[] {
  const ids = config.rootfs?.diff_ids;
  if (!Array.isArray(ids) || !ids.every((d): d is string => typeof d === 'string' && parseDigest(d) !== undefined)) {
    throw new LoadError(`invalid image config ${id}: rootfs.diff_ids is missing or malformed`);
  }
  return ids;
}

/** Checks the layer found for `diffIds[i]` as docker does, and that it is safe. */
function checkLayer(blob: Spooled, expected: string, i: number, where: string): void {
  if ('error' in blob.layer) throw new LoadError(`invalid layer ${where}: ${blob.layer.error}`);
  if (blob.layer.diffId !== expected) {
    throw new LoadError(`invalid diffID for layer ${i}: expected "${expected}", got "${blob.layer.diffId}"`);
  }
  if (blob.layer.unsafe !== undefined) throw new LoadError(`unsafe layer ${where}: ${blob.layer.unsafe}`);
}

function layerMediaType(scan: LayerScan): string {
  if (scan.compression === 'gzip') return 'application/vnd.oci.image.layer.v1.tar+gzip';
  if (scan.compression === 'zstd') return 'application/vnd.oci.image.layer.v1.tar+zstd';
  return LOCAL_LAYER_MEDIA_TYPE;
}

function scanOf(blob: Spooled): LayerScan {
  if ('error' in blob.layer) throw new LoadError(blob.layer.error);
  return blob.layer;
}

function parseTag(repoTag: string): ImageReference {
  let ref: ImageReference;
  try {
    ref = parseReference(repoTag);
  } catch (err) {
    throw new LoadError(err instanceof InvalidReferenceError ? `invalid reference format: ${repoTag}` : String(err));
  }
  if (ref.tag === undefined || ref.digest !== undefined) throw new LoadError(`invalid tag "${repoTag}"`);
  return ref;
}

/** Images described by a docker-archive manifest.json. */
async function planDockerArchive(
  store: LocalStore,
  index: ArchiveIndex,
  manifestJson: Buffer,
): Promise<PlannedImage[]> {
  const parsed = z.array(manifestItemSchema).safeParse(parseJson(manifestJson, 'manifest.json'));
  if (!parsed.success) throw new LoadError('invalid archive: manifest.json is not a docker-archive manifest');
  const planned: PlannedImage[] = [];
  for (const item of parsed.data) {
    const configBlob = index.lookup(item.Config);
    if (!configBlob)
      throw new LoadError(`invalid archive: config ${JSON.stringify(item.Config)} is not in the archive`);
    const config = parseJson(await readSpooled(store, configBlob, item.Config), item.Config) as ImageConfig;
    const id = configBlob.digest;
    const diffIds = diffIdsOf(config, id);
    if (item.Layers.length !== diffIds.length) {
      throw new LoadError(
        `invalid manifest, layers length mismatch: expected ${item.Layers.length}, got ${diffIds.length}`,
      );
    }
    const layers = item.Layers.map((path, i) => {
      const blob = index.lookup(path);
      if (!blob) throw new LoadError(`invalid archive: layer ${JSON.stringify(path)} is not in the archive`);
      checkLayer(blob, diffIds[i] as string, i, path);
      return { blob, mediaType: layerMediaType(scanOf(blob)) };
    });
    planned.push({
      id,
      config,
      diffIds,
      layers,
      refs: (item.RepoTags ?? []).map(parseTag),
      ...(item.Parent ? { parent: item.Parent } : {}),
    });
  }
  return planned;
}

/** The name an OCI layout gives a manifest: containerd's annotation, else a full `name:tag` ref.name. */
function ociName(desc: Descriptor): ImageReference | undefined {
  const a = desc.annotations ?? {};
  const candidates = [a['io.containerd.image.name'], a['org.opencontainers.image.ref.name']];
  for (const c of candidates) {
    // A bare ref.name ("latest") is only a tag: without a name the image stays untagged.
    if (c === undefined || !/[:/]/.test(c)) continue;
    try {
      const ref = parseReference(c);
      if (ref.tag !== undefined && ref.digest === undefined) return ref;
    } catch {
      // not a reference: ignore the annotation
    }
  }
  return undefined;
}

function ociBlob(index: ArchiveIndex, desc: Descriptor): Spooled {
  const d = parseDigest(desc.digest);
  const blob = d ? index.lookup(`blobs/${d.algorithm}/${d.hex}`) : undefined;
  if (!blob) throw new LoadError(`invalid archive: blob ${desc.digest} is not in the archive`);
  if (blob.digest !== desc.digest) {
    throw new LoadError(`invalid archive: blob ${desc.digest} has digest ${blob.digest}`);
  }
  return blob;
}

/** Images of a plain OCI layout (index.json), for the host platform where an index lists several. */
async function planOciLayout(store: LocalStore, index: ArchiveIndex, indexJson: Buffer): Promise<PlannedImage[]> {
  const parsed = indexJsonSchema.safeParse(parseJson(indexJson, 'index.json'));
  if (!parsed.success) throw new LoadError('invalid archive: index.json is not an OCI image index');
  const byId = new Map<string, PlannedImage>();
  for (const top of parsed.data.manifests) {
    let desc = top;
    for (let depth = 0; isIndexMediaType(desc.mediaType); depth++) {
      if (depth > 4) throw new LoadError('invalid archive: image indexes nested too deep');
      const nested = indexJsonSchema.safeParse(
        parseJson(await readSpooled(store, ociBlob(index, desc), desc.digest), desc.digest),
      );
      if (!nested.success) throw new LoadError(`invalid archive: ${desc.digest} is not an image index`);
      desc = selectManifest(nested.data.manifests, hostPlatform());
    }
    const manifest = ociManifestSchema.safeParse(
      parseJson(await readSpooled(store, ociBlob(index, desc), desc.digest), desc.digest),
    );
    if (!manifest.success) throw new LoadError(`invalid archive: ${desc.digest} is not an image manifest`);
    const configBlob = ociBlob(index, manifest.data.config);
    const id = configBlob.digest;
    const config = parseJson(await readSpooled(store, configBlob, id), id) as ImageConfig;
    const diffIds = diffIdsOf(config, id);
    if (manifest.data.layers.length !== diffIds.length) {
      throw new LoadError(
        `invalid manifest, layers length mismatch: expected ${manifest.data.layers.length}, got ${diffIds.length}`,
      );
    }
    const layers = manifest.data.layers.map((l, i) => {
      const blob = ociBlob(index, l);
      checkLayer(blob, diffIds[i] as string, i, l.digest);
      const scan = scanOf(blob);
      const mediaType =
        /\.tar(\+gzip|\+zstd)?$|\.tar\.gzip$/.test(l.mediaType) &&
        (scan.compression === 'none' || scan.compression === 'gzip' || scan.compression === 'zstd')
          ? l.mediaType
          : layerMediaType(scan);
      return { blob, mediaType };
    });
    const name = ociName(top);
    const known = byId.get(id);
    if (known) {
      if (name) known.refs.push(name);
    } else byId.set(id, { id, config, diffIds, layers, refs: name ? [name] : [] });
  }
  return [...byId.values()];
}

/**
 * Layers compressed with bzip2 or xz have no OCI media type: store them uncompressed instead.
 * Returns the blob to record for `blob`.
 */
async function storableLayer(
  store: LocalStore,
  spool: Spool,
  layer: { blob: Spooled; mediaType: string },
): Promise<{ blob: Spooled; mediaType: string }> {
  const scan = scanOf(layer.blob);
  if (scan.compression !== 'bzip2' && scan.compression !== 'xz') return layer;
  const source = await decompress(await store.content.reader(layer.blob.digest));
  return { blob: await spool.add(source), mediaType: LOCAL_LAYER_MEDIA_TYPE };
}

export interface LoadResult {
  /** Docker's output lines, in order (`Loaded image: …`, `Loaded image ID: …`, renames). */
  lines: string[];
  imageIds: string[];
}

/** `docker load`: reads the archive from `input` and records its images and tags. */
export async function loadImages(store: LocalStore, input: Readable): Promise<LoadResult> {
  const spool = new Spool(store);
  try {
    const index = await readArchive(input, spool);
    const manifestJson = index.files.get('manifest.json');
    const indexJson = index.files.get('index.json');
    let planned: PlannedImage[];
    if (manifestJson) planned = await planDockerArchive(store, index, manifestJson);
    else if (indexJson) planned = await planOciLayout(store, index, indexJson);
    else throw new LoadError('invalid archive: does not contain a manifest.json');

    for (const image of planned) {
      for (let i = 0; i < image.layers.length; i++) {
        image.layers[i] = await storableLayer(store, spool, image.layers[i] as PlannedImage['layers'][number]);
      }
    }
    const result = await record(store, planned);
    await spool.removeUnused();
    return result;
  } catch (err) {
    await spool.removeUnused().catch(() => {});
    throw err;
  }
}

/** Records every planned image at once, under the store lock, and builds docker's output. */
async function record(store: LocalStore, planned: PlannedImage[]): Promise<LoadResult> {
  const { db, content } = store;
  const ids = new Set(planned.map((p) => p.id));
  return store.locked(async () => {
    for (const image of planned) {
      for (const d of [image.id, ...image.layers.map((l) => l.blob.digest)]) {
        if (!(await content.has(d))) throw new LoadError(`blob ${d} disappeared from the local store during the load`);
      }
    }
    const lines: string[] = [];
    let idLines: string[] = [];
    let lastTagged = false;
    const now = new Date().toISOString();
    await db.transaction().execute(async (tx) => {
      for (const image of planned) {
        const layers: ImageLayer[] = [];
        let size = 0;
        for (const [i, l] of image.layers.entries()) {
          const diffId = image.diffIds[i] as string;
          const scan = scanOf(l.blob);
          await recordLayer(
            tx,
            {
              blobDigest: l.blob.digest,
              mediaType: l.mediaType,
              size: l.blob.size,
              diffId,
              diffSize: scan.diffSize,
              tarSize: scan.tarSize,
            },
            now,
          );
          layers.push({ diffId, blobDigest: l.blob.digest });
          size += scan.diffSize;
        }
        // Docker keeps a Parent only when the parent is loaded by the same archive.
        const parent =
          image.parent !== undefined && ids.has(image.parent) && image.parent !== image.id ? image.parent : undefined;
        const c = image.config;
        await recordImage(
          tx,
          {
            id: image.id,
            created: typeof c.created === 'string' ? c.created : '',
            size,
            os: typeof c.os === 'string' ? c.os : '',
            architecture: typeof c.architecture === 'string' ? c.architecture : '',
            layers,
            ...(parent !== undefined ? { parent } : {}),
          },
          now,
        );
        idLines.push(`Loaded image ID: ${image.id}`);
        for (const ref of image.refs) {
          const shown = familiarString(ref);
          const previous = await setTag(tx, fullName(ref), ref.tag as string, image.id, now);
          if (previous !== undefined) {
            lines.push(`The image ${shown} already exists, renaming the old one with ID ${previous} to empty string`);
          }
          lines.push(`Loaded image: ${shown}`);
        }
        lastTagged = image.refs.length > 0;
      }
    });
    // Docker's quirk: the ID lines appear only when the last image had no tags, then for all.
    if (!lastTagged) lines.push(...idLines);
    idLines = [];
    return { lines, imageIds: planned.map((p) => p.id) };
  });
}
