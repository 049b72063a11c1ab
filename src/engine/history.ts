// `docker history`: one row per config history entry, newest first (moby daemon/images/image_history.go).

import { familiarOfFullName } from '../oci/reference.js';
import { DaemonError, resolveImage } from './images.js';
import type { HistoryEntry } from './new-image.js';
import type { LocalStore } from './store.js';

export interface HistoryItem {
  /** The image ID for the image and its local parents, `<missing>` below them. */
  id: string;
  /** Unix seconds of the entry's `created` (0 when it has none). */
  created: number;
  createdBy: string;
  /** Familiar `name:tag` references of `id`. */
  tags: string[];
  /** Diff size of the entry's layer (0 for an empty layer). */
  size: number;
  comment: string;
}

interface ConfigWithHistory {
  history?: HistoryEntry[];
  rootfs?: { diff_ids?: string[] };
}

/** The history rows of `name`. */
export async function imageHistory(store: LocalStore, name: string): Promise<HistoryItem[]> {
  const { db, content } = store;
  const imageId = await resolveImage(db, name);
  const config = JSON.parse((await content.get(imageId)).toString('utf8')) as ConfigWithHistory;
  const diffIds = config.rootfs?.diff_ids ?? [];
  const layers = await db
    .selectFrom('image_layers')
    .innerJoin('layers', 'layers.blob_digest', 'image_layers.blob_digest')
    .select(['image_layers.position', 'layers.diff_size'])
    .where('image_layers.image_id', '=', imageId)
    .orderBy('image_layers.position')
    .execute();
  const sizes = layers.map((l) => Number(l.diff_size));
  const items: HistoryItem[] = [];
  let layer = 0;
  for (const h of config.history ?? []) {
    let size = 0;
    if (!h.empty_layer) {
      if (diffIds.length <= layer) throw new DaemonError('too many non-empty layers in History section');
      size = sizes[layer] ?? 0;
      layer++;
    }
    const created = h.created ? Math.trunc(Date.parse(h.created) / 1000) : 0;
    items.unshift({
      id: '<missing>',
      created: Number.isNaN(created) ? 0 : created,
      createdBy: h.created_by ?? '',
      tags: [],
      size,
      comment: h.comment ?? '',
    });
  }
  // The image ID on the newest row, then its local parents' IDs up the chain.
  let id: string | null = imageId;
  for (const item of items) {
    if (id === null) break;
    item.id = id;
    const tags = await db.selectFrom('tags').select(['name', 'tag']).where('image_id', '=', id).execute();
    item.tags = tags.map((t) => `${familiarOfFullName(t.name)}:${t.tag}`).sort();
    const row: { parent: string | null } | undefined = await db
      .selectFrom('images')
      .select('parent')
      .where('id', '=', id)
      .executeTakeFirst();
    id = row?.parent ?? null;
    if (id !== null && !(await db.selectFrom('images').select('id').where('id', '=', id).executeTakeFirst())) id = null;
  }
  return items;
}
