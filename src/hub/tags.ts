import type { MetadataDb } from '../metadata/db.js';
import { parseDigest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';
import { paths } from '../storage/paths.js';

// Docker Hub's tag list (hub-and-engine.md §1.5), computed from the registry's manifests: an
// index gives one images[] entry per platform, a single manifest one entry with the platform of
// its config. Sizes are compressed sizes (config + layers), as Docker Hub's. Each tag also says
// how much of it is its own and how much is shared with other images (the shared-layer truth).

export interface TagImage {
  architecture: string;
  os: string;
  variant: string | null;
  digest: string;
  size: number;
  status: 'active';
  last_pushed: string | null;
  last_pulled: string | null;
}

export interface HubTag {
  name: string;
  full_size: number;
  /** Bytes (config + layers, counted once) no other image of the registry uses. */
  own_size: number;
  /** Bytes this tag shares with images outside it (layers also used by other manifests). */
  shared_size: number;
  last_updated: string;
  last_pusher: string | null;
  digest: string;
  media_type: string;
  content_type: 'image';
  v2: true;
  tag_status: 'active';
  tag_last_pushed: string | null;
  tag_last_pulled: string | null;
  images: TagImage[];
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { architecture?: string; os?: string; variant?: string };
}

interface ManifestJson {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

const isIndex = (mediaType: string, m: ManifestJson) =>
  Array.isArray(m.manifests) || mediaType.includes('index') || mediaType.includes('manifest.list');

async function manifestJson(db: MetadataDb, repositoryId: number, digest: string) {
  const row = await db
    .selectFrom('manifests')
    .select(['media_type', 'content'])
    .where('repository_id', '=', repositoryId)
    .where('digest', '=', digest)
    .executeTakeFirst();
  if (!row) return undefined;
  return { mediaType: row.media_type, json: JSON.parse(Buffer.from(row.content).toString('utf8')) as ManifestJson };
}

/** os/architecture/variant from an image config blob (small: read whole); unknown when unreadable. */
async function configPlatform(storage: StorageDriver, digest: string) {
  const parsed = parseDigest(digest);
  try {
    if (!parsed) throw new Error('bad digest');
    const config = JSON.parse((await storage.getContent(paths.blob(parsed))).toString('utf8')) as {
      architecture?: string;
      os?: string;
      variant?: string;
    };
    return { architecture: config.architecture ?? 'unknown', os: config.os ?? 'unknown', variant: config.variant };
  } catch {
    return { architecture: 'unknown', os: 'unknown', variant: undefined };
  }
}

/** Bytes of `blobs` (digest → size) that another manifest than `own` (in this repository) references. */
async function sharedBytes(
  db: MetadataDb,
  repositoryId: number,
  own: Set<string>,
  blobs: Map<string, number>,
): Promise<number> {
  if (blobs.size === 0) return 0;
  const refs = await db
    .selectFrom('manifest_references')
    .select(['repository_id', 'manifest_digest', 'child_digest'])
    .where('child_digest', 'in', [...blobs.keys()])
    .where('kind', '=', 'blob')
    .execute();
  const shared = new Set<string>();
  for (const r of refs) {
    if (r.repository_id === repositoryId && own.has(r.manifest_digest)) continue;
    shared.add(r.child_digest);
  }
  let total = 0;
  for (const d of shared) total += blobs.get(d) ?? 0;
  return total;
}

async function describeTag(
  db: MetadataDb,
  storage: StorageDriver,
  repositoryId: number,
  t: { name: string; manifest_digest: string; updated_at: string; pushed_at: string | null; pulled_at: string | null },
): Promise<HubTag> {
  const top = await manifestJson(db, repositoryId, t.manifest_digest);
  const images: TagImage[] = [];
  const blobs = new Map<string, number>();
  const own = new Set<string>([t.manifest_digest]);
  const image = async (digest: string, m: ManifestJson, platform?: Descriptor['platform']) => {
    let size = 0;
    for (const d of [...(m.config ? [m.config] : []), ...(m.layers ?? [])]) {
      size += d.size;
      blobs.set(d.digest, d.size);
    }
    const p = platform ?? (m.config ? await configPlatform(storage, m.config.digest) : undefined);
    images.push({
      architecture: p?.architecture ?? 'unknown',
      os: p?.os ?? 'unknown',
      variant: p?.variant ?? null,
      digest,
      size,
      status: 'active',
      last_pushed: t.pushed_at ?? t.updated_at,
      last_pulled: t.pulled_at,
    });
  };
  if (top && isIndex(top.mediaType, top.json)) {
    for (const child of top.json.manifests ?? []) {
      // Attestations (unknown/unknown) are not platforms.
      if (child.platform?.os === 'unknown') continue;
      own.add(child.digest);
      const m = await manifestJson(db, repositoryId, child.digest);
      if (m) await image(child.digest, m.json, child.platform);
    }
  } else if (top) {
    await image(t.manifest_digest, top.json);
  }
  const full = [...blobs.values()].reduce((a, b) => a + b, 0);
  const shared = await sharedBytes(db, repositoryId, own, blobs);
  return {
    name: t.name,
    full_size: full,
    own_size: full - shared,
    shared_size: shared,
    last_updated: t.updated_at,
    last_pusher: null,
    digest: t.manifest_digest,
    media_type: top?.mediaType ?? '',
    content_type: 'image',
    v2: true,
    tag_status: 'active',
    tag_last_pushed: t.pushed_at ?? t.updated_at,
    tag_last_pulled: t.pulled_at,
    images,
  };
}

const tagColumns = ['name', 'manifest_digest', 'updated_at', 'pushed_at', 'pulled_at'] as const;

/** A page of tags, most recently updated first (Docker Hub's default order). */
export async function listHubTags(
  db: MetadataDb,
  storage: StorageDriver,
  repositoryId: number,
  page: { limit: number; offset: number },
): Promise<{ count: number; results: HubTag[] }> {
  const n = await db
    .selectFrom('tags')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('repository_id', '=', repositoryId)
    .executeTakeFirstOrThrow();
  const rows = await db
    .selectFrom('tags')
    .select(tagColumns)
    .where('repository_id', '=', repositoryId)
    .orderBy('updated_at', 'desc')
    .orderBy('name')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  const results: HubTag[] = [];
  for (const t of rows) results.push(await describeTag(db, storage, repositoryId, t));
  return { count: Number(n.n), results };
}

export async function getHubTag(
  db: MetadataDb,
  storage: StorageDriver,
  repositoryId: number,
  tag: string,
): Promise<HubTag | undefined> {
  const t = await db
    .selectFrom('tags')
    .select(tagColumns)
    .where('repository_id', '=', repositoryId)
    .where('name', '=', tag)
    .executeTakeFirst();
  return t ? describeTag(db, storage, repositoryId, t) : undefined;
}
