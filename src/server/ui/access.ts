// What the viewer may do on a repository, from the registry's access policy (the one that decides
// docker push/pull), so that the UI never shows more than docker would allow.
import type { Account } from '../../metadata/accounts.js';
import { findRepository } from '../../metadata/repositories.js';
import { NotFound, type UiDeps } from './context.js';

export type UiPermission = 'read' | 'write' | 'admin';

const RANK: Record<UiPermission, number> = { read: 1, write: 2, admin: 3 };

/** The viewer's permission on an existing repository; undefined when it may not even see it. */
export async function permissionOn(
  deps: UiDeps,
  account: Account | undefined,
  name: string,
): Promise<UiPermission | undefined> {
  if (!(await findRepository(deps.db, name))) return undefined;
  const actions = await deps.auth.policy.allowedActions(account, name);
  if (actions.has('delete') || actions.has('*')) return 'admin';
  if (actions.has('push')) return 'write';
  if (actions.has('pull')) return 'read';
  return undefined;
}

/** The repository's name when the viewer has at least `need` on it; else 404, as for an unknown one. */
export async function requirePermission(
  deps: UiDeps,
  account: Account | undefined,
  name: string,
  need: UiPermission,
): Promise<UiPermission> {
  const have = await permissionOn(deps, account, name);
  if (!have || RANK[have] < RANK[need]) throw new NotFound();
  return have;
}
