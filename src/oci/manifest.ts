import { z } from 'zod';
import { parseDigest } from './digest.js';
import { MediaType } from './mediatypes.js';

/** Why a manifest was refused; the registry maps it to MANIFEST_INVALID. */
export class ManifestFormatError extends Error {
  override readonly name = 'ManifestFormatError';
}

const digestString = z.string().refine((v) => parseDigest(v) !== undefined, 'not a valid sha256/sha512 digest');

const platform = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  features: z.array(z.string()).optional(),
});

export const descriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: digestString,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platform.optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

const imageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** What the registry needs to know of a manifest; the bytes themselves are kept as received. */
export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** Blobs the manifest needs in the same repository (config first, then layers). */
  blobs: Descriptor[];
  /** Child manifests of an index. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** The artifact type used by the referrers API: `artifactType`, else the config media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

const IMAGE_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);
const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);
const SCHEMA1_TYPES = new Set<string>([MediaType.dockerSchema1, MediaType.dockerSchema1Signed, 'application/json']);

/**
 * Parses manifest bytes received with `contentType` (the request's Content-Type, may be empty).
 * The media type comes from the body's `mediaType` field, else the Content-Type, else the shape.
 */
export function parseManifest(bytes: Uint8Array, contentType: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new ManifestFormatError('manifest is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ManifestFormatError('manifest is not a JSON object');
  }
  const record = json as Record<string, unknown>;
  if (record.schemaVersion === 1 || (SCHEMA1_TYPES.has(contentType) && record.schemaVersion !== 2)) {
    throw new ManifestFormatError(
      'schema1 manifests are not supported: push with a client that writes schema2 or OCI manifests',
    );
  }
  if (record.schemaVersion !== 2) throw new ManifestFormatError('schemaVersion must be 2');

  const declared = typeof record.mediaType === 'string' ? record.mediaType : undefined;
  const type = contentType.split(';')[0]?.trim() ?? '';
  const headerType = IMAGE_TYPES.has(type) || INDEX_TYPES.has(type) ? type : undefined;
  if (declared && headerType && declared !== headerType) {
    throw new ManifestFormatError(`mediaType in manifest (${declared}) does not match Content-Type (${headerType})`);
  }
  const mediaType = declared ?? headerType ?? ('manifests' in record ? MediaType.ociIndex : MediaType.ociManifest);

  if (IMAGE_TYPES.has(mediaType)) {
    const result = imageManifestSchema.safeParse(record);
    if (!result.success) throw new ManifestFormatError(`invalid image manifest: ${z.prettifyError(result.error)}`);
    const m = result.data;
    return {
      mediaType,
      kind: 'image',
      blobs: [m.config, ...m.layers],
      manifests: [],
      ...(m.subject ? { subject: m.subject } : {}),
      artifactType: m.artifactType ?? m.config.mediaType,
      ...(m.annotations ? { annotations: m.annotations } : {}),
    };
  }
  if (INDEX_TYPES.has(mediaType)) {
    const result = indexSchema.safeParse(record);
    if (!result.success) throw new ManifestFormatError(`invalid image index: ${z.prettifyError(result.error)}`);
    const m = result.data;
    return {
      mediaType,
      kind: 'index',
      blobs: [],
      manifests: m.manifests,
      ...(m.subject ? { subject: m.subject } : {}),
      ...(m.artifactType ? { artifactType: m.artifactType } : {}),
      ...(m.annotations ? { annotations: m.annotations } : {}),
    };
  }
  throw new ManifestFormatError(`unsupported manifest media type ${mediaType}`);
}
