import { type MetadataDb, now } from '../metadata/db.js';
import { findNamespace, type Namespace } from '../metadata/namespaces.js';
import { HubError } from './errors.js';

export type OrgRole = 'owner' | 'member';

export interface OrgMember {
  username: string;
  role: OrgRole;
  createdAt: string;
}

/** The organization namespace, or a HubError (a user namespace is not an organization). */
export async function requireOrg(db: MetadataDb, name: string): Promise<Namespace> {
  const ns = await findNamespace(db, name);
  if (!ns || ns.kind !== 'org') throw new HubError('not_found', `no organization named ${JSON.stringify(name)}`);
  return ns;
}

export async function memberRole(db: MetadataDb, orgId: number, accountId: number): Promise<OrgRole | undefined> {
  const row = await db
    .selectFrom('org_members')
    .select('role')
    .where('namespace_id', '=', orgId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return row?.role;
}

export async function listMembers(db: MetadataDb, orgId: number): Promise<OrgMember[]> {
  return db
    .selectFrom('org_members as m')
    .innerJoin('accounts as a', 'a.id', 'm.account_id')
    .select(['a.username', 'm.role', 'm.created_at as createdAt'])
    .where('m.namespace_id', '=', orgId)
    .orderBy('a.username')
    .execute();
}

/** Adds a member or changes their role. The last owner cannot step down. */
export async function setMember(db: MetadataDb, orgId: number, accountId: number, role: OrgRole): Promise<void> {
  const current = await memberRole(db, orgId, accountId);
  if (current === 'owner' && role !== 'owner') await keepAnOwner(db, orgId);
  await db
    .insertInto('org_members')
    .values({ namespace_id: orgId, account_id: accountId, role, created_at: now() })
    .onConflict((oc) => oc.columns(['namespace_id', 'account_id']).doUpdateSet({ role }))
    .execute();
}

/** Removes a member from the organization and from its teams. */
export async function removeMember(db: MetadataDb, orgId: number, accountId: number): Promise<boolean> {
  const current = await memberRole(db, orgId, accountId);
  if (!current) return false;
  if (current === 'owner') await keepAnOwner(db, orgId);
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom('org_members').where('namespace_id', '=', orgId).where('account_id', '=', accountId).execute();
    const teams = tx.selectFrom('teams').select('id').where('namespace_id', '=', orgId);
    await tx.deleteFrom('team_members').where('account_id', '=', accountId).where('team_id', 'in', teams).execute();
  });
  return true;
}

async function keepAnOwner(db: MetadataDb, orgId: number): Promise<void> {
  const owners = await db
    .selectFrom('org_members')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('namespace_id', '=', orgId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  if (Number(owners.n) <= 1) throw new HubError('conflict', 'an organization keeps at least one owner');
}

/** Organizations an account belongs to. */
export async function organizationsOf(db: MetadataDb, accountId: number): Promise<{ name: string; role: OrgRole }[]> {
  return db
    .selectFrom('org_members as m')
    .innerJoin('namespaces as n', 'n.id', 'm.namespace_id')
    .select(['n.name', 'm.role'])
    .where('m.account_id', '=', accountId)
    .orderBy('n.name')
    .execute();
}
