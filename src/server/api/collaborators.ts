import type { FastifyRequest } from 'fastify';
import { listCollaborators, removeCollaborator, setCollaborator } from '../../hub/collaborators.js';
import { requireUser } from '../../hub/namespaces.js';
import { includes, isPermission, repositoryPermission } from '../../hub/permissions.js';
import { findNamespace } from '../../metadata/namespaces.js';
import { findRepository } from '../../metadata/repositories.js';
import { auditBy, bodyOf, hub, params } from './hub-common.js';
import { type ApiContext, type ApiRoutes, apiFail, invalid, notFound, requireAccount, sendJson } from './plumbing.js';

/** The repository of the path and the caller, who must administer it (404 when they may not see it, 403 else). */
async function administered(ctx: ApiContext, req: FastifyRequest, scope: 'read' | 'admin') {
  const caller = await requireAccount(ctx, req, scope);
  const name = `${params(req).namespace ?? ''}/${params(req).repo ?? ''}`;
  const held = await repositoryPermission(ctx.db, caller.account, name);
  const repo = held ? await findRepository(ctx.db, name) : undefined;
  if (!held || !repo) return notFound('repository');
  if (!includes(held, 'admin'))
    apiFail(403, 'DENIED', 'only administrators of the repository may manage its collaborators');
  const ns = await findNamespace(ctx.db, params(req).namespace ?? '');
  return { caller, repo, namespaceId: ns?.id ?? null };
}

/** A repository's collaborators (accounts with read, write or admin on it). */
export const collaboratorRoutes: ApiRoutes = (api, ctx) => {
  const base = '/repositories/:namespace/:repo/collaborators';
  api.get(base, async (req, reply) => {
    const { repo } = await administered(ctx, req, 'read');
    const list = await listCollaborators(ctx.db, repo.id);
    sendJson(reply, {
      count: list.length,
      results: list.map((c) => ({ username: c.username, permission: c.permission, added: c.createdAt })),
    });
  });
  ctx.openapi.add('get', base, {
    summary: "A repository's collaborators (repository admins)",
    tags: ['collaborators'],
    auth: true,
  });

  api.put(`${base}/:user`, async (req, reply) => {
    const { caller, repo, namespaceId } = await administered(ctx, req, 'admin');
    const user = await hub(requireUser(ctx.db, params(req).user ?? ''));
    const permission = bodyOf(req).permission;
    if (!isPermission(permission)) return invalid('permission must be read, write or admin');
    await setCollaborator(ctx.db, repo.id, user.id, permission);
    await auditBy(ctx, req, caller, {
      action: 'collaborator.set',
      namespaceId,
      target: repo.name,
      detail: { user: user.username, permission },
    });
    sendJson(reply, { username: user.username, permission });
  });
  ctx.openapi.add('put', `${base}/:user`, {
    summary: 'Add a collaborator or change their permission: {"permission":"read"|"write"|"admin"}',
    tags: ['collaborators'],
    auth: true,
  });

  api.delete(`${base}/:user`, async (req, reply) => {
    const { caller, repo, namespaceId } = await administered(ctx, req, 'admin');
    const user = await hub(requireUser(ctx.db, params(req).user ?? ''));
    if (!(await removeCollaborator(ctx.db, repo.id, user.id))) return notFound('collaborator');
    await auditBy(ctx, req, caller, {
      action: 'collaborator.remove',
      namespaceId,
      target: repo.name,
      detail: { user: user.username },
    });
    reply.status(204).send();
  });
  ctx.openapi.add('delete', `${base}/:user`, { summary: 'Remove a collaborator', tags: ['collaborators'], auth: true });
};
