// `docker rmi`: Docker's rules for untagging and deleting an image (moby daemon/images/image_delete.go).
// The decisions and the row deletions run in one transaction under the store lock; the blobs
// that no remaining image uses are removed afterwards, still under the lock.

import { parseDigest } from '../oci/digest.js';
import { familiarOfFullName, isImageIdPrefix, parseReference, withDefaultTag } from '../oci/reference.js';
import { paths } from '../storage/paths.js';
import { removeSnapshots } from './containers/snapshots.js';
import type { EngineDb, EngineTx } from './db.js';
import { DaemonError, resolveImage } from './images.js';
import { chainIds } from './layers.js';
import type { LocalStore } from './store.js';
import { shortId } from './units.js';

/** One line of rmi's answer: `Untagged: …` or `Deleted: …` (Docker's ImageDeleteResponseItem). */
export type DeleteRecord = { untagged: string } | { deleted: string };

/** A container using an image (containers come later: see containersUsing). */
export interface ContainerUse {
  id: string;
  running: boolean;
}

/** Container states in which Docker counts a container as running (State.Running). */
const RUNNING = new Set(['running', 'paused', 'restarting']);

/**
 * The containers (running or stopped) made from `imageId`: the hook every conflict check asks,
 * so that the rules of §4.2 cover containers as soon as the runtime records them.
 */
export async function containersUsing(db: EngineDb, imageId: string): Promise<ContainerUse[]> {
  const rows = await db
    .selectFrom('containers')
    .select(['id', 'status'])
    .where('image_id', '=', imageId)
    .orderBy('created')
    .execute();
  return rows.map((r) => ({ id: r.id, running: RUNNING.has(r.status) }));
}

export interface DeleteOptions {
  /** `-f`: untag an image referenced in several repositories, ignore stopped containers. */
  force?: boolean;
  /** Also delete untagged parents left without children (Docker's default; `--no-prune` turns it off). */
  prune?: boolean;
}

/** A reference to an image as stored: a tag or a digest in a repository (full name). */
interface Ref {
  name: string;
  tag?: string;
  digest?: string;
}

const refString = (r: Ref) => (r.tag !== undefined ? `${r.name}:${r.tag}` : `${r.name}@${r.digest}`);
const familiarRef = (r: Ref) => `${familiarOfFullName(r.name)}${r.tag !== undefined ? `:${r.tag}` : `@${r.digest}`}`;

/** Docker's conflict: `conflict: unable to delete <id> (cannot be forced|must be forced) - <reason>`. */
export class ImageConflictError extends DaemonError {
  constructor(
    imageId: string,
    readonly hard: boolean,
    reason: string,
    /** The conflict is a container using the image. */
    readonly used = false,
  ) {
    super(
      `conflict: unable to delete ${shortId(imageId)} (${hard ? 'cannot be forced' : 'must be forced'}) - ${reason}`,
    );
  }
}

/** What a deletion released, for the blob cleanup and for prune's reclaimed space. */
export interface Released {
  /** Blobs that may have lost their last user: configs, layers, manifests. */
  blobs: Set<string>;
  /** Diff sizes of the released layers, by chain ID. */
  layerSizes: Map<string, number>;
}

export function newReleased(): Released {
  return { blobs: new Set(), layerSizes: new Map() };
}

const HARD = { children: true, running: true };
const ALL = { children: true, running: true, references: true, stopped: true };
type ConflictMask = Partial<typeof ALL>;

/** The steps of one deletion, inside one transaction. */
class Deletion {
  constructor(
    private readonly tx: EngineTx,
    readonly records: DeleteRecord[],
    private readonly released: Released,
  ) {}

  /** Every reference to the image, sorted as Docker's reference store returns them. */
  async refs(imageId: string): Promise<Ref[]> {
    const [tags, digests] = await Promise.all([
      this.tx.selectFrom('tags').select(['name', 'tag']).where('image_id', '=', imageId).execute(),
      this.tx.selectFrom('repo_digests').select(['name', 'digest']).where('image_id', '=', imageId).execute(),
    ]);
    const refs: Ref[] = [...tags, ...digests];
    return refs.sort((a, b) => (refString(a) < refString(b) ? -1 : refString(a) > refString(b) ? 1 : 0));
  }

  async hasChildren(imageId: string): Promise<boolean> {
    return (
      (await this.tx.selectFrom('images').select('id').where('parent', '=', imageId).executeTakeFirst()) !== undefined
    );
  }

  async removeRef(ref: Ref): Promise<void> {
    if (ref.tag !== undefined) {
      await this.tx.deleteFrom('tags').where('name', '=', ref.name).where('tag', '=', ref.tag).execute();
    } else if (ref.digest !== undefined) {
      await this.tx.deleteFrom('repo_digests').where('name', '=', ref.name).where('digest', '=', ref.digest).execute();
      this.released.blobs.add(ref.digest);
    }
    this.records.push({ untagged: familiarRef(ref) });
  }

  async conflict(imageId: string, mask: ConflictMask): Promise<ImageConflictError | undefined> {
    if (mask.children && (await this.hasChildren(imageId))) {
      return new ImageConflictError(imageId, true, 'image has dependent child images');
    }
    const containers = mask.running || mask.stopped ? await containersUsing(this.tx, imageId) : [];
    const running = containers.find((c) => c.running);
    if (mask.running && running) {
      return new ImageConflictError(
        imageId,
        true,
        `image is being used by running container ${shortId(running.id)}`,
        true,
      );
    }
    if (mask.references && (await this.refs(imageId)).length > 0) {
      return new ImageConflictError(imageId, false, 'image is referenced in multiple repositories');
    }
    const stopped = containers.find((c) => !c.running);
    if (mask.stopped && stopped) {
      return new ImageConflictError(
        imageId,
        false,
        `image is being used by stopped container ${shortId(stopped.id)}`,
        true,
      );
    }
    return undefined;
  }

  /** moby's imageDeleteHelper: conflicts, untag all, delete the image and its released layers, then the parent. */
  async deleteImage(imageId: string, force: boolean, prune: boolean, quiet: boolean): Promise<void> {
    const conflict = await this.conflict(imageId, force ? HARD : ALL);
    if (conflict) {
      // Quietly keep an image that still has references or children, unless a container uses it.
      const dangling = (await this.refs(imageId)).length === 0 && !(await this.hasChildren(imageId));
      if (quiet && (!dangling || conflict.used)) return;
      throw conflict;
    }
    const image = await this.tx.selectFrom('images').select('parent').where('id', '=', imageId).executeTakeFirst();
    if (!image) return;
    // Docker deletes an image under a stopped container with -f; Wharf's containers keep their
    // image row (a foreign key), so the image stays: quietly after an untag, else as a conflict.
    const [holder] = await containersUsing(this.tx, imageId);
    if (holder) {
      if (quiet) return;
      throw new ImageConflictError(
        imageId,
        true,
        `image is being used by stopped container ${shortId(holder.id)}`,
        true,
      );
    }
    for (const ref of await this.refs(imageId)) await this.removeRef(ref);

    const layers = await this.tx
      .selectFrom('image_layers')
      .innerJoin('layers', 'layers.blob_digest', 'image_layers.blob_digest')
      .select(['image_layers.diff_id', 'image_layers.blob_digest', 'layers.diff_size'])
      .where('image_layers.image_id', '=', imageId)
      .orderBy('image_layers.position')
      .execute();
    const chains = chainIds(layers.map((l) => l.diff_id));
    const inUse = await this.chainsInUse(imageId, layers[0]?.diff_id);
    await this.tx.deleteFrom('image_layers').where('image_id', '=', imageId).execute();
    await this.tx.deleteFrom('images').where('id', '=', imageId).execute();
    this.records.push({ deleted: imageId });
    this.released.blobs.add(imageId);
    // Docker's layer store releases the chain from the top down, stopping at a layer another image holds.
    for (let i = chains.length - 1; i >= 0 && !inUse.has(chains[i] as string); i--) {
      const layer = layers[i] as (typeof layers)[number];
      this.records.push({ deleted: chains[i] as string });
      this.released.layerSizes.set(chains[i] as string, Number(layer.diff_size));
      this.released.blobs.add(layer.blob_digest);
    }
    if (prune && image.parent) await this.deleteImage(image.parent, false, true, true);
  }

  /** Chain IDs of the other images that share this image's bottom layer (only they can share a chain). */
  private async chainsInUse(imageId: string, bottom: string | undefined): Promise<Set<string>> {
    const used = new Set<string>();
    if (bottom === undefined) return used;
    const others = await this.tx
      .selectFrom('image_layers')
      .select('image_id')
      .where('position', '=', 0)
      .where('diff_id', '=', bottom)
      .where('image_id', '!=', imageId)
      .execute();
    for (const { image_id } of others) {
      const diffIds = await this.tx
        .selectFrom('image_layers')
        .select('diff_id')
        .where('image_id', '=', image_id)
        .orderBy('position')
        .execute();
      for (const c of chainIds(diffIds.map((d) => d.diff_id))) used.add(c);
    }
    return used;
  }

  /** moby's ImageDelete for one name, as typed. */
  async delete(input: string, options: DeleteOptions): Promise<void> {
    const force = options.force === true;
    const prune = options.prune !== false;
    const imageId = await resolveImage(this.tx, input);
    const hex = imageId.slice('sha256:'.length);
    if (!(imageId.startsWith(input) || hex.startsWith(input))) {
      // Case A: a repository reference. Untag it; delete the image only if no reference is left.
      const typed = withDefaultTag(parseReference(input));
      const name = `${typed.domain}/${typed.path}`;
      const ref: Ref =
        typed.digest !== undefined ? { name, digest: typed.digest } : { name, tag: typed.tag ?? 'latest' };
      if (!force && isSingleReference(await this.refs(imageId))) {
        const [container] = await containersUsing(this.tx, imageId);
        if (container) {
          throw new DaemonError(
            `conflict: unable to remove repository reference "${input}" (must force) - container ${shortId(container.id)} is using its referenced image ${shortId(imageId)}`,
          );
        }
      }
      const known = (await this.refs(imageId)).some((r) => refString(r) === refString(ref));
      if (!known) throw new DaemonError(`No such image: ${familiarRef(ref)}`);
      await this.removeRef(ref);
      let refs = await this.refs(imageId);
      // The repository's last tag is gone: its digest references go too.
      if (ref.tag !== undefined && !refs.some((r) => r.tag !== undefined && r.name === ref.name)) {
        for (const r of refs) if (r.digest !== undefined && r.name === ref.name) await this.removeRef(r);
        refs = await this.refs(imageId);
      }
      if (refs.length > 0) return;
      await this.deleteImage(imageId, force, prune, true);
      return;
    }
    // Case B: an ID (prefix). A single reference is untagged first; several need -f.
    const refs = await this.refs(imageId);
    if (isSingleReference(refs)) {
      const conflict = await this.conflict(imageId, force ? HARD : { ...HARD, stopped: true });
      if (conflict) throw conflict;
      for (const r of refs) await this.removeRef(r);
    }
    await this.deleteImage(imageId, force, prune, false);
  }
}

/** moby's isSingleReference: at most one tag, and every reference in that one repository. */
function isSingleReference(refs: Ref[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  let single: Ref | undefined;
  const digestRepos = new Set<string>();
  for (const r of refs) {
    if (r.digest !== undefined) digestRepos.add(r.name);
    else if (single === undefined) single = r;
    else return false;
  }
  const one = single ?? (refs[0] as Ref);
  return digestRepos.size === 1 && digestRepos.has(one.name);
}

/** Child manifests listed by an index blob (empty for a plain manifest or unreadable bytes). */
async function indexChildren(store: LocalStore, digest: string): Promise<string[]> {
  if (!(await store.content.has(digest))) return [];
  try {
    const doc = JSON.parse((await store.content.get(digest)).toString('utf8')) as { manifests?: unknown };
    if (!Array.isArray(doc.manifests)) return [];
    return doc.manifests
      .map((m: unknown) => (m && typeof m === 'object' ? (m as { digest?: unknown }).digest : undefined))
      .filter((d): d is string => typeof d === 'string');
  } catch {
    return [];
  }
}

/**
 * Removes from the content store the released blobs that nothing left refers to: no image's
 * config or layer, no repo digest's manifest (nor a manifest inside such an index). Call under the lock.
 */
export async function collectBlobs(store: LocalStore, released: Released): Promise<void> {
  const { db, content } = store;
  const candidates = new Set(released.blobs);
  // An index's platform manifests go with it.
  for (const digest of released.blobs) for (const child of await indexChildren(store, digest)) candidates.add(child);
  if (candidates.size === 0) return;
  const list = [...candidates];
  const kept = new Set<string>();
  for (const r of await db.selectFrom('images').select('id').where('id', 'in', list).execute()) kept.add(r.id);
  for (const r of await db.selectFrom('image_layers').select('blob_digest').where('blob_digest', 'in', list).execute())
    kept.add(r.blob_digest);
  const remaining = await db.selectFrom('repo_digests').select('digest').distinct().execute();
  for (const r of remaining) {
    kept.add(r.digest);
    if (list.some((c) => !kept.has(c))) for (const child of await indexChildren(store, r.digest)) kept.add(child);
  }
  // The unpacked layers (for containers) of the chains released go too.
  await removeSnapshots(store.root, released.layerSizes.keys());
  const gone = list.filter((d) => !kept.has(d));
  if (gone.length === 0) return;
  await db.deleteFrom('layers').where('blob_digest', 'in', gone).execute();
  for (const digest of gone) {
    if (await content.has(digest)) await content.driver.delete(blobDir(digest));
  }
}

/** The content store's directory of a blob (deleted whole: it holds only the data file). */
function blobDir(digest: string): string {
  const parsed = parseDigest(digest);
  if (!parsed) throw new Error(`invalid digest: ${digest}`);
  return paths.blobDir(parsed);
}

/**
 * `docker rmi NAME`: untags and deletes by Docker's rules. Returns the records in Docker's order;
 * throws DaemonError (conflict, not found) with the store unchanged.
 */
export async function deleteImage(
  store: LocalStore,
  input: string,
  options: DeleteOptions = {},
  released: Released = newReleased(),
): Promise<DeleteRecord[]> {
  // An ID prefix that is not valid hex or a name fails in resolveImage with Docker's wording.
  if (!isImageIdPrefix(input)) parseReference(input);
  return store.locked(async () => {
    const mine = newReleased();
    const records = await store.db.transaction().execute(async (tx) => {
      const deletion = new Deletion(tx, [], mine);
      await deletion.delete(input, options);
      return deletion.records;
    });
    await collectBlobs(store, mine);
    for (const b of mine.blobs) released.blobs.add(b);
    for (const [k, v] of mine.layerSizes) released.layerSizes.set(k, v);
    return records;
  });
}
