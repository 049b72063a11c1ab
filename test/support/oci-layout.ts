// Reading and writing OCI image layouts (image-spec "image-layout") for
// interop tests: what skopeo and umoci read and write with `oci:DIR:tag`.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { deterministicTar } from './rootfs.js';
import { removeTmpDir, tmpDir } from './tools.js';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REF_NAME = 'org.opencontainers.image.ref.name';

const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
});

const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  platform: platformSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;
export type Platform = z.infer<typeof platformSchema>;

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
});
export type ImageIndex = z.infer<typeof indexSchema>;

const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
});
export type ImageManifest = z.infer<typeof manifestSchema>;

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function parseIndex(bytes: Buffer | string): ImageIndex {
  return indexSchema.parse(JSON.parse(bytes.toString()));
}

export function parseManifest(bytes: Buffer | string): ImageManifest {
  return manifestSchema.parse(JSON.parse(bytes.toString()));
}

function blobPath(layoutDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (algorithm === undefined || hex === undefined) throw new Error(`bad digest ${digest}`);
  return join(layoutDir, 'blobs', algorithm, hex);
}

/** The bytes of a blob in the layout, checked against its digest. */
export async function readBlob(layoutDir: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(blobPath(layoutDir, digest));
  if (sha256(bytes) !== digest) throw new Error(`blob ${digest} in ${layoutDir} does not match its digest`);
  return bytes;
}

/** Store `bytes` as a blob of the layout and return its descriptor. */
export async function writeBlob(layoutDir: string, mediaType: string, bytes: Buffer): Promise<Descriptor> {
  const digest = sha256(bytes);
  const file = blobPath(layoutDir, digest);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, bytes);
  return { mediaType, digest, size: bytes.length };
}

export async function readLayoutIndex(layoutDir: string): Promise<ImageIndex> {
  return parseIndex(await readFile(join(layoutDir, 'index.json')));
}

/** The index.json entry tagged `tag` (org.opencontainers.image.ref.name). */
export async function layoutEntry(layoutDir: string, tag: string): Promise<Descriptor> {
  const index = await readLayoutIndex(layoutDir);
  const found = index.manifests.filter((m) => m.annotations?.[REF_NAME] === tag);
  if (found.length !== 1 || found[0] === undefined) {
    throw new Error(`${layoutDir}/index.json has ${found.length} entries for tag ${tag}: ${JSON.stringify(index)}`);
  }
  return found[0];
}

export interface LayoutImage {
  /** The index.json entry. */
  descriptor: Descriptor;
  /** Exact manifest bytes. */
  bytes: Buffer;
  manifest: ImageManifest;
}

/** The single-platform image tagged `tag` in the layout. */
export async function readLayoutImage(layoutDir: string, tag: string): Promise<LayoutImage> {
  const descriptor = await layoutEntry(layoutDir, tag);
  if (descriptor.mediaType !== OCI_MANIFEST) {
    throw new Error(`${tag} in ${layoutDir} is a ${descriptor.mediaType}, not an image manifest`);
  }
  const bytes = await readBlob(layoutDir, descriptor.digest);
  return { descriptor, bytes, manifest: parseManifest(bytes) };
}

/** Canonical JSON bytes as a client would push them. */
function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * A gzip'd layer tar holding `files` (path → content), made by GNU tar with
 * fixed owner and mtime, so the same files always give the same digests.
 */
export async function makeLayer(files: Record<string, string>): Promise<{ gzip: Buffer; diffId: string }> {
  const stage = await tmpDir('wharf-layer-src');
  try {
    const root = join(stage, 'root');
    for (const [name, content] of Object.entries(files)) {
      const file = join(root, name);
      await mkdir(join(file, '..'), { recursive: true });
      await writeFile(file, content, { mode: 0o644 });
    }
    const tarFile = join(stage, 'layer.tar');
    await deterministicTar(root, tarFile, ['--mode=go-w']);
    const tar = await readFile(tarFile);
    return { gzip: gzipSync(tar), diffId: sha256(tar) };
  } finally {
    await removeTmpDir(stage);
  }
}

export interface MultiPlatformLayout {
  /** Descriptor of the image index (the index.json entry for the tag). */
  index: Descriptor;
  /** Per platform (`os/arch`), the descriptor of its image manifest, as listed in the index. */
  manifests: Map<string, Descriptor>;
  /** Per platform (`os/arch`), its manifest. */
  images: Map<string, ImageManifest>;
}

/**
 * Write an OCI layout at `layoutDir` whose `tag` is an image index with one
 * image per platform; each has its own config (with os/architecture) and one
 * layer holding `/etc/platform` = "os/arch".
 */
export async function writeMultiPlatformLayout(
  layoutDir: string,
  tag: string,
  platforms: Platform[],
): Promise<MultiPlatformLayout> {
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layoutDir, 'oci-layout'), jsonBytes({ imageLayoutVersion: '1.0.0' }));
  const manifests = new Map<string, Descriptor>();
  const images = new Map<string, ImageManifest>();
  const entries: Descriptor[] = [];
  for (const platform of platforms) {
    const key = `${platform.os}/${platform.architecture}`;
    const layer = await makeLayer({ 'etc/platform': `${key}\n` });
    const layerDescriptor = await writeBlob(layoutDir, OCI_LAYER_GZIP, layer.gzip);
    const config = {
      created: '2024-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      config: { Cmd: ['/bin/sh'], Labels: { 'wharf.test.platform': key } },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: `wharf test layer for ${key}` }],
    };
    const configDescriptor = await writeBlob(layoutDir, OCI_CONFIG, jsonBytes(config));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configDescriptor,
      layers: [layerDescriptor],
    };
    const manifestDescriptor = await writeBlob(layoutDir, OCI_MANIFEST, jsonBytes(manifest));
    const entry: Descriptor = { ...manifestDescriptor, platform };
    entries.push(entry);
    manifests.set(key, entry);
    images.set(key, manifest);
  }
  const imageIndex: ImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries };
  const indexDescriptor = await writeBlob(layoutDir, OCI_INDEX, jsonBytes(imageIndex));
  const index: Descriptor = { ...indexDescriptor, annotations: { [REF_NAME]: tag } };
  await writeFile(join(layoutDir, 'index.json'), jsonBytes({ schemaVersion: 2, manifests: [index] }));
  return { index, manifests, images };
}
