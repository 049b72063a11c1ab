import type { Account } from '../metadata/accounts.js';
import { type MetadataDb, now } from '../metadata/db.js';
import { queueRepositoryContents, reviewTime } from '../metadata/gc.js';
import { findNamespace } from '../metadata/namespaces.js';
import { displayName } from '../metadata/search.js';
import { isValidRepositoryName } from '../oci/name.js';
import type { EventRequest, RegistryEvents } from '../registry/context.js';
import { HubError } from './errors.js';
import { checkPrivateQuota } from './plans.js';

// Repositories as hub objects (issue 6): explicit creation, descriptions, visibility within the
// plan, deletion. Who may do what comes from the caller's registry actions on the repository
// (auth/access.ts): pull = see it, push = edit its descriptions, delete = administer it
// (visibility, delete), so the hub and `docker push` never disagree.

export const MAX_DESCRIPTION = 100;

/** What the caller may do on a repository name: the registry actions (pull, push, delete). */
export type ActionsOf = (account: Account | undefined, name: string) => Promise<Set<string>>;

export interface RepositoryView {
  id: number;
  /** Stored name, `namespace/name`. */
  fullName: string;
  namespace: string;
  name: string;
  /** As shown (an official library/x is x). */
  displayName: string;
  description: string;
  fullDescription: string;
  isPrivate: boolean;
  isOfficial: boolean;
  starCount: number;
  pullCount: number;
  lastPushedAt: string | null;
  createdAt: string;
  permissions: { read: boolean; write: boolean; admin: boolean };
}

const notFound = (): never => {
  throw new HubError('not_found', 'repository not found');
};

function checkDescription(description: string | undefined): void {
  if (description !== undefined && [...description].length > MAX_DESCRIPTION) {
    throw new HubError('invalid', `description is longer than ${MAX_DESCRIPTION} characters`);
  }
}

async function row(db: MetadataDb, fullName: string) {
  return db.selectFrom('repositories').selectAll().where('name', '=', fullName).executeTakeFirst();
}

/** The repository as `account` sees it; 404 for unknown and forbidden alike. */
export async function getRepository(
  db: MetadataDb,
  actionsOf: ActionsOf,
  account: Account | undefined,
  fullName: string,
): Promise<RepositoryView> {
  const actions = await actionsOf(account, fullName);
  if (!actions.has('pull')) return notFound();
  const r = await row(db, fullName);
  if (!r) return notFound();
  const slash = r.name.lastIndexOf('/');
  return {
    id: r.id,
    fullName: r.name,
    namespace: slash < 0 ? '' : r.name.slice(0, slash),
    name: slash < 0 ? r.name : r.name.slice(slash + 1),
    displayName: displayName(r.name, r.is_official === 1),
    description: r.description,
    fullDescription: r.full_description,
    isPrivate: r.visibility === 'private',
    isOfficial: r.is_official === 1,
    starCount: r.star_count,
    pullCount: r.pull_count,
    lastPushedAt: r.last_pushed_at,
    createdAt: r.created_at,
    permissions: { read: true, write: actions.has('push'), admin: actions.has('delete') },
  };
}

export interface NewRepository {
  namespace: string;
  name: string;
  description?: string;
  fullDescription?: string;
  isPrivate?: boolean;
}

/** Creates a repository in a namespace the account administers (or may push to). */
export async function createRepository(
  db: MetadataDb,
  actionsOf: ActionsOf,
  account: Account,
  input: NewRepository,
): Promise<RepositoryView> {
  const fullName = `${input.namespace}/${input.name}`;
  if (!isValidRepositoryName(fullName) || input.name.includes('/')) {
    throw new HubError('invalid', `invalid repository name ${JSON.stringify(input.name)}`);
  }
  checkDescription(input.description);
  const ns = await findNamespace(db, input.namespace);
  // A namespace the caller cannot create in looks like one that does not exist.
  if (!ns || !(await actionsOf(account, fullName)).has('push')) {
    throw new HubError('not_found', `namespace ${input.namespace} not found`);
  }
  const visibility = (input.isPrivate ?? ns.defaultVisibility === 'private') ? 'private' : 'public';
  // The plan is checked in the transaction that creates the row (see checkPrivateQuota).
  await db.transaction().execute(async (tx) => {
    if (visibility === 'private') await checkPrivateQuota(tx, ns.name);
    if (await row(tx, fullName)) throw new HubError('conflict', `repository ${fullName} already exists`);
    await tx
      .insertInto('repositories')
      .values({
        name: fullName,
        created_at: now(),
        visibility,
        namespace_id: ns.id,
        description: input.description ?? '',
        full_description: input.fullDescription ?? '',
        last_pushed_at: null,
      })
      .execute();
  });
  return getRepository(db, actionsOf, account, fullName);
}

export interface RepositoryChanges {
  description?: string;
  fullDescription?: string;
  isPrivate?: boolean;
}

/** Descriptions need write (push); visibility needs admin. Returns the updated view. */
export async function updateRepository(
  db: MetadataDb,
  actionsOf: ActionsOf,
  account: Account,
  fullName: string,
  changes: RepositoryChanges,
): Promise<{ view: RepositoryView; visibilityChanged: boolean }> {
  const before = await getRepository(db, actionsOf, account, fullName);
  checkDescription(changes.description);
  const editsText = changes.description !== undefined || changes.fullDescription !== undefined;
  if (editsText && !before.permissions.write) {
    throw new HubError('denied', 'changing the descriptions needs write permission');
  }
  const visibilityChanged = changes.isPrivate !== undefined && changes.isPrivate !== before.isPrivate;
  if (visibilityChanged && !before.permissions.admin) {
    throw new HubError('denied', 'changing the visibility needs admin permission');
  }
  const set: { description?: string; full_description?: string; visibility?: 'public' | 'private' } = {};
  if (changes.description !== undefined) set.description = changes.description;
  if (changes.fullDescription !== undefined) set.full_description = changes.fullDescription;
  if (visibilityChanged) set.visibility = changes.isPrivate ? 'private' : 'public';
  if (Object.keys(set).length > 0) {
    await db.transaction().execute(async (tx) => {
      if (visibilityChanged && changes.isPrivate) await checkPrivateQuota(tx, before.namespace);
      await tx.updateTable('repositories').set(set).where('id', '=', before.id).execute();
    });
  }
  return { view: await getRepository(db, actionsOf, account, fullName), visibilityChanged };
}

/**
 * Deletes a repository (admin): its row, and by cascade its manifests, tags, blob links, stars,
 * webhooks, retention policy and permissions; then tells `events` (the notification endpoints
 * get Distribution's repository delete event). Blob data stays in storage until garbage
 * collection finds it unreferenced, as with a manifest delete.
 */
export async function deleteRepository(
  db: MetadataDb,
  actionsOf: ActionsOf,
  account: Account,
  fullName: string,
  notify: { events?: RegistryEvents; request?: EventRequest } = {},
): Promise<RepositoryView> {
  const before = await getRepository(db, actionsOf, account, fullName);
  if (!before.permissions.admin) throw new HubError('denied', 'deleting a repository needs admin permission');
  await db.transaction().execute(async (tx) => {
    // Its manifests and blobs go to garbage collection's queues, due at once: GC still keeps
    // whatever another repository references or links (recent links: until the review delay).
    await queueRepositoryContents(tx, before.id, reviewTime(0));
    await tx.deleteFrom('repositories').where('id', '=', before.id).execute();
  });
  await notify.events?.onRepositoryDeleted?.({
    repository: fullName,
    ...(notify.request ? { request: notify.request } : {}),
  });
  return before;
}

/** A namespace's repositories that the account may pull, by name. */
export async function listNamespaceRepositories(
  db: MetadataDb,
  actionsOf: ActionsOf,
  account: Account | undefined,
  namespace: string,
  page: { limit: number; offset: number },
): Promise<{ count: number; results: RepositoryView[] }> {
  const names = (
    await db
      .selectFrom('repositories')
      .select('name')
      .where('name', '>', `${namespace}/`)
      .where('name', '<', `${namespace}0`)
      .orderBy('name')
      .execute()
  ).map((r) => r.name);
  // Permission per repository (teams, collaborators…) is the access policy's: filter in order.
  const visible: string[] = [];
  for (const name of names) if ((await actionsOf(account, name)).has('pull')) visible.push(name);
  const results: RepositoryView[] = [];
  for (const name of visible.slice(page.offset, page.offset + page.limit)) {
    results.push(await getRepository(db, actionsOf, account, name));
  }
  return { count: visible.length, results };
}
