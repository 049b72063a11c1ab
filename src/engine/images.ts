import {
  familiarName,
  familiarString,
  fullName,
  type ImageReference,
  isImageIdPrefix,
  parseReference,
  withDefaultTag,
} from '../oci/reference.js';
import type { EngineDb } from './db.js';
import { DaemonError } from './errors.js';
import { checkFilterKeys, type Filters, globToRegExp, labelsMatch, parseUntil, referenceMatches } from './filters.js';
import { setTag } from './record.js';

// Re-exported: the engine's modules and the CLI have always imported it from here.
export { DaemonError };

export class NoSuchImageError extends DaemonError {
  constructor(ref: string) {
    super(`No such image: ${ref}`);
  }
}

export interface ImageSummary {
  id: string;
  created: string;
  size: number;
  /** Full normalised `name:tag`. */
  repoTags: { name: string; tag: string }[];
  /** Full normalised `name@digest`. */
  repoDigests: { name: string; digest: string }[];
  /** Docker's ParentId: the local parent image, or ''. */
  parent: string;
  /** Whether another local image has this one as its parent. */
  hasChildren: boolean;
}

/** Every image with its tags and digests, newest first (by config `created`). */
export async function listImages(db: EngineDb): Promise<ImageSummary[]> {
  const [images, tags, digests] = await Promise.all([
    db.selectFrom('images').select(['id', 'created', 'size', 'parent']).execute(),
    db.selectFrom('tags').select(['name', 'tag', 'image_id']).orderBy('name').orderBy('tag').execute(),
    db.selectFrom('repo_digests').select(['name', 'digest', 'image_id']).orderBy('seq').execute(),
  ]);
  const summaries = images.map(
    (i): ImageSummary => ({
      id: i.id,
      created: i.created,
      size: Number(i.size),
      repoTags: [],
      repoDigests: [],
      parent: i.parent ?? '',
      hasChildren: false,
    }),
  );
  const byId = new Map(summaries.map((s) => [s.id, s]));
  for (const t of tags) byId.get(t.image_id)?.repoTags.push({ name: t.name, tag: t.tag });
  for (const d of digests) byId.get(d.image_id)?.repoDigests.push({ name: d.name, digest: d.digest });
  for (const i of images) {
    const parent = i.parent === null ? undefined : byId.get(i.parent);
    if (parent) parent.hasChildren = true;
  }
  const time = (s: ImageSummary) => (s.created === '' ? 0 : Date.parse(s.created) || 0);
  return summaries.sort((a, b) => time(b) - time(a) || a.id.localeCompare(b.id));
}

/**
 * Docker's lookup of an image name: a reference in the store (tag defaults to `latest`), then a
 * full `sha256:` ID, then a unique ID prefix. Throws NoSuchImageError (familiar form, tag defaulted).
 */
export async function resolveImage(db: EngineDb, input: string): Promise<string> {
  let ref: ImageReference | undefined;
  try {
    ref = parseReference(input);
  } catch (err) {
    if (!isImageIdPrefix(input)) throw err;
  }
  if (ref) {
    const named = withDefaultTag(ref);
    const name = fullName(named);
    if (named.digest !== undefined) {
      const row = await db
        .selectFrom('repo_digests')
        .select('image_id')
        .where('name', '=', name)
        .where('digest', '=', named.digest)
        .executeTakeFirst();
      if (row) return row.image_id;
      // Docker also accepts name@<image id>.
      const byId = await db.selectFrom('images').select('id').where('id', '=', named.digest).executeTakeFirst();
      if (byId) return byId.id;
    } else if (named.tag !== undefined) {
      const row = await db
        .selectFrom('tags')
        .select('image_id')
        .where('name', '=', name)
        .where('tag', '=', named.tag)
        .executeTakeFirst();
      if (row) return row.image_id;
    }
  }
  if (isImageIdPrefix(input)) {
    const hex = input.startsWith('sha256:') ? input.slice('sha256:'.length) : input;
    const rows = await db.selectFrom('images').select('id').where('id', 'like', `sha256:${hex}%`).limit(2).execute();
    if (rows.length === 1 && rows[0]) return rows[0].id;
    if (rows.length > 1) throw new DaemonError(`multiple IDs found with provided prefix: ${hex}`);
  }
  throw new NoSuchImageError(ref ? familiarString(withDefaultTag(ref)) : input);
}

/** `docker tag`: points TARGET (tag defaulted to latest) at SOURCE's image, moving it if it exists. */
export async function tagImage(db: EngineDb, source: string, target: string): Promise<void> {
  let ref: ImageReference;
  try {
    ref = parseReference(target);
  } catch (err) {
    throw new Error(`error parsing reference: "${target}" is not a valid repository/tag: ${(err as Error).message}`);
  }
  if (ref.digest !== undefined) throw new Error('refusing to create a tag with a digest reference');
  if (familiarName(ref) === 'sha256')
    throw new Error('refusing to create an ambiguous tag using digest algorithm as name');
  const named = withDefaultTag(ref);
  const imageId = await resolveImage(db, source);
  await db.transaction().execute((tx) => setTag(tx, fullName(named), named.tag ?? 'latest', imageId));
}

/** Milliseconds since the epoch of an image's `created` (0 when it has none). */
export function createdTime(image: { created: string }): number {
  return image.created === '' ? 0 : Date.parse(image.created) || 0;
}

export interface ListOptions {
  /** `-a`: also untagged images that have children (intermediate images). */
  all?: boolean;
  /** dangling, label, before, since, until, reference (the positional argument is one more reference). */
  filters?: Filters;
  /** Image config labels, read only when a label filter asks. */
  labelsOf?: (imageId: string) => Promise<Record<string, string>>;
}

const IMAGE_FILTERS = ['dangling', 'label', 'before', 'since', 'until', 'reference'];

/**
 * `docker images` as the daemon answers it (moby daemon/images/images.go): which images appear,
 * filtered, with only the references that match a reference filter. Newest first.
 */
export async function queryImages(db: EngineDb, options: ListOptions = {}): Promise<ImageSummary[]> {
  const filters = options.filters ?? new Map<string, string[]>();
  checkFilterKeys(filters, IMAGE_FILTERS);
  let danglingOnly = false;
  const dangling = filters.get('dangling');
  if (dangling !== undefined) {
    if (dangling.includes('true')) danglingOnly = true;
    else if (!dangling.every((v) => v === 'false')) {
      throw new DaemonError(`invalid filter 'dangling=${dangling.find((v) => v !== 'false')}'`);
    }
  }
  const timeOf = async (values: string[] | undefined) => {
    if (values === undefined || values.length === 0) return undefined;
    let t: number | undefined;
    for (const v of values) {
      const id = await resolveImage(db, v);
      const row = await db.selectFrom('images').select('created').where('id', '=', id).executeTakeFirstOrThrow();
      t = createdTime(row);
    }
    return t;
  };
  const before = await timeOf(filters.get('before'));
  const since = await timeOf(filters.get('since'));
  const untilValues = filters.get('until') ?? [];
  const until = untilValues.length > 0 ? parseUntil(untilValues[untilValues.length - 1] as string) : undefined;
  const patterns = (filters.get('reference') ?? []).map(globToRegExp);
  const labelFilter = filters.has('label');

  const out: ImageSummary[] = [];
  for (const image of await listImages(db)) {
    if (danglingOnly && image.hasChildren) continue;
    const t = createdTime(image);
    if (before !== undefined && !(t < before)) continue;
    if (since !== undefined && !(t > since)) continue;
    if (until !== undefined && !(t < until)) continue;
    if (labelFilter && !labelsMatch(filters, (await options.labelsOf?.(image.id)) ?? {})) continue;
    let { repoTags, repoDigests } = image;
    if (patterns.length > 0) {
      repoTags = repoTags.filter((r) => patterns.some((p) => referenceMatches(p, r.name, `:${r.tag}`)));
      repoDigests = repoDigests.filter((r) => patterns.some((p) => referenceMatches(p, r.name, `@${r.digest}`)));
    }
    if (repoTags.length === 0 && repoDigests.length === 0) {
      if (!(options.all || !image.hasChildren)) continue;
      if (dangling !== undefined && !danglingOnly) continue;
      if (patterns.length > 0) continue;
    } else if (danglingOnly && repoTags.length > 0) continue;
    out.push({ ...image, repoTags, repoDigests });
  }
  return out;
}
