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
import { setTag } from './record.js';

/** An engine error with Docker's daemon wording (the CLI prints `Error response from daemon: …`). */
export class DaemonError extends Error {
  override readonly name = 'DaemonError';
}

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
}

/** Every image with its tags and digests, newest first (by config `created`). */
export async function listImages(db: EngineDb): Promise<ImageSummary[]> {
  const [images, tags, digests] = await Promise.all([
    db.selectFrom('images').select(['id', 'created', 'size']).execute(),
    db.selectFrom('tags').select(['name', 'tag', 'image_id']).orderBy('name').orderBy('tag').execute(),
    db.selectFrom('repo_digests').select(['name', 'digest', 'image_id']).orderBy('seq').execute(),
  ]);
  const summaries = images.map(
    (i): ImageSummary => ({ id: i.id, created: i.created, size: Number(i.size), repoTags: [], repoDigests: [] }),
  );
  const byId = new Map(summaries.map((s) => [s.id, s]));
  for (const t of tags) byId.get(t.image_id)?.repoTags.push({ name: t.name, tag: t.tag });
  for (const d of digests) byId.get(d.image_id)?.repoDigests.push({ name: d.name, digest: d.digest });
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
