// Creating a repository, starring it, and its settings (descriptions, visibility, collaborators,
// webhooks with their delivery log and redelivery, delete). Settings need admin on the repository,
// else 404.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../../../hub/audit.js';
import { listCollaborators, removeCollaborator, setCollaborator } from '../../../hub/collaborators.js';
import { listDeliveries, redeliver } from '../../../hub/deliveries.js';
import { organizationsOf } from '../../../hub/orgs.js';
import { isPermission } from '../../../hub/permissions.js';
import { createRepository, deleteRepository, getRepository, updateRepository } from '../../../hub/repositories.js';
import { star, unstar } from '../../../hub/stars.js';
import { createWebhook, deleteWebhook, getWebhook, listWebhooks } from '../../../hub/webhooks.js';
import { type Account, findAccount } from '../../../metadata/accounts.js';
import { actionsOf, form, NotFound, page, Refusal, signedIn, type UiDeps, userError } from '../context.js';
import { repoName, repoPath } from './repository.js';

/** Which field of the new-repository form a refusal is about, to show it next to that field. */
function fieldOf(message: string): 'name' | 'visibility' | undefined {
  if (/private|plan/i.test(message)) return 'visibility';
  if (/name|exists|taken/i.test(message)) return 'name';
  return undefined;
}

export async function managePages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  const actions = actionsOf(deps);
  /** Audits an action on a repository, with its namespace (as the API does: its owners see it). */
  const record = async (
    req: FastifyRequest,
    account: Account,
    action: string,
    target: string,
    detail?: Record<string, unknown>,
  ) => {
    // A top-level repository (`x`, official `library/x`) has no namespace of its own.
    const slash = target.indexOf('/');
    const ns =
      slash < 0
        ? undefined
        : await deps.db
            .selectFrom('namespaces')
            .select('id')
            .where('name', '=', target.slice(0, slash))
            .executeTakeFirst();
    await audit(deps.db, { accountId: account.id, action, namespaceId: ns?.id ?? null, target, detail, ip: req.ip });
  };

  const newForm = async (req: FastifyRequest, reply: FastifyReply, values: Record<string, unknown>, status = 200) => {
    const account = req.viewer.account;
    if (!account) return reply.redirect('/signin?next=/new', 303);
    const orgs = await organizationsOf(deps.db, account.id);
    const namespaces = [account.username, ...orgs.map((o) => o.name)];
    return page(req, reply, 'new', { title: 'New repository', namespaces, values }, status);
  };

  app.get('/new', async (req, reply) => {
    const ns = new URLSearchParams(req.url.split('?')[1] ?? '').get('namespace') ?? '';
    return newForm(req, reply, { namespace: ns, name: '', description: '', isPrivate: false });
  });
  app.post('/new', async (req, reply) => {
    const account = signedIn(req, reply);
    if (!account) return reply;
    const f = form(req);
    const values = {
      namespace: f.get('namespace') ?? '',
      name: (f.get('name') ?? '').trim(),
      description: f.get('description') ?? '',
      fullDescription: f.get('full_description') ?? '',
      isPrivate: f.get('visibility') === 'private',
    };
    try {
      const repo = await createRepository(deps.db, actions, account, values);
      await record(req, account, 'repository.create', repo.fullName, { private: repo.isPrivate, via: 'web' });
      return reply.redirect(repoPath(repo.fullName), 303);
    } catch (err) {
      const known = userError(err);
      if (!known) throw err;
      return newForm(req, reply, { ...values, error: known.message, errorField: fieldOf(known.message) }, known.status);
    }
  });

  app.post('/r/:ns/:name/star', async (req, reply) => {
    const account = signedIn(req, reply);
    if (!account) return reply;
    const repo = await getRepository(deps.db, actions, account, repoName(req));
    if (form(req).get('star') === 'off') await unstar(deps.db, repo.id, account.id);
    else await star(deps.db, repo.id, account.id);
    return reply.redirect(repoPath(repo.fullName), 303);
  });

  /** The repository when the viewer administers it; 404 otherwise, as for an unknown one. */
  const administered = async (req: FastifyRequest) => {
    const account = req.viewer.account;
    if (!account) throw new NotFound();
    const repo = await getRepository(deps.db, actions, account, repoName(req)).catch(() => undefined);
    if (!repo?.permissions.admin) throw new NotFound();
    return { account, repo };
  };

  /** The organization a repository is in (when it is) and its teams' permissions on it. */
  const teamsOn = async (repositoryId: number, fullName: string) => {
    const slash = fullName.indexOf('/');
    const org =
      slash < 0
        ? undefined
        : await deps.db
            .selectFrom('namespaces')
            .select(['id', 'name'])
            .where('name', '=', fullName.slice(0, slash))
            .where('kind', '=', 'org')
            .executeTakeFirst();
    if (!org) return { orgName: undefined, teams: [] };
    const teams = await deps.db
      .selectFrom('team_permissions as tp')
      .innerJoin('teams as t', 't.id', 'tp.team_id')
      .select(['t.name', 'tp.permission'])
      .where('tp.repository_id', '=', repositoryId)
      .orderBy('t.name')
      .execute();
    return { orgName: org.name, teams };
  };

  const settings = async (req: FastifyRequest, reply: FastifyReply, message: { error?: string } = {}, status = 200) => {
    const { repo } = await administered(req);
    const hooks = [];
    for (const hook of await listWebhooks(deps.db, repo.id)) {
      const deliveries = await listDeliveries(deps.db, hook.id, { offset: 0, limit: 10 });
      hooks.push({ ...hook, deliveries: deliveries.results });
    }
    return page(
      req,
      reply,
      'repo-settings',
      {
        title: `Settings · ${repo.displayName}`,
        repo,
        path: repoPath(repo.fullName),
        hooks,
        collaborators: await listCollaborators(deps.db, repo.id),
        ...(await teamsOn(repo.id, repo.fullName)),
        ...message,
      },
      status,
    );
  };
  /** Runs a settings change; a refusal shows the settings again with its message. */
  const change = async (req: FastifyRequest, reply: FastifyReply, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      const known = userError(err);
      if (!known) throw err;
      return settings(req, reply, { error: known.message }, known.status);
    }
    return reply.redirect(`${repoPath(repoName(req))}/settings`, 303);
  };

  app.get('/r/:ns/:name/settings', async (req, reply) => settings(req, reply));

  app.post('/r/:ns/:name/settings/general', async (req, reply) => {
    const { account, repo } = await administered(req);
    const f = form(req);
    return change(req, reply, async () => {
      // Only the fields the form sends change: a form without `visibility` keeps it (a private
      // repository must not become public because a field was left out).
      const visibility = f.get('visibility');
      if (visibility !== null && visibility !== 'public' && visibility !== 'private') {
        throw new Refusal('visibility is public or private');
      }
      const description = f.get('description');
      const fullDescription = f.get('full_description');
      const { visibilityChanged } = await updateRepository(deps.db, actions, account, repo.fullName, {
        ...(description !== null ? { description } : {}),
        ...(fullDescription !== null ? { fullDescription } : {}),
        ...(visibility !== null ? { isPrivate: visibility === 'private' } : {}),
      });
      if (visibilityChanged) {
        await record(req, account, 'repository.visibility', repo.fullName, {
          private: visibility === 'private',
          via: 'web',
        });
      }
    });
  });

  app.post('/r/:ns/:name/settings/collaborators', async (req, reply) => {
    const { account, repo } = await administered(req);
    const f = form(req);
    return change(req, reply, async () => {
      const who = await findAccount(deps.db, (f.get('username') ?? '').trim());
      if (!who) throw new Refusal(`there is no account ${f.get('username') ?? ''}`);
      const permission = f.get('permission') ?? '';
      if (permission === 'remove') {
        if (await removeCollaborator(deps.db, repo.id, who.id)) {
          await record(req, account, 'collaborator.remove', repo.fullName, { account: who.username, via: 'web' });
        }
        return;
      }
      if (!isPermission(permission)) throw new Refusal('choose read, write or admin');
      await setCollaborator(deps.db, repo.id, who.id, permission);
      await record(req, account, 'collaborator.set', repo.fullName, { account: who.username, permission, via: 'web' });
    });
  });

  app.post('/r/:ns/:name/settings/webhooks', async (req, reply) => {
    const { account, repo } = await administered(req);
    const f = form(req);
    return change(req, reply, async () => {
      const events = f.getAll('events');
      const hook = await createWebhook(
        deps.db,
        repo.id,
        {
          name: (f.get('name') ?? '').trim() || undefined,
          url: (f.get('url') ?? '').trim(),
          secret: f.get('secret') ?? '',
          events: events.length > 0 ? events : ['push'],
        },
        { allowPrivate: deps.allowPrivateWebhooks },
      );
      await record(req, account, 'webhook.create', repo.fullName, { id: hook.id, url: hook.url });
    });
  });

  app.post('/r/:ns/:name/settings/webhooks/:id/delete', async (req, reply) => {
    const { account, repo } = await administered(req);
    const id = Number((req.params as { id: string }).id);
    return change(req, reply, async () => {
      if (await deleteWebhook(deps.db, repo.id, id)) {
        await record(req, account, 'webhook.delete', repo.fullName, { id });
      }
    });
  });

  app.post('/r/:ns/:name/settings/webhooks/:id/deliveries/:delivery/redeliver', async (req, reply) => {
    const { account, repo } = await administered(req);
    const params = req.params as { id: string; delivery: string };
    if (!/^\d{1,15}$/.test(params.id) || !/^\d{1,15}$/.test(params.delivery)) throw new NotFound();
    const hook = await getWebhook(deps.db, repo.id, Number(params.id));
    const delivery = Number(params.delivery);
    // Another repository's webhook or delivery looks like nothing at all.
    const id = hook ? await redeliver(deps.db, hook.id, delivery) : undefined;
    if (!hook || id === undefined) throw new NotFound();
    await record(req, account, 'webhook.redeliver', repo.fullName, {
      id: hook.id,
      delivery,
      new_delivery: id,
      via: 'web',
    });
    return reply.redirect(`${repoPath(repo.fullName)}/settings`, 303);
  });

  app.post('/r/:ns/:name/settings/delete', async (req, reply) => {
    const { account, repo } = await administered(req);
    if (form(req).get('confirm') !== repo.fullName) {
      return settings(req, reply, { error: `Type ${repo.fullName} to confirm the deletion.` }, 400);
    }
    await deleteRepository(deps.db, actions, account, repo.fullName, {
      ...(deps.registry?.events ? { events: deps.registry.events } : {}),
      request: {
        actor: account.username,
        addr: req.ip,
        host: req.headers.host ?? '',
        method: 'DELETE',
        userAgent: req.headers['user-agent'] ?? '',
        id: String(req.id),
      },
    });
    // As the API does: this node's manifest cache must not answer for the deleted repository.
    deps.registry?.manifestCache?.forgetRepository(repo.fullName);
    await record(req, account, 'repository.delete', repo.fullName);
    return reply.redirect(`/u/${account.username}`, 303);
  });
}
