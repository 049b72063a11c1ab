import { type MetadataDb, now } from '../metadata/db.js';
import type { Permission } from '../metadata/hub-schema.js';
import { HubError } from './errors.js';
import { memberRole } from './orgs.js';

export interface Team {
  id: number;
  name: string;
  description: string;
  createdAt: string;
}

const TEAM_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const columns = ['id', 'name', 'description', 'created_at as createdAt'] as const;

export async function listTeams(db: MetadataDb, orgId: number): Promise<Team[]> {
  return db.selectFrom('teams').select(columns).where('namespace_id', '=', orgId).orderBy('name').execute();
}

export async function requireTeam(db: MetadataDb, orgId: number, name: string): Promise<Team> {
  const team = await db
    .selectFrom('teams')
    .select(columns)
    .where('namespace_id', '=', orgId)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!team) throw new HubError('not_found', `no team named ${JSON.stringify(name)}`);
  return team;
}

export async function createTeam(
  db: MetadataDb,
  orgId: number,
  team: { name: string; description?: string },
): Promise<Team> {
  if (team.name.length > 64 || !TEAM_RE.test(team.name))
    throw new HubError('invalid', `invalid team name ${JSON.stringify(team.name)}`);
  const exists = await db
    .selectFrom('teams')
    .select('id')
    .where('namespace_id', '=', orgId)
    .where('name', '=', team.name)
    .executeTakeFirst();
  if (exists) throw new HubError('conflict', `team ${JSON.stringify(team.name)} already exists`);
  await db
    .insertInto('teams')
    .values({
      namespace_id: orgId,
      name: team.name,
      description: (team.description ?? '').slice(0, 255),
      created_at: now(),
    })
    .execute();
  return requireTeam(db, orgId, team.name);
}

export async function updateTeam(db: MetadataDb, teamId: number, changes: { description?: string }): Promise<void> {
  if (changes.description !== undefined)
    await db
      .updateTable('teams')
      .set({ description: changes.description.slice(0, 255) })
      .where('id', '=', teamId)
      .execute();
}

export async function deleteTeam(db: MetadataDb, teamId: number): Promise<void> {
  await db.deleteFrom('teams').where('id', '=', teamId).execute();
}

export async function listTeamMembers(db: MetadataDb, teamId: number): Promise<string[]> {
  const rows = await db
    .selectFrom('team_members as tm')
    .innerJoin('accounts as a', 'a.id', 'tm.account_id')
    .select('a.username')
    .where('tm.team_id', '=', teamId)
    .orderBy('a.username')
    .execute();
  return rows.map((r) => r.username);
}

/** Adds an account to a team; it becomes a member of the organization if it was not. */
export async function addTeamMember(db: MetadataDb, orgId: number, teamId: number, accountId: number): Promise<void> {
  if (!(await memberRole(db, orgId, accountId)))
    await db
      .insertInto('org_members')
      .values({ namespace_id: orgId, account_id: accountId, role: 'member', created_at: now() })
      .execute();
  await db
    .insertInto('team_members')
    .values({ team_id: teamId, account_id: accountId })
    .onConflict((oc) => oc.columns(['team_id', 'account_id']).doNothing())
    .execute();
}

export async function removeTeamMember(db: MetadataDb, teamId: number, accountId: number): Promise<boolean> {
  const r = await db
    .deleteFrom('team_members')
    .where('team_id', '=', teamId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function listTeamPermissions(
  db: MetadataDb,
  teamId: number,
): Promise<{ repository: string; permission: Permission }[]> {
  return db
    .selectFrom('team_permissions as tp')
    .innerJoin('repositories as r', 'r.id', 'tp.repository_id')
    .select(['r.name as repository', 'tp.permission'])
    .where('tp.team_id', '=', teamId)
    .orderBy('r.name')
    .execute();
}

/** The teams with a permission on a repository, by team name. */
export async function listRepositoryTeams(
  db: MetadataDb,
  repositoryId: number,
): Promise<{ team: string; permission: Permission }[]> {
  return db
    .selectFrom('team_permissions as tp')
    .innerJoin('teams as t', 't.id', 'tp.team_id')
    .select(['t.name as team', 'tp.permission'])
    .where('tp.repository_id', '=', repositoryId)
    .orderBy('t.name')
    .execute();
}

/** Sets (or with undefined, removes) a team's permission on a repository of its organization. */
export async function setTeamPermission(
  db: MetadataDb,
  teamId: number,
  repositoryId: number,
  permission: Permission | undefined,
): Promise<void> {
  if (permission === undefined) {
    await db
      .deleteFrom('team_permissions')
      .where('team_id', '=', teamId)
      .where('repository_id', '=', repositoryId)
      .execute();
    return;
  }
  await db
    .insertInto('team_permissions')
    .values({ team_id: teamId, repository_id: repositoryId, permission })
    .onConflict((oc) => oc.columns(['team_id', 'repository_id']).doUpdateSet({ permission }))
    .execute();
}
