import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { audit } from '../../hub/audit.js';
import { HubError } from '../../hub/errors.js';
import {
  type ActionsOf,
  createRepository,
  deleteRepository,
  getRepository,
  listNamespaceRepositories,
  MAX_DESCRIPTION,
  type RepositoryView,
  updateRepository,
} from '../../hub/repositories.js';
import { hasStarred, star, unstar } from '../../hub/stars.js';
import { getHubTag, listHubTags } from '../../hub/tags.js';
import { repositoryUsage, usageJson } from '../../hub/usage.js';
import type { Account } from '../../metadata/accounts.js';
import {
  type ApiContext,
  type ApiRoutes,
  apiFail,
  callerOf,
  invalid,
  offsetOf,
  pageOf,
  paginate,
  requireAccount,
  sendJson,
} from './plumbing.js';

// Repositories, their tags and stars (Docker Hub's shapes, hub-and-engine.md §1.5).

/** The caller's registry actions; without accounts (auth.mode none/htpasswd) the API only reads. */
export function actionsOf(ctx: ApiContext): ActionsOf {
  const policy = ctx.tokenDeps?.policy;
  if (!policy) return async () => new Set(['pull']);
  return (account, name) => policy.allowedActions(account, name);
}

const HUB_ERRORS: Record<HubError['kind'], [number, string]> = {
  invalid: [400, 'INVALID'],
  not_found: [404, 'NOT_FOUND'],
  conflict: [409, 'CONFLICT'],
  denied: [403, 'DENIED'],
};

/** Hub errors as API errors. */
async function hub<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof HubError) {
      const [status, code] = HUB_ERRORS[err.kind];
      apiFail(status, code, err.message);
    }
    throw err;
  }
}

export function repositoryJson(r: RepositoryView, hasStarredIt: boolean) {
  return {
    user: r.namespace,
    name: r.name,
    namespace: r.namespace,
    repository_type: 'image',
    status: 1,
    status_description: 'Active',
    description: r.description,
    full_description: r.fullDescription,
    is_private: r.isPrivate,
    is_automated: false,
    is_official: r.isOfficial,
    display_name: r.displayName,
    star_count: r.starCount,
    pull_count: r.pullCount,
    last_updated: r.lastPushedAt,
    date_registered: r.createdAt,
    has_starred: hasStarredIt,
    permissions: r.permissions,
  };
}

const createBody = z.object({
  name: z.string().min(1).max(255),
  description: z.string().optional(),
  full_description: z.string().max(100_000).optional(),
  is_private: z.boolean().optional(),
});
const updateBody = z
  .object({
    description: z.string().optional(),
    full_description: z.string().max(100_000).optional(),
    is_private: z.boolean().optional(),
  })
  .strict();

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return invalid(`${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

type RepoParams = { namespace: string; repo: string };
const fullNameOf = (p: RepoParams) => `${p.namespace}/${p.repo}`;

export const repositoryRoutes: ApiRoutes = (api, ctx) => {
  const actions = actionsOf(ctx);
  const accountOf = async (req: FastifyRequest): Promise<Account | undefined> => (await callerOf(ctx, req))?.account;
  const starredBy = async (r: RepositoryView, account: Account | undefined) =>
    account ? hasStarred(ctx.db, r.id, account.id) : false;
  const auditOf = (req: FastifyRequest, account: Account, action: string, target: string, detail = {}) =>
    db_namespaceId(target).then((namespaceId) =>
      audit(ctx.db, { accountId: account.id, action, namespaceId, target, detail, ip: req.ip }),
    );
  const db_namespaceId = async (fullName: string) =>
    (
      await ctx.db
        .selectFrom('namespaces')
        .select('id')
        .where('name', '=', fullName.split('/')[0] ?? '')
        .executeTakeFirst()
    )?.id ?? null;

  const tags = ['repositories'];
  const repoObject = {
    description: 'a repository',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Repository' } } },
  };
  ctx.openapi.schemas.Repository = {
    type: 'object',
    properties: {
      namespace: { type: 'string' },
      name: { type: 'string' },
      description: { type: 'string', maxLength: MAX_DESCRIPTION },
      full_description: { type: 'string', description: 'Markdown' },
      is_private: { type: 'boolean' },
      is_official: { type: 'boolean' },
      star_count: { type: 'integer' },
      pull_count: { type: 'integer' },
      last_updated: { type: ['string', 'null'] },
      has_starred: { type: 'boolean' },
      permissions: { type: 'object' },
    },
  };

  ctx.openapi.add('get', '/repositories/:namespace', {
    summary: "A namespace's repositories (private ones only for callers who may pull them)",
    tags,
    parameters: [
      { name: 'page', in: 'query', schema: { type: 'integer' } },
      { name: 'page_size', in: 'query', schema: { type: 'integer' } },
    ],
  });
  api.get<{ Params: { namespace: string } }>('/repositories/:namespace', async (req, reply) => {
    const p = paginate(req.query);
    const account = await accountOf(req);
    const found = await listNamespaceRepositories(ctx.db, actions, account, req.params.namespace, {
      limit: p.page_size,
      offset: offsetOf(p),
    });
    const results = [];
    for (const r of found.results) results.push(repositoryJson(r, await starredBy(r, account)));
    sendJson(reply, pageOf(req, p, found.count, results));
  });

  ctx.openapi.add('post', '/repositories/:namespace', {
    summary: 'Creates a repository (private ones within the plan of the namespace)',
    tags,
    auth: true,
    requestBody: {
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string' },
              description: { type: 'string', maxLength: MAX_DESCRIPTION },
              full_description: { type: 'string' },
              is_private: { type: 'boolean' },
            },
          },
        },
      },
    },
    responses: {
      '201': repoObject,
      '403': { description: 'not allowed, or over the plan (DENIED with the plan message)' },
      '409': { description: 'exists' },
    },
  });
  api.post<{ Params: { namespace: string } }>('/repositories/:namespace', async (req, reply) => {
    const caller = await requireAccount(ctx, req, 'read-write');
    const body = parseBody(createBody, req.body);
    const view = await hub(
      createRepository(ctx.db, actions, caller.account, {
        namespace: req.params.namespace,
        name: body.name,
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.full_description !== undefined ? { fullDescription: body.full_description } : {}),
        ...(body.is_private !== undefined ? { isPrivate: body.is_private } : {}),
      }),
    );
    await auditOf(req, caller.account, 'repository.create', view.fullName, { is_private: view.isPrivate });
    sendJson(reply, repositoryJson(view, false), 201);
  });

  ctx.openapi.add('get', '/repositories/:namespace/:repo', {
    summary: 'A repository (404 when unknown or not visible)',
    tags,
    responses: { '200': repoObject },
  });
  api.get<{ Params: RepoParams }>('/repositories/:namespace/:repo', async (req, reply) => {
    const account = await accountOf(req);
    const view = await hub(getRepository(ctx.db, actions, account, fullNameOf(req.params)));
    // Disk usage: the bytes only this repository holds, those shared with others (hub/usage.ts).
    const storage = usageJson(await repositoryUsage(ctx.db, view.id));
    // A pull-through cache repository says where it comes from (never the remote's credentials).
    const origin = await ctx.proxy?.originOf(view.fullName);
    sendJson(reply, {
      ...repositoryJson(view, await starredBy(view, account)),
      storage,
      ...(origin ? { proxy_origin: origin } : {}),
    });
  });

  ctx.openapi.add('patch', '/repositories/:namespace/:repo', {
    summary: 'Changes descriptions (write) or visibility (admin; private within the plan)',
    tags,
    auth: true,
    responses: { '200': repoObject },
  });
  api.patch<{ Params: RepoParams }>('/repositories/:namespace/:repo', async (req, reply) => {
    const body = parseBody(updateBody, req.body);
    const caller = await requireAccount(ctx, req, body.is_private !== undefined ? 'admin' : 'read-write');
    const { view, visibilityChanged } = await hub(
      updateRepository(ctx.db, actions, caller.account, fullNameOf(req.params), {
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.full_description !== undefined ? { fullDescription: body.full_description } : {}),
        ...(body.is_private !== undefined ? { isPrivate: body.is_private } : {}),
      }),
    );
    if (visibilityChanged) {
      await auditOf(req, caller.account, 'repository.visibility', view.fullName, {
        visibility: view.isPrivate ? 'private' : 'public',
      });
    }
    sendJson(reply, repositoryJson(view, await starredBy(view, caller.account)));
  });

  ctx.openapi.add('delete', '/repositories/:namespace/:repo', {
    summary: 'Deletes a repository with its tags and manifests (admin)',
    tags,
    auth: true,
    responses: { '204': { description: 'deleted' } },
  });
  api.delete<{ Params: RepoParams }>('/repositories/:namespace/:repo', async (req, reply) => {
    const caller = await requireAccount(ctx, req, 'admin');
    const fullName = fullNameOf(req.params);
    const namespaceId = await db_namespaceId(fullName);
    await hub(
      deleteRepository(ctx.db, actions, caller.account, fullName, {
        ...(ctx.registry.events ? { events: ctx.registry.events } : {}),
        request: {
          actor: caller.account.username,
          addr: req.ip,
          host: req.headers.host ?? '',
          method: req.method,
          userAgent: req.headers['user-agent'] ?? '',
          id: String(req.id),
        },
      }),
    );
    ctx.registry.manifestCache?.forgetRepository(fullName);
    await audit(ctx.db, {
      accountId: caller.account.id,
      action: 'repository.delete',
      namespaceId,
      target: fullName,
      ip: req.ip,
    });
    reply.status(204).send();
  });

  ctx.openapi.add('get', '/repositories/:namespace/:repo/tags', {
    summary: "Tags in Docker Hub's shape: images[] per platform, compressed sizes, own and shared size",
    tags,
    parameters: [
      { name: 'page', in: 'query', schema: { type: 'integer' } },
      { name: 'page_size', in: 'query', schema: { type: 'integer' } },
    ],
  });
  api.get<{ Params: RepoParams }>('/repositories/:namespace/:repo/tags', async (req, reply) => {
    const p = paginate(req.query);
    const view = await hub(getRepository(ctx.db, actions, await accountOf(req), fullNameOf(req.params)));
    const found = await listHubTags(ctx.db, ctx.registry.storage, view.id, { limit: p.page_size, offset: offsetOf(p) });
    sendJson(reply, pageOf(req, p, found.count, found.results));
  });

  ctx.openapi.add('get', '/repositories/:namespace/:repo/tags/:tag', { summary: 'One tag', tags });
  api.get<{ Params: RepoParams & { tag: string } }>('/repositories/:namespace/:repo/tags/:tag', async (req, reply) => {
    const view = await hub(getRepository(ctx.db, actions, await accountOf(req), fullNameOf(req.params)));
    const tag = await getHubTag(ctx.db, ctx.registry.storage, view.id, req.params.tag);
    if (!tag) apiFail(404, 'NOT_FOUND', 'tag not found');
    sendJson(reply, tag);
  });

  for (const method of ['post', 'delete'] as const) {
    ctx.openapi.add(method, '/repositories/:namespace/:repo/star', {
      summary: method === 'post' ? 'Stars a repository' : 'Removes the star',
      tags,
      auth: true,
    });
    api[method]<{ Params: RepoParams }>('/repositories/:namespace/:repo/star', async (req, reply) => {
      const caller = await requireAccount(ctx, req, 'read-write');
      const view = await hub(getRepository(ctx.db, actions, caller.account, fullNameOf(req.params)));
      const count = await (method === 'post' ? star : unstar)(ctx.db, view.id, caller.account.id);
      sendJson(reply, { star_count: count, has_starred: method === 'post' });
    });
  }
};
