import { ContentStore } from './content.js';
import { type EngineDb, openEngineDb } from './db.js';
import { withStoreLock } from './lock.js';
import { defaultRoot, rootLayout } from './root.js';

/** The local image store: the content store and the engine database under one root. */
export interface LocalStore {
  root: string;
  db: EngineDb;
  content: ContentStore;
  /** Runs `fn` holding the store lock (see lock.ts): for steps that check blobs and then record or delete. */
  locked<T>(fn: () => Promise<T>): Promise<T>;
}

/** Opens the store at `root` (default: WHARF_ROOT or the per-user/system default), runs `fn`, closes it. */
export async function withLocalStore<T>(root: string | undefined, fn: (store: LocalStore) => Promise<T>): Promise<T> {
  const dir = root ?? defaultRoot();
  const db = await openEngineDb(rootLayout.database(dir));
  try {
    return await fn({
      root: dir,
      db,
      content: new ContentStore(rootLayout.content(dir)),
      locked: (inner) => withStoreLock(dir, inner),
    });
  } finally {
    await db.destroy();
  }
}
