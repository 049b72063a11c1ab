// A tag's image as the repository page shows it: platforms of an index, layers of a manifest,
// and the build history from the image config (read from blob storage).
import type { MetadataDb } from '../../metadata/db.js';
import { getManifestByDigest, getManifestByTag } from '../../metadata/manifests.js';
import { parseDigest } from '../../oci/digest.js';
import { isIndexMediaType } from '../../oci/mediatypes.js';
import type { StorageDriver } from '../../storage/driver.js';
import { paths } from '../../storage/paths.js';

export interface PlatformEntry {
  platform: string;
  digest: string;
  size: number;
}

export interface LayerEntry {
  digest: string;
  size: number;
  /** The history step that made this layer, when the config says. */
  createdBy: string;
}

export interface HistoryEntry {
  created: string;
  createdBy: string;
  empty: boolean;
}

export type TagImage =
  | { kind: 'index'; digest: string; mediaType: string; platforms: PlatformEntry[] }
  | {
      kind: 'image';
      digest: string;
      mediaType: string;
      platform: string;
      layers: LayerEntry[];
      history: HistoryEntry[];
      /** Compressed size: config + layers. */
      size: number;
      /** What the config says the container runs with. */
      config: ImageRunConfig;
      /** The manifest as pushed (shown on demand). */
      manifestJson: string;
    };

export interface ImageRunConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
  exposedPorts: string[];
  labels: [string, string][];
}

const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function runConfig(config: Record<string, unknown>): ImageRunConfig {
  const c = (config.config && typeof config.config === 'object' ? config.config : {}) as Record<string, unknown>;
  const labels = c.Labels && typeof c.Labels === 'object' ? Object.entries(c.Labels as Record<string, unknown>) : [];
  return {
    env: strings(c.Env),
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    workingDir: str(c.WorkingDir),
    user: str(c.User),
    exposedPorts: c.ExposedPorts && typeof c.ExposedPorts === 'object' ? Object.keys(c.ExposedPorts) : [],
    labels: labels.map(([k, v]) => [k, str(v)]),
  };
}

interface Descriptor {
  digest?: unknown;
  size?: unknown;
  platform?: { os?: unknown; architecture?: unknown; variant?: unknown };
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

function platformName(p: Descriptor['platform'] | Record<string, unknown> | undefined): string {
  if (!p) return 'unknown';
  const parts = [str(p.os), str(p.architecture), str(p.variant)].filter(Boolean);
  return parts.length > 0 ? parts.join('/') : 'unknown';
}

async function readConfig(storage: StorageDriver, digest: string): Promise<Record<string, unknown>> {
  const d = parseDigest(digest);
  if (!d) return {};
  try {
    const parsed: unknown = JSON.parse((await storage.getContent(paths.blob(d))).toString('utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The image behind `repository:reference` (a tag, or a digest within the repository). */
export async function tagImage(
  db: MetadataDb,
  storage: StorageDriver,
  repository: string,
  reference: string,
): Promise<TagImage | undefined> {
  const record = reference.includes(':')
    ? await getManifestByDigest(db, repository, reference)
    : await getManifestByTag(db, repository, reference);
  if (!record) return undefined;
  const manifest = JSON.parse(Buffer.from(record.content).toString('utf8')) as {
    manifests?: Descriptor[];
    layers?: Descriptor[];
    config?: Descriptor;
  };
  if (isIndexMediaType(record.mediaType) || Array.isArray(manifest.manifests)) {
    const platforms = (manifest.manifests ?? []).map((m) => ({
      platform: platformName(m.platform),
      digest: str(m.digest),
      size: num(m.size),
    }));
    return { kind: 'index', digest: record.digest, mediaType: record.mediaType, platforms };
  }
  const config = await readConfig(storage, str(manifest.config?.digest));
  const rawHistory = Array.isArray(config.history) ? (config.history as Record<string, unknown>[]) : [];
  const history = rawHistory.map((h) => ({
    created: str(h.created),
    createdBy: str(h.created_by),
    empty: h.empty_layer === true,
  }));
  const steps = history.filter((h) => !h.empty);
  const layers = (manifest.layers ?? []).map((l, i) => ({
    digest: str(l.digest),
    size: num(l.size),
    createdBy: steps[i]?.createdBy ?? '',
  }));
  return {
    kind: 'image',
    digest: record.digest,
    mediaType: record.mediaType,
    platform: platformName(config as Record<string, unknown>),
    layers,
    history,
    size: num(manifest.config?.size) + layers.reduce((n, l) => n + l.size, 0),
    config: runConfig(config),
    manifestJson: JSON.stringify(manifest, null, 2),
  };
}
