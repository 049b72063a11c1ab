import type { MetadataDb } from './db.js';
import type { Permission } from './hub-schema.js';

/** A namespace row as the rest of the code uses it. */
export interface Namespace {
  id: number;
  name: string;
  kind: 'user' | 'org';
  accountId: number | null;
  planId: number;
  defaultVisibility: 'public' | 'private';
  fullName: string;
  createdAt: string;
}

const columns = [
  'id',
  'name',
  'kind',
  'account_id as accountId',
  'plan_id as planId',
  'default_visibility as defaultVisibility',
  'full_name as fullName',
  'created_at as createdAt',
] as const;

export async function findNamespace(db: MetadataDb, name: string): Promise<Namespace | undefined> {
  return db.selectFrom('namespaces').select(columns).where('name', '=', name).executeTakeFirst();
}

export async function findNamespaceById(db: MetadataDb, id: number): Promise<Namespace | undefined> {
  return db.selectFrom('namespaces').select(columns).where('id', '=', id).executeTakeFirst();
}

/** The first path component of a repository name; undefined for top-level names. */
export function namespaceOf(repository: string): string | undefined {
  const slash = repository.indexOf('/');
  return slash < 0 ? undefined : repository.slice(0, slash);
}

/** Private repositories a namespace holds and may hold (its plan). */
export async function privateQuota(
  db: MetadataDb,
  namespace: Namespace,
): Promise<{ used: number; allowed: number; plan: string }> {
  const plan = await db
    .selectFrom('plans')
    .select(['name', 'private_repos'])
    .where('id', '=', namespace.planId)
    .executeTakeFirstOrThrow();
  // By name prefix as well as namespace_id: repositories pushed before the hub have no namespace_id.
  const used = await db
    .selectFrom('repositories')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('visibility', '=', 'private')
    .where((eb) =>
      eb.or([
        eb('namespace_id', '=', namespace.id),
        eb.and([
          eb('namespace_id', 'is', null),
          eb('name', '>', `${namespace.name}/`),
          eb('name', '<', `${namespace.name}0`),
        ]),
      ]),
    )
    .executeTakeFirstOrThrow();
  return { used: Number(used.n), allowed: plan.private_repos, plan: plan.name };
}

/** One more private repository does not fit the namespace's plan. The message is for users. */
export class PlanLimitError extends Error {
  override readonly name = 'PlanLimitError';
  constructor(
    readonly namespace: string,
    readonly allowed: number,
  ) {
    super(`the plan of ${namespace} allows ${allowed} private ${allowed === 1 ? 'repository' : 'repositories'}`);
  }
}

/**
 * Inside a transaction: takes the namespace's row for the rest of it (a no-op update, as the
 * first write: SQLite then holds its write lock, PostgreSQL the row lock), so that concurrent
 * creations of private repositories in one namespace are counted one after the other. Returns
 * the namespace as it is now (undefined when there is none).
 */
export async function lockNamespace(tx: MetadataDb, name: string): Promise<Namespace | undefined> {
  await tx
    .updateTable('namespaces')
    .set((eb) => ({ plan_id: eb.ref('plan_id') }))
    .where('name', '=', name)
    .execute();
  return findNamespace(tx, name);
}

/** Throws PlanLimitError when the plan has no room for one more private repository (under lockNamespace). */
export async function requirePrivateRoom(tx: MetadataDb, namespace: Namespace): Promise<void> {
  const q = await privateQuota(tx, namespace);
  if (q.used >= q.allowed) throw new PlanLimitError(namespace.name, q.allowed);
}

/** Is the account an owner of the organization namespace? */
export async function isOrgOwner(db: MetadataDb, namespaceId: number, accountId: number): Promise<boolean> {
  const row = await db
    .selectFrom('org_members')
    .select('role')
    .where('namespace_id', '=', namespaceId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return row?.role === 'owner';
}

const RANK: Record<Permission, number> = { read: 1, write: 2, admin: 3 };

/** The strongest of the permissions given, or undefined. */
export function strongest(perms: Permission[]): Permission | undefined {
  let best: Permission | undefined;
  for (const p of perms) if (!best || RANK[p] > RANK[best]) best = p;
  return best;
}

/** What an account holds on a repository through its teams and as a collaborator. */
export async function heldPermission(
  db: MetadataDb,
  repositoryId: number,
  accountId: number,
): Promise<Permission | undefined> {
  const viaTeams = await db
    .selectFrom('team_permissions as tp')
    .innerJoin('team_members as tm', 'tm.team_id', 'tp.team_id')
    .select('tp.permission')
    .where('tp.repository_id', '=', repositoryId)
    .where('tm.account_id', '=', accountId)
    .execute();
  const asCollaborator = await db
    .selectFrom('collaborators')
    .select('permission')
    .where('repository_id', '=', repositoryId)
    .where('account_id', '=', accountId)
    .execute();
  return strongest([...viaTeams, ...asCollaborator].map((r) => r.permission));
}

/** Registry actions of a permission: read → pull; write → pull, push; admin → pull, push, delete. */
export function permissionActions(permission: Permission): string[] {
  if (permission === 'admin') return ['pull', 'push', 'delete'];
  if (permission === 'write') return ['pull', 'push'];
  return ['pull'];
}
