// `docker image prune`: delete dangling images (or, with -a, every image no container uses),
// through rmi's rules (moby daemon/images/image_prune.go).

import { collectBlobs, type DeleteRecord, deleteImage, newReleased } from './delete.js';
import { type Filters, labelsMatch, parseUntil } from './filters.js';
import { DaemonError } from './images.js';
import type { LocalStore } from './store.js';

export interface PruneResult {
  deleted: DeleteRecord[];
  /** Sum of the diff sizes of the released layers. */
  spaceReclaimed: number;
}

const PRUNE_FILTERS = new Set(['dangling', 'label', 'label!', 'until']);

function parseBool(key: string, value: string): boolean {
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw new DaemonError(`invalid filter '${key}=${value}'`);
}

/** Image config labels (`config.Labels`) of an image, from its config blob. */
export async function imageLabels(store: LocalStore, imageId: string): Promise<Record<string, string>> {
  try {
    const config = JSON.parse((await store.content.get(imageId)).toString('utf8')) as {
      config?: { Labels?: Record<string, string> | null };
    };
    return config.config?.Labels ?? {};
  } catch {
    return {};
  }
}

/** Prunes images; `all` is `-a` (the CLI sends dangling=false). Filters: dangling, label, label!, until. */
export async function pruneImages(store: LocalStore, all: boolean, filters: Filters = new Map()): Promise<PruneResult> {
  for (const key of filters.keys()) if (!PRUNE_FILTERS.has(key)) throw new DaemonError(`invalid filter '${key}'`);
  let danglingOnly = !all;
  for (const v of filters.get('dangling') ?? []) danglingOnly = parseBool('dangling', v);
  const untilValues = filters.get('until') ?? [];
  if (untilValues.length > 1) throw new DaemonError('more than one until filter specified');
  const until = untilValues[0] !== undefined ? parseUntil(untilValues[0]) : undefined;

  const { db } = store;
  const images = await db.selectFrom('images').select(['id', 'created', 'parent']).orderBy('created', 'desc').execute();
  const parents = new Set(images.map((i) => i.parent).filter((p): p is string => p !== null));
  const [tags, digests] = await Promise.all([
    db.selectFrom('tags').select(['name', 'tag', 'image_id']).orderBy('name').orderBy('tag').execute(),
    db.selectFrom('repo_digests').select(['name', 'digest', 'image_id']).orderBy('name').orderBy('digest').execute(),
  ]);
  const candidates: { id: string; refs: string[]; tagged: boolean }[] = [];
  for (const image of images) {
    const hasChildren = parents.has(image.id);
    if (danglingOnly && hasChildren) continue;
    const imageTags = tags.filter((t) => t.image_id === image.id).map((t) => `${t.name}:${t.tag}`);
    const imageDigests = digests.filter((d) => d.image_id === image.id).map((d) => `${d.name}@${d.digest}`);
    const refs = [...imageTags, ...imageDigests].sort();
    // An untagged intermediate image goes with its last child, never on its own.
    if (refs.length === 0 && hasChildren) continue;
    if (until !== undefined && image.created !== '' && Date.parse(image.created) > until) continue;
    if (!labelsMatch(filters, await imageLabels(store, image.id))) continue;
    candidates.push({ id: image.id, refs, tagged: imageTags.length > 0 });
  }

  const released = newReleased();
  const deleted: DeleteRecord[] = [];
  // Conflicts (children, containers) make an image stay, silently.
  const attempt = async (name: string) => {
    try {
      deleted.push(...(await deleteImage(store, name, { force: false, prune: true }, released)));
    } catch (err) {
      if (!(err instanceof DaemonError)) throw err;
    }
  };
  for (const c of candidates) {
    if (c.refs.length > 0) {
      if (danglingOnly && c.tagged) continue;
      for (const ref of c.refs) await attempt(ref);
    } else await attempt(c.id.slice('sha256:'.length));
  }
  await store.locked(() => collectBlobs(store, released));
  let spaceReclaimed = 0;
  for (const r of deleted) if ('deleted' in r) spaceReclaimed += released.layerSizes.get(r.deleted) ?? 0;
  return { deleted, spaceReclaimed };
}
