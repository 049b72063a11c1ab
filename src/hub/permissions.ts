import type { Account } from '../metadata/accounts.js';
import type { MetadataDb } from '../metadata/db.js';
import type { Permission } from '../metadata/hub-schema.js';
import { findNamespace, heldPermission, isOrgOwner, namespaceOf, strongest } from '../metadata/namespaces.js';
import { findRepository, grantedActions } from '../metadata/repositories.js';

/**
 * An account's permission on an existing repository, for the hub's settings (API and UI):
 * admin for administrators, the namespace's user and organization owners; else the strongest of
 * teams, collaborators and registry grants; `read` for anyone on a public repository.
 * Undefined means "may not even see it" (callers answer 404).
 */
export async function repositoryPermission(
  db: MetadataDb,
  account: Account | undefined,
  name: string,
): Promise<Permission | undefined> {
  const repo = await findRepository(db, name);
  if (!repo) return undefined;
  if (account && (await administersNamespace(db, account, namespaceOf(name)))) return 'admin';
  const held: Permission[] = [];
  if (repo.visibility === 'public') held.push('read');
  if (account) {
    const p = await heldPermission(db, repo.id, account.id);
    if (p) held.push(p);
    const actions = await grantedActions(db, repo.id, account.id);
    if (actions.includes('delete')) held.push('admin');
    else if (actions.includes('push')) held.push('write');
    else if (actions.includes('pull')) held.push('read');
  }
  return strongest(held);
}

/** Admins, the namespace's own user, and the owners of an organization namespace. */
export async function administersNamespace(
  db: MetadataDb,
  account: Account,
  namespace: string | undefined,
): Promise<boolean> {
  if (account.isAdmin) return true;
  if (namespace === undefined) return false;
  if (namespace === account.username) return true;
  const ns = await findNamespace(db, namespace);
  return ns?.kind === 'org' && (await isOrgOwner(db, ns.id, account.id));
}

const RANK: Record<Permission, number> = { read: 1, write: 2, admin: 3 };

/** Does `held` include `needed`? */
export const includes = (held: Permission | undefined, needed: Permission): boolean =>
  held !== undefined && RANK[held] >= RANK[needed];

export const PERMISSIONS: readonly Permission[] = ['read', 'write', 'admin'];
export const isPermission = (p: unknown): p is Permission =>
  typeof p === 'string' && (PERMISSIONS as string[]).includes(p);
