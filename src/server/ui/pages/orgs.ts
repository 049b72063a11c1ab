// User and organization pages, organization settings (members, teams with their repository
// permissions, the organization's audit log), and the viewer's own settings (access tokens).
// Another account's settings: 404.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../../../hub/audit.js';
import { createOrganization } from '../../../hub/namespaces.js';
import { listMembers, memberRole, organizationsOf, removeMember, requireOrg, setMember } from '../../../hub/orgs.js';
import { isPermission } from '../../../hub/permissions.js';
import { listNamespaceRepositories } from '../../../hub/repositories.js';
import {
  addTeamMember,
  createTeam,
  listTeamMembers,
  listTeamPermissions,
  listTeams,
  requireTeam,
  setTeamPermission,
} from '../../../hub/teams.js';
import {
  createAccessToken,
  listAccessTokens,
  revokeAccessToken,
  TOKEN_SCOPES,
  type TokenScope,
} from '../../../hub/tokens.js';
import { findAccount } from '../../../metadata/accounts.js';
import { findRepository } from '../../../metadata/repositories.js';
import { auditPage } from '../audit.js';
import { actionsOf, form, NotFound, page, Refusal, signedIn, type UiDeps, userError } from '../context.js';
import { abbreviate, absoluteTime, relativeTime } from '../data.js';
import { repoPath } from './repository.js';

export async function orgPages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  const actions = actionsOf(deps);
  const repositoriesOf = async (req: FastifyRequest, namespace: string) =>
    (
      await listNamespaceRepositories(deps.db, actions, req.viewer.account, namespace, { limit: 100, offset: 0 })
    ).results.map((r) => {
      // The card of explore (views/_results.eta).
      const updated = r.lastPushedAt ?? r.createdAt;
      return {
        ...r,
        path: repoPath(r.fullName),
        display: r.displayName,
        stars: abbreviate(r.starCount),
        pulls: abbreviate(r.pullCount),
        updated,
        updatedRelative: relativeTime(updated),
        updatedAbsolute: absoluteTime(updated),
      };
    });

  app.get('/u/:name', async (req, reply) => {
    const { name } = req.params as { name: string };
    const user = await findAccount(deps.db, name);
    if (!user) throw new NotFound();
    return page(req, reply, 'namespace', {
      title: user.username,
      kind: 'user',
      name: user.username,
      repositories: await repositoriesOf(req, user.username),
      orgs: await organizationsOf(deps.db, user.id),
      isOwner: req.viewer.account?.id === user.id,
    });
  });

  app.get('/orgs/new', async (req, reply) => {
    if (!signedIn(req, reply)) return reply;
    return page(req, reply, 'org-new', { title: 'New organization', name: '' });
  });
  app.post('/orgs/new', async (req, reply) => {
    const account = signedIn(req, reply);
    if (!account) return reply;
    const name = (form(req).get('name') ?? '').trim();
    try {
      const org = await createOrganization(deps.db, account, { name });
      await audit(deps.db, {
        accountId: account.id,
        action: 'org.create',
        namespaceId: org.id,
        target: name,
        ip: req.ip,
      });
    } catch (err) {
      const known = userError(err);
      if (!known) throw err;
      return page(req, reply, 'org-new', { title: 'New organization', name, error: known.message }, known.status);
    }
    return reply.redirect(`/orgs/${name}/settings`, 303);
  });

  app.get('/orgs/:name', async (req, reply) => {
    const org = await requireOrg(deps.db, (req.params as { name: string }).name).catch(() => undefined);
    if (!org) throw new NotFound();
    const { account } = req.viewer;
    const role = account ? await memberRole(deps.db, org.id, account.id) : undefined;
    return page(req, reply, 'namespace', {
      title: org.name,
      kind: 'org',
      name: org.name,
      repositories: await repositoriesOf(req, org.name),
      orgs: [],
      isOwner: role === 'owner' || Boolean(account?.isAdmin),
    });
  });

  /** The organization when the viewer owns it (or is an admin); 404 otherwise. */
  const owned = async (req: FastifyRequest) => {
    const account = req.viewer.account;
    const org = await requireOrg(deps.db, (req.params as { name: string }).name).catch(() => undefined);
    if (!account || !org) throw new NotFound();
    if (!account.isAdmin && (await memberRole(deps.db, org.id, account.id)) !== 'owner') throw new NotFound();
    return { account, org };
  };
  const orgSettings = async (req: FastifyRequest, reply: FastifyReply, error?: string, status = 200) => {
    const { org } = await owned(req);
    const teams = [];
    for (const t of await listTeams(deps.db, org.id)) {
      teams.push({
        ...t,
        members: await listTeamMembers(deps.db, t.id),
        permissions: await listTeamPermissions(deps.db, t.id),
      });
    }
    return page(
      req,
      reply,
      'org-settings',
      { title: `Settings · ${org.name}`, org, members: await listMembers(deps.db, org.id), teams, error },
      status,
    );
  };
  const change = async (req: FastifyRequest, reply: FastifyReply, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      const known = userError(err);
      if (!known) throw err;
      return orgSettings(req, reply, known.message, known.status);
    }
    return reply.redirect(`/orgs/${(req.params as { name: string }).name}/settings`, 303);
  };
  const accountNamed = async (username: string) => {
    const who = await findAccount(deps.db, username.trim());
    if (!who) throw new Refusal(`there is no account ${username}`);
    return who;
  };

  app.get('/orgs/:name/settings', async (req, reply) => orgSettings(req, reply));
  app.get('/orgs/:name/settings/audit', async (req, reply) => {
    const { org } = await owned(req);
    return page(req, reply, 'audit', {
      title: `Audit log · ${org.name}`,
      back: { href: `/orgs/${org.name}/settings`, label: `Settings · ${org.name}` },
      base: `/orgs/${org.name}/settings/audit`,
      ...(await auditPage(deps.db, req, org.id)),
    });
  });

  app.post('/orgs/:name/settings/members', async (req, reply) => {
    const { account, org } = await owned(req);
    const f = form(req);
    return change(req, reply, async () => {
      const who = await accountNamed(f.get('username') ?? '');
      const role = f.get('role');
      if (role === 'remove') await removeMember(deps.db, org.id, who.id);
      else await setMember(deps.db, org.id, who.id, role === 'owner' ? 'owner' : 'member');
      await audit(deps.db, {
        accountId: account.id,
        action: 'org.member',
        namespaceId: org.id,
        target: org.name,
        detail: { account: who.username, role },
        ip: req.ip,
      });
    });
  });

  app.post('/orgs/:name/settings/teams', async (req, reply) => {
    const { account, org } = await owned(req);
    const f = form(req);
    return change(req, reply, async () => {
      const team = await createTeam(deps.db, org.id, {
        name: (f.get('name') ?? '').trim(),
        description: f.get('description') ?? '',
      });
      await audit(deps.db, {
        accountId: account.id,
        action: 'team.create',
        namespaceId: org.id,
        target: `${org.name}/${team.name}`,
        ip: req.ip,
      });
    });
  });

  app.post('/orgs/:name/settings/teams/:team', async (req, reply) => {
    const { account, org } = await owned(req);
    const f = form(req);
    return change(req, reply, async () => {
      const team = await requireTeam(deps.db, org.id, (req.params as { team: string }).team);
      const member = (f.get('member') ?? '').trim();
      if (member) {
        const who = await accountNamed(member);
        await addTeamMember(deps.db, org.id, team.id, who.id);
        await audit(deps.db, {
          accountId: account.id,
          action: 'team.member',
          namespaceId: org.id,
          target: `${org.name}/${team.name}`,
          detail: { account: who.username },
          ip: req.ip,
        });
      }
      const repository = (f.get('repository') ?? '').trim();
      if (repository) {
        const repo = await findRepository(deps.db, `${org.name}/${repository}`);
        if (!repo) throw new Refusal(`there is no repository ${org.name}/${repository}`);
        const permission = f.get('permission') ?? '';
        await setTeamPermission(deps.db, team.id, repo.id, isPermission(permission) ? permission : undefined);
        await audit(deps.db, {
          accountId: account.id,
          action: 'team.permission',
          namespaceId: org.id,
          target: `${org.name}/${team.name}`,
          detail: { repository: repo.name, permission },
          ip: req.ip,
        });
      }
    });
  });

  // The viewer's own settings: organizations and access tokens.
  const tokensPage = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: Record<string, unknown> = {},
    status = 200,
  ) => {
    const account = signedIn(req, reply);
    if (!account) return reply;
    return page(
      req,
      reply,
      'settings',
      {
        title: 'Settings',
        tokens: await listAccessTokens(deps.db, account.id),
        orgs: await organizationsOf(deps.db, account.id),
        scopes: TOKEN_SCOPES,
        ...extra,
      },
      status,
    );
  };
  app.get('/settings', async (req, reply) => tokensPage(req, reply));
  app.post('/settings/tokens', async (req, reply) => {
    const account = signedIn(req, reply);
    if (!account) return reply;
    const f = form(req);
    const name = (f.get('name') ?? '').trim();
    const scope = f.get('scope') ?? '';
    const expires = (f.get('expires_days') ?? '').trim();
    if (name === '' || name.length > 100 || !TOKEN_SCOPES.includes(scope as TokenScope)) {
      return tokensPage(req, reply, { error: 'A token needs a name (up to 100 characters) and a scope.' }, 400);
    }
    // Empty: never expires; otherwise whole days from 1 to 3650, as in the API (a larger number is no date).
    const days = expires === '' ? 0 : /^\d{1,4}$/.test(expires) ? Number(expires) : Number.NaN;
    if (expires !== '' && !(days >= 1 && days <= 3650)) {
      return tokensPage(
        req,
        reply,
        { error: 'Expires in days: a whole number from 1 to 3650, or empty for never.' },
        400,
      );
    }
    const { token, secret } = await createAccessToken(deps.db, account.id, {
      name,
      scope: scope as TokenScope,
      expiresAt: days > 0 ? new Date(Date.now() + days * 86_400_000).toISOString() : null,
    });
    await audit(deps.db, {
      accountId: account.id,
      action: 'token.create',
      target: token.name,
      detail: { scope, via: 'web' },
      ip: req.ip,
    });
    // The secret is shown once, on this answer only (no redirect: it is never stored in clear).
    return tokensPage(req, reply, { created: { name: token.name, secret } });
  });
  app.post('/settings/tokens/:id/revoke', async (req, reply) => {
    const account = signedIn(req, reply);
    if (!account) return reply;
    const id = Number((req.params as { id: string }).id);
    if (await revokeAccessToken(deps.db, account.id, id)) {
      await audit(deps.db, { accountId: account.id, action: 'token.revoke', target: String(id), ip: req.ip });
    }
    return reply.redirect('/settings', 303);
  });
}
