import { type MetadataDb, now } from '../metadata/db.js';
import {
  findNamespace,
  findNamespaceById,
  lockNamespace,
  PlanLimitError,
  privateQuota,
  requirePrivateRoom,
} from '../metadata/namespaces.js';
import { HubError } from './errors.js';

export interface Plan {
  id: number;
  name: string;
  privateRepos: number;
  createdAt: string;
  /** Storage quota per namespace in bytes (hub/quotas.ts); null: none. */
  quotaBytes: number | null;
}

const columns = [
  'id',
  'name',
  'private_repos as privateRepos',
  'created_at as createdAt',
  'quota_bytes as quotaBytes',
] as const;

const PLAN_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export async function listPlans(db: MetadataDb): Promise<Plan[]> {
  return db.selectFrom('plans').select(columns).orderBy('id').execute();
}

export async function findPlan(db: MetadataDb, name: string): Promise<Plan | undefined> {
  return db.selectFrom('plans').select(columns).where('name', '=', name).executeTakeFirst();
}

function checkPlan(name: string, privateRepos: number): void {
  if (!PLAN_RE.test(name)) throw new HubError('invalid', `invalid plan name ${JSON.stringify(name)}`);
  if (!Number.isInteger(privateRepos) || privateRepos < 0)
    throw new HubError('invalid', 'private_repos must be a non-negative integer');
}

/**
 * Creates a plan, or changes the private repository count of an existing one; `quotaBytes`
 * (null: none; undefined: unchanged) sets its storage quota, which never deletes anything.
 */
export async function savePlan(
  db: MetadataDb,
  name: string,
  privateRepos: number,
  quotaBytes?: number | null,
): Promise<Plan> {
  checkPlan(name, privateRepos);
  if (quotaBytes != null && (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0))
    throw new HubError('invalid', 'quota must be a non-negative number of bytes');
  const quota = quotaBytes === undefined ? {} : { quota_bytes: quotaBytes };
  await db
    .insertInto('plans')
    .values({ name, private_repos: privateRepos, created_at: now(), ...quota })
    .onConflict((oc) => oc.column('name').doUpdateSet({ private_repos: privateRepos, ...quota }))
    .execute();
  return (await findPlan(db, name)) as Plan;
}

/**
 * Puts a namespace on a plan. A smaller plan loses nothing: repositories beyond it stay
 * private; only new private ones are refused until the namespace is under the limit again.
 */
export async function assignPlan(db: MetadataDb, namespace: string, planName: string): Promise<void> {
  const plan = await findPlan(db, planName);
  if (!plan) throw new HubError('not_found', `no plan named ${JSON.stringify(planName)}`);
  const ns = await findNamespace(db, namespace);
  if (!ns) throw new HubError('not_found', `no namespace named ${JSON.stringify(namespace)}`);
  await db.updateTable('namespaces').set({ plan_id: plan.id }).where('id', '=', ns.id).execute();
}

/** A namespace's plan and how much of it is used. */
export async function planUsage(
  db: MetadataDb,
  namespaceId: number,
): Promise<{ plan: string; privateRepos: number; privateReposUsed: number }> {
  const ns = await findNamespaceById(db, namespaceId);
  if (!ns) throw new HubError('not_found', 'namespace not found');
  const q = await privateQuota(db, ns);
  return { plan: q.plan, privateRepos: q.allowed, privateReposUsed: q.used };
}

/**
 * Inside a transaction, before a repository is created private or switched to private: locks the
 * namespace (so that concurrent changes are counted one after the other) and throws a `denied`
 * HubError when one more private repository does not fit its plan. The registry's implicit
 * creation by push does the same in metadata's ensureRepository, with the same message.
 */
export async function checkPrivateQuota(tx: MetadataDb, namespace: string): Promise<void> {
  const ns = await lockNamespace(tx, namespace);
  if (!ns) return;
  try {
    await requirePrivateRoom(tx, ns);
  } catch (err) {
    if (err instanceof PlanLimitError) throw new HubError('denied', err.message);
    throw err;
  }
}
