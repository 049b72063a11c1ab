import type { FastifyRequest } from 'fastify';
import { listAudit } from '../../hub/audit.js';
import { createOrganization, type Namespace, requireUser, updateNamespace } from '../../hub/namespaces.js';
import { listMembers, memberRole, type OrgRole, removeMember, requireOrg, setMember } from '../../hub/orgs.js';
import { isPermission } from '../../hub/permissions.js';
import { planUsage } from '../../hub/plans.js';
import {
  addTeamMember,
  createTeam,
  deleteTeam,
  listTeamMembers,
  listTeamPermissions,
  listTeams,
  removeTeamMember,
  requireTeam,
  setTeamPermission,
  updateTeam,
} from '../../hub/teams.js';
import { findRepository } from '../../metadata/repositories.js';
import { auditBy, bodyOf, hub, params, stringField } from './hub-common.js';
import {
  type ApiContext,
  type ApiRoutes,
  apiFail,
  type Caller,
  type CallerScope,
  callerOf,
  invalid,
  notFound,
  offsetOf,
  pageOf,
  paginate,
  requireAccount,
  sendJson,
} from './plumbing.js';
import { actionsOf } from './repositories.js';

const orgJson = (ns: Namespace) => ({
  id: ns.id,
  orgname: ns.name,
  full_name: ns.fullName,
  type: 'Organization',
  default_visibility: ns.defaultVisibility,
  date_joined: ns.createdAt,
});

/** The organization and the caller's role in it; members-only views answer 404 to others. */
async function orgFor(ctx: ApiContext, req: FastifyRequest, need: 'member' | 'owner', scope: CallerScope) {
  const caller = await requireAccount(ctx, req, scope);
  const org = await hub(requireOrg(ctx.db, params(req).org ?? ''));
  const role = caller.account.isAdmin ? 'owner' : await memberRole(ctx.db, org.id, caller.account.id);
  if (!role) return notFound('organization');
  if (need === 'owner' && role !== 'owner') apiFail(403, 'DENIED', 'only owners of the organization may do this');
  return { caller, org, role };
}

function roleOf(body: Record<string, unknown>): OrgRole {
  const role = stringField(body, 'role') ?? 'member';
  if (role !== 'owner' && role !== 'member') invalid('role must be owner or member');
  return role as OrgRole;
}

const auditOrg = (
  ctx: ApiContext,
  req: FastifyRequest,
  caller: Caller,
  org: Namespace,
  action: string,
  target: string,
  detail: Record<string, unknown> = {},
) => auditBy(ctx, req, caller, { action, namespaceId: org.id, target, detail });

/** Organizations, their members, teams, team members and team repository permissions; the organization's audit log. */
export const orgRoutes: ApiRoutes = (api, ctx) => {
  const doc = (method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, summary: string) =>
    ctx.openapi.add(method, path, { summary, tags: ['orgs'], auth: true });

  api.post('/orgs', async (req, reply) => {
    const caller = await requireAccount(ctx, req, 'read-write');
    const body = bodyOf(req);
    const name = stringField(body, 'name', true);
    const fullName = stringField(body, 'full_name');
    const org = await hub(createOrganization(ctx.db, caller.account, { name, ...(fullName ? { fullName } : {}) }));
    await auditOrg(ctx, req, caller, org, 'org.create', org.name);
    sendJson(reply, orgJson(org), 201);
  });
  doc('post', '/orgs', 'Create an organization (the caller becomes its owner)');

  api.get('/orgs/:org', async (req, reply) => {
    await callerOf(ctx, req);
    const org = await hub(requireOrg(ctx.db, params(req).org ?? ''));
    sendJson(reply, orgJson(org));
  });
  ctx.openapi.add('get', '/orgs/:org', { summary: "An organization's public profile", tags: ['orgs'] });

  api.patch('/orgs/:org', async (req, reply) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const body = bodyOf(req);
    const fullName = stringField(body, 'full_name');
    const dv = stringField(body, 'default_visibility');
    if (dv !== undefined && dv !== 'public' && dv !== 'private')
      invalid('default_visibility must be public or private');
    await updateNamespace(ctx.db, org.id, {
      ...(fullName !== undefined ? { fullName } : {}),
      ...(dv !== undefined ? { defaultVisibility: dv as 'public' | 'private' } : {}),
    });
    await auditOrg(ctx, req, caller, org, 'org.update', org.name, { full_name: fullName, default_visibility: dv });
    sendJson(reply, orgJson(await hub(requireOrg(ctx.db, org.name))));
  });
  doc('patch', '/orgs/:org', "Change an organization's full name or default visibility (owners)");

  api.get('/orgs/:org/plan', async (req, reply) => {
    const { org } = await orgFor(ctx, req, 'member', 'read');
    const u = await hub(planUsage(ctx.db, org.id));
    sendJson(reply, { plan: u.plan, private_repos: u.privateRepos, private_repos_used: u.privateReposUsed });
  });
  doc('get', '/orgs/:org/plan', "The organization's plan and its use (members)");

  api.get('/orgs/:org/members', async (req, reply) => {
    const { org } = await orgFor(ctx, req, 'member', 'read');
    const p = paginate(req.query);
    const all = await listMembers(ctx.db, org.id);
    const page = all.slice(offsetOf(p), offsetOf(p) + p.page_size);
    sendJson(
      reply,
      pageOf(
        req,
        p,
        all.length,
        page.map((m) => ({ username: m.username, role: m.role, joined: m.createdAt })),
      ),
    );
  });
  doc('get', '/orgs/:org/members', "An organization's members with their roles (members)");

  api.put('/orgs/:org/members/:user', async (req, reply) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const user = await hub(requireUser(ctx.db, params(req).user ?? ''));
    const role = roleOf(bodyOf(req));
    await hub(setMember(ctx.db, org.id, user.id, role));
    await auditOrg(ctx, req, caller, org, 'org.member.set', user.username, { role });
    sendJson(reply, { username: user.username, role });
  });
  doc('put', '/orgs/:org/members/:user', 'Add a member or change their role: {"role":"owner"|"member"} (owners)');

  api.delete('/orgs/:org/members/:user', async (req, reply) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const user = await hub(requireUser(ctx.db, params(req).user ?? ''));
    if (!(await hub(removeMember(ctx.db, org.id, user.id)))) return notFound('member');
    await auditOrg(ctx, req, caller, org, 'org.member.remove', user.username);
    reply.status(204).send();
  });
  doc('delete', '/orgs/:org/members/:user', 'Remove a member from the organization and its teams (owners)');

  // Teams.
  /**
   * A team's repository permissions as `caller` may see them: all of them for owners (and
   * administrators), for other members only those on repositories they may pull (a private
   * repository's name is not shown to members who cannot pull it).
   */
  const permissionsFor = async (caller: Caller, role: OrgRole, teamId: number) => {
    const all = await listTeamPermissions(ctx.db, teamId);
    if (role === 'owner') return all;
    const actions = actionsOf(ctx);
    const visible = await Promise.all(all.map(async (p) => (await actions(caller.account, p.repository)).has('pull')));
    return all.filter((_, i) => visible[i]);
  };
  const teamJson = async (
    t: { id: number; name: string; description: string; createdAt: string },
    caller: Caller,
    role: OrgRole,
  ) => ({
    id: t.id,
    name: t.name,
    description: t.description,
    created: t.createdAt,
    members: await listTeamMembers(ctx.db, t.id),
    permissions: await permissionsFor(caller, role, t.id),
  });

  api.get('/orgs/:org/teams', async (req, reply) => {
    const { caller, org, role } = await orgFor(ctx, req, 'member', 'read');
    const p = paginate(req.query);
    const all = await listTeams(ctx.db, org.id);
    const page = all.slice(offsetOf(p), offsetOf(p) + p.page_size);
    sendJson(reply, pageOf(req, p, all.length, await Promise.all(page.map((t) => teamJson(t, caller, role)))));
  });
  doc(
    'get',
    '/orgs/:org/teams',
    "An organization's teams (members; permissions on repositories the caller may pull, all for owners)",
  );

  api.post('/orgs/:org/teams', async (req, reply) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const body = bodyOf(req);
    const description = stringField(body, 'description');
    const team = await hub(
      createTeam(ctx.db, org.id, { name: stringField(body, 'name', true), ...(description ? { description } : {}) }),
    );
    await auditOrg(ctx, req, caller, org, 'team.create', `${org.name}/${team.name}`);
    sendJson(reply, await teamJson(team, caller, 'owner'), 201);
  });
  doc('post', '/orgs/:org/teams', 'Create a team: {"name","description"} (owners)');

  api.get('/orgs/:org/teams/:team', async (req, reply) => {
    const { caller, org, role } = await orgFor(ctx, req, 'member', 'read');
    sendJson(reply, await teamJson(await hub(requireTeam(ctx.db, org.id, params(req).team ?? '')), caller, role));
  });
  doc('get', '/orgs/:org/teams/:team', 'A team with its members and repository permissions (members)');

  api.patch('/orgs/:org/teams/:team', async (req, reply) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const team = await hub(requireTeam(ctx.db, org.id, params(req).team ?? ''));
    const description = stringField(bodyOf(req), 'description');
    await updateTeam(ctx.db, team.id, description !== undefined ? { description } : {});
    await auditOrg(ctx, req, caller, org, 'team.update', `${org.name}/${team.name}`, { description });
    sendJson(reply, await teamJson(await hub(requireTeam(ctx.db, org.id, team.name)), caller, 'owner'));
  });
  doc('patch', '/orgs/:org/teams/:team', "Change a team's description (owners)");

  api.delete('/orgs/:org/teams/:team', async (req, reply) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const team = await hub(requireTeam(ctx.db, org.id, params(req).team ?? ''));
    await deleteTeam(ctx.db, team.id);
    await auditOrg(ctx, req, caller, org, 'team.delete', `${org.name}/${team.name}`);
    reply.status(204).send();
  });
  doc('delete', '/orgs/:org/teams/:team', 'Delete a team (owners)');

  api.get('/orgs/:org/teams/:team/members', async (req, reply) => {
    const { org } = await orgFor(ctx, req, 'member', 'read');
    const team = await hub(requireTeam(ctx.db, org.id, params(req).team ?? ''));
    const members = await listTeamMembers(ctx.db, team.id);
    const p = paginate(req.query);
    const page = members.slice(offsetOf(p), offsetOf(p) + p.page_size);
    sendJson(
      reply,
      pageOf(
        req,
        p,
        members.length,
        page.map((username) => ({ username })),
      ),
    );
  });
  doc('get', '/orgs/:org/teams/:team/members', "A team's members (members)");

  api.put('/orgs/:org/teams/:team/members/:user', async (req, reply) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const team = await hub(requireTeam(ctx.db, org.id, params(req).team ?? ''));
    const user = await hub(requireUser(ctx.db, params(req).user ?? ''));
    await addTeamMember(ctx.db, org.id, team.id, user.id);
    await auditOrg(ctx, req, caller, org, 'team.member.add', `${org.name}/${team.name}`, { user: user.username });
    sendJson(reply, { username: user.username });
  });
  doc('put', '/orgs/:org/teams/:team/members/:user', 'Add an account to a team (owners)');

  api.delete('/orgs/:org/teams/:team/members/:user', async (req, reply) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const team = await hub(requireTeam(ctx.db, org.id, params(req).team ?? ''));
    const user = await hub(requireUser(ctx.db, params(req).user ?? ''));
    if (!(await removeTeamMember(ctx.db, team.id, user.id))) return notFound('team member');
    await auditOrg(ctx, req, caller, org, 'team.member.remove', `${org.name}/${team.name}`, { user: user.username });
    reply.status(204).send();
  });
  doc('delete', '/orgs/:org/teams/:team/members/:user', 'Remove an account from a team (owners)');

  api.get('/orgs/:org/teams/:team/permissions', async (req, reply) => {
    const { caller, org, role } = await orgFor(ctx, req, 'member', 'read');
    const team = await hub(requireTeam(ctx.db, org.id, params(req).team ?? ''));
    sendJson(reply, { results: await permissionsFor(caller, role, team.id) });
  });
  doc('get', '/orgs/:org/teams/:team/permissions', "A team's repository permissions (members)");

  const permissionRoute = (remove: boolean) => async (req: FastifyRequest) => {
    const { caller, org } = await orgFor(ctx, req, 'owner', 'admin');
    const team = await hub(requireTeam(ctx.db, org.id, params(req).team ?? ''));
    const name = `${org.name}/${params(req).repo ?? ''}`;
    const repo = await findRepository(ctx.db, name);
    if (!repo) return notFound('repository');
    const permission = remove ? undefined : bodyOf(req).permission;
    if (!remove && !isPermission(permission)) invalid('permission must be read, write or admin');
    await setTeamPermission(ctx.db, team.id, repo.id, isPermission(permission) ? permission : undefined);
    await auditOrg(ctx, req, caller, org, 'team.permission', name, { team: team.name, permission: permission ?? null });
    return { repository: name, team: team.name, permission: permission ?? null };
  };
  api.put('/orgs/:org/teams/:team/permissions/:repo', async (req, reply) =>
    sendJson(reply, await permissionRoute(false)(req)),
  );
  doc(
    'put',
    '/orgs/:org/teams/:team/permissions/:repo',
    'Give a team a permission on a repository: {"permission":"read"|"write"|"admin"} (owners)',
  );
  api.delete('/orgs/:org/teams/:team/permissions/:repo', async (req, reply) => {
    await permissionRoute(true)(req);
    reply.status(204).send();
  });
  doc('delete', '/orgs/:org/teams/:team/permissions/:repo', "Remove a team's permission on a repository (owners)");

  api.get('/orgs/:org/audit', async (req, reply) => {
    const { org } = await orgFor(ctx, req, 'owner', 'read');
    const p = paginate(req.query);
    const action = (req.query as Record<string, unknown>).action;
    const { count, entries } = await listAudit(ctx.db, {
      namespaceId: org.id,
      ...(typeof action === 'string' && action ? { action } : {}),
      limit: p.page_size,
      offset: offsetOf(p),
    });
    sendJson(reply, pageOf(req, p, count, entries.map(auditJson)));
  });
  doc('get', '/orgs/:org/audit', "The organization's audit log, newest first (owners)");
};

export const auditJson = (e: Awaited<ReturnType<typeof listAudit>>['entries'][number]) => ({
  id: e.id,
  at: e.at,
  actor: e.username,
  action: e.action,
  target: e.target,
  detail: e.detail,
  ip: e.ip,
});
