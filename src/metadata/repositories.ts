import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import { type MetadataDb, now } from './db.js';
import { lockNamespace, namespaceOf, requirePrivateRoom } from './namespaces.js';
import type { Database, RepositoriesTable, Visibility } from './schema.js';

export async function findRepositoryId(db: MetadataDb, name: string): Promise<number | undefined> {
  const row = await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
  return row?.id;
}

/**
 * Returns the repository's id, creating the repository (with `visibility`) on first use: the
 * registry creates repositories implicitly, by the first push into them. A namespace whose
 * default is private makes its new repositories private, within its plan: the plan is checked
 * here, in the transaction that creates the row, so that it holds however the push was
 * authorized (PlanLimitError otherwise). A server made private as a whole (`visibility`) is the
 * operator's choice and does not count against a namespace's plan.
 */
export async function ensureRepository(
  db: MetadataDb,
  name: string,
  visibility: Visibility = 'public',
): Promise<number> {
  const found = await findRepositoryId(db, name);
  if (found !== undefined) return found;
  return db.transaction().execute(async (tx) => {
    const nsName = namespaceOf(name);
    const ns = nsName === undefined ? undefined : await lockNamespace(tx, nsName);
    const existing = await findRepositoryId(tx, name);
    if (existing !== undefined) return existing;
    const ownDefault = ns?.defaultVisibility === 'private';
    if (ns && ownDefault) await requirePrivateRoom(tx, ns);
    await tx
      .insertInto('repositories')
      .values({
        name,
        created_at: now(),
        visibility: ownDefault ? 'private' : visibility,
        namespace_id: ns?.id ?? null,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const id = await findRepositoryId(tx, name);
    if (id === undefined) throw new Error(`repository ${name} vanished while being created`);
    return id;
  });
}

/**
 * Inside a transaction: locks the repository's row until commit (a no-op UPDATE, which locks on
 * PostgreSQL and takes SQLite's write lock), so that read-then-write changes of one repository
 * (its star count) run one after the other on PostgreSQL too, as under SQLite's single writer.
 */
export async function lockRepository(tx: MetadataDb, id: number): Promise<void> {
  await tx
    .updateTable('repositories')
    .set((eb) => ({ star_count: eb.ref('star_count') }))
    .where('id', '=', id)
    .execute();
}

/** Repository names in order, after `last`, at most `limit`. */
export async function listRepositories(db: MetadataDb, limit: number, last?: string): Promise<string[]> {
  let q = db.selectFrom('repositories').select('name').orderBy('name').limit(limit);
  if (last !== undefined) q = q.where('name', '>', last);
  return (await q.execute()).map((r) => r.name);
}

export interface RepositoryInfo {
  id: number;
  name: string;
  visibility: Visibility;
}

export async function findRepository(db: MetadataDb, name: string): Promise<RepositoryInfo | undefined> {
  return db.selectFrom('repositories').select(['id', 'name', 'visibility']).where('name', '=', name).executeTakeFirst();
}

/**
 * The repository a one-component name reads from: itself when it exists, else an official
 * `library/<name>` (Docker Hub's rule: official images are pulled as `x`). Undefined when neither.
 */
export async function resolveReadName(db: MetadataDb, name: string): Promise<string | undefined> {
  if (await findRepositoryId(db, name)) return name;
  if (name.includes('/')) return undefined;
  const official = await db
    .selectFrom('repositories')
    .select('name')
    .where('name', '=', `library/${name}`)
    .where('is_official', '=', 1)
    .executeTakeFirst();
  return official?.name;
}

export async function setVisibility(db: MetadataDb, name: string, visibility: Visibility): Promise<boolean> {
  const result = await db.updateTable('repositories').set({ visibility }).where('name', '=', name).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Actions granted to an account on a repository, from repository_grants. */
export async function grantedActions(db: MetadataDb, repositoryId: number, accountId: number): Promise<string[]> {
  const row = await db
    .selectFrom('repository_grants')
    .select('actions')
    .where('repository_id', '=', repositoryId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return row ? row.actions.split(',').filter(Boolean) : [];
}

/** Every grant on a repository, by account name. */
export async function listGrants(
  db: MetadataDb,
  repositoryId: number,
): Promise<{ username: string; actions: string[] }[]> {
  const rows = await db
    .selectFrom('repository_grants as g')
    .innerJoin('accounts as a', 'a.id', 'g.account_id')
    .select(['a.username', 'g.actions'])
    .where('g.repository_id', '=', repositoryId)
    .orderBy('a.username')
    .execute();
  return rows.map((r) => ({ username: r.username, actions: r.actions.split(',').filter(Boolean) }));
}

/** Sets (or with no actions, removes) an account's grant on a repository. */
export async function setGrant(
  db: MetadataDb,
  repositoryId: number,
  accountId: number,
  actions: string[],
): Promise<void> {
  if (actions.length === 0) {
    await db
      .deleteFrom('repository_grants')
      .where('repository_id', '=', repositoryId)
      .where('account_id', '=', accountId)
      .execute();
    return;
  }
  await db
    .insertInto('repository_grants')
    .values({ repository_id: repositoryId, account_id: accountId, actions: actions.join(',') })
    .onConflict((oc) => oc.columns(['repository_id', 'account_id']).doUpdateSet({ actions: actions.join(',') }))
    .execute();
}

/** Who may see a repository in the catalog: everyone (admin), or a reader defined by account and namespace. */
export type CatalogReader = { all: true } | { all: false; accountId?: number; namespace?: string };

/** The repositories table as `r`, the alias the readable filter below is written against. */
type WithR = Database & { r: RepositoriesTable };

/**
 * The condition "reader may pull r" (on `repositories as r`): public repositories, those in the
 * reader's own namespace, and those granted to the reader with pull. Shared by the catalog and
 * the search (metadata/search.ts), so that both show exactly the same repositories.
 */
export function readableBy(eb: ExpressionBuilder<WithR, 'r'>, reader: CatalogReader): Expression<SqlBool> {
  if (reader.all) return sql<boolean>`1 = 1`;
  const { accountId, namespace } = reader;
  const ors = [eb('r.visibility', '=', 'public')];
  // substr, not LIKE: `_` in a namespace would be a wildcard.
  if (namespace !== undefined)
    ors.push(eb(sql<string>`substr(r.name, 1, ${namespace.length + 1})`, '=', `${namespace}/`));
  if (accountId !== undefined) {
    // Organization owners, team members and collaborators (any permission includes pull).
    ors.push(
      eb.exists(
        eb
          .selectFrom('org_members as om')
          .select('om.namespace_id')
          .whereRef('om.namespace_id', '=', 'r.namespace_id')
          .where('om.account_id', '=', accountId)
          .where('om.role', '=', 'owner'),
      ),
      eb.exists(
        eb
          .selectFrom('collaborators as c')
          .select('c.repository_id')
          .whereRef('c.repository_id', '=', 'r.id')
          .where('c.account_id', '=', accountId),
      ),
      eb.exists(
        eb
          .selectFrom('team_permissions as tp')
          .innerJoin('team_members as tm', 'tm.team_id', 'tp.team_id')
          .select('tp.repository_id')
          .whereRef('tp.repository_id', '=', 'r.id')
          .where('tm.account_id', '=', accountId),
      ),
    );
    ors.push(
      eb.exists(
        eb
          .selectFrom('repository_grants as g')
          .select('g.repository_id')
          .whereRef('g.repository_id', '=', 'r.id')
          .where('g.account_id', '=', accountId)
          .where('g.actions', 'like', '%pull%'),
      ),
    );
  }
  return eb.or(ors);
}

/** The catalog as a reader may see it (see readableBy). */
export async function listReadableRepositories(
  db: MetadataDb,
  reader: CatalogReader,
  limit: number,
  last?: string,
): Promise<string[]> {
  if (reader.all) return listRepositories(db, limit, last);
  let q = db.selectFrom('repositories as r').select('r.name').orderBy('r.name').limit(limit);
  if (last !== undefined) q = q.where('r.name', '>', last);
  q = q.where((eb) => readableBy(eb, reader));
  return (await q.execute()).map((r) => r.name);
}
