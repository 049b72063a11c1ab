import type { FastifyRequest } from 'fastify';
import { audit } from '../../hub/audit.js';
import { listDeliveries, redeliver } from '../../hub/deliveries.js';
import { includes, repositoryPermission } from '../../hub/permissions.js';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listWebhooks,
  updateWebhook,
  type Webhook,
  WebhookError,
  type WebhookInput,
} from '../../hub/webhooks.js';
import { findRepositoryId } from '../../metadata/repositories.js';
import {
  type ApiContext,
  type ApiRoutes,
  type CallerScope,
  invalid,
  notFound,
  offsetOf,
  pageOf,
  paginate,
  requireAccount,
  sendJson,
} from './plumbing.js';

// Repository webhooks and their delivery history (docs/hub-webhooks.md). Everything here needs
// admin permission on the repository; anyone else gets the same 404 as for a missing repository.

type RepoParams = { namespace: string; repository: string };
type HookParams = RepoParams & { id: string };

const BASE = '/repositories/:namespace/:repository/webhooks';

function view(h: Webhook) {
  return {
    id: h.id,
    name: h.name,
    url: h.url,
    events: h.events,
    active: h.active,
    has_secret: h.hasSecret,
    created_at: h.createdAt,
  };
}

function bodyOf(req: FastifyRequest): WebhookInput {
  const b = req.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return invalid('the body must be a JSON object');
  const o = b as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return invalid(`${k} must be a string`);
    return v;
  };
  const events = o.events;
  if (events !== undefined && !(Array.isArray(events) && events.every((e) => typeof e === 'string')))
    invalid('events must be a list of strings (push, delete)');
  if (o.active !== undefined && typeof o.active !== 'boolean') invalid('active must be true or false');
  return {
    name: str('name'),
    url: str('url'),
    secret: str('secret'),
    events: events as string[] | undefined,
    active: o.active as boolean | undefined,
  };
}

export const webhookRoutes: ApiRoutes = (api, ctx) => {
  const allowPrivate = ctx.config.webhooks.allow_private_targets;

  /** The repository and the caller, who must administer it (404 when they may not see it at all). */
  const authorize = async (req: FastifyRequest<{ Params: RepoParams }>, scope: CallerScope) => {
    const caller = await requireAccount(ctx, req, scope);
    const { namespace, repository } = req.params;
    const full = `${namespace}/${repository}`;
    // Official images: `library/x` is the top-level `x`.
    const name = namespace === 'library' && (await findRepositoryId(ctx.db, full)) === undefined ? repository : full;
    const held = await repositoryPermission(ctx.db, caller.account, name);
    const id = held === undefined ? undefined : await findRepositoryId(ctx.db, name);
    // Settings of someone else's repository look like nothing at all, as in the UI.
    if (held === undefined || id === undefined || !includes(held, 'admin')) return notFound('repository');
    const ns = await ctx.db.selectFrom('namespaces').select('id').where('name', '=', namespace).executeTakeFirst();
    const record = (action: string, detail: Record<string, unknown>) =>
      audit(ctx.db, {
        accountId: caller.account.id,
        action,
        namespaceId: ns?.id ?? null,
        target: name,
        detail,
        ip: req.ip,
      });
    return { caller, name, repositoryId: id, record };
  };

  const hookOf = async (repositoryId: number, raw: string): Promise<Webhook> => {
    const id = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    const hook = Number.isSafeInteger(id) ? await getWebhook(ctx.db, repositoryId, id) : undefined;
    return hook ?? notFound('webhook');
  };

  /** Target and field checks answer 400 with the reason. */
  const checked = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof WebhookError) return invalid(err.message);
      throw err;
    }
  };

  api.get<{ Params: RepoParams }>(BASE, async (req, reply) => {
    const { repositoryId } = await authorize(req, 'read');
    const page = paginate(req.query);
    const all = await listWebhooks(ctx.db, repositoryId);
    const results = all.slice(offsetOf(page), offsetOf(page) + page.page_size).map(view);
    sendJson(reply, pageOf(req, page, all.length, results));
  });

  api.post<{ Params: RepoParams }>(BASE, async (req, reply) => {
    const { repositoryId, record } = await authorize(req, 'read-write');
    const input = bodyOf(req);
    const hook = await checked(() => createWebhook(ctx.db, repositoryId, input, { allowPrivate }));
    await record('webhook.create', { id: hook.id, url: hook.url, events: hook.events, signed: hook.hasSecret });
    sendJson(reply, view(hook), 201);
  });

  api.get<{ Params: HookParams }>(`${BASE}/:id`, async (req, reply) => {
    const { repositoryId } = await authorize(req, 'read');
    sendJson(reply, view(await hookOf(repositoryId, req.params.id)));
  });

  api.patch<{ Params: HookParams }>(`${BASE}/:id`, async (req, reply) => {
    const { repositoryId, record } = await authorize(req, 'read-write');
    const hook = await hookOf(repositoryId, req.params.id);
    const input = bodyOf(req);
    const updated = await checked(() => updateWebhook(ctx.db, repositoryId, hook.id, input, { allowPrivate }));
    if (!updated) return notFound('webhook');
    await record('webhook.update', {
      id: hook.id,
      changed: Object.keys(input).filter((k) => input[k as keyof WebhookInput] !== undefined),
    });
    sendJson(reply, view(updated));
  });

  api.delete<{ Params: HookParams }>(`${BASE}/:id`, async (req, reply) => {
    const { repositoryId, record } = await authorize(req, 'admin');
    const hook = await hookOf(repositoryId, req.params.id);
    await deleteWebhook(ctx.db, repositoryId, hook.id);
    await record('webhook.delete', { id: hook.id, url: hook.url });
    reply.status(204).send();
  });

  api.get<{ Params: HookParams }>(`${BASE}/:id/deliveries`, async (req, reply) => {
    const { repositoryId } = await authorize(req, 'read');
    const hook = await hookOf(repositoryId, req.params.id);
    const page = paginate(req.query);
    const { count, results } = await listDeliveries(ctx.db, hook.id, { offset: offsetOf(page), limit: page.page_size });
    sendJson(reply, pageOf(req, page, count, results));
  });

  api.post<{ Params: HookParams & { delivery: string } }>(
    `${BASE}/:id/deliveries/:delivery/redeliver`,
    async (req, reply) => {
      const { repositoryId, record } = await authorize(req, 'read-write');
      const hook = await hookOf(repositoryId, req.params.id);
      const deliveryId = /^\d+$/.test(req.params.delivery) ? Number(req.params.delivery) : Number.NaN;
      const id = Number.isSafeInteger(deliveryId) ? await redeliver(ctx.db, hook.id, deliveryId) : undefined;
      if (id === undefined) return notFound('delivery');
      await record('webhook.redeliver', { id: hook.id, delivery: deliveryId, new_delivery: id });
      sendJson(reply, { id, status: 'pending' }, 202);
    },
  );

  describe(ctx);
};

function describe(ctx: ApiContext): void {
  const tags = ['webhooks'];
  const hookBody = {
    required: true,
    content: {
      'application/json': {
        schema: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            url: {
              type: 'string',
              description: 'http:// or https://; private addresses need webhooks.allow_private_targets',
            },
            secret: { type: 'string', description: 'HMAC-SHA256 key of the X-Wharf-Signature-256 header; "" for none' },
            events: { type: 'array', items: { type: 'string', enum: ['push', 'delete'] }, default: ['push'] },
            active: { type: 'boolean', default: true },
          },
        },
      },
    },
  };
  const notFoundResponse = { '404': { description: 'no such repository or webhook, or not yours to administer' } };
  ctx.openapi.add('get', BASE, {
    summary: "List a repository's webhooks (admin permission)",
    tags,
    auth: true,
    responses: { '200': { description: 'a page of webhooks' }, ...notFoundResponse },
  });
  ctx.openapi.add('post', BASE, {
    summary: 'Create a webhook',
    tags,
    auth: true,
    requestBody: hookBody,
    responses: {
      '201': { description: 'the webhook' },
      '400': { description: 'invalid target or fields' },
      ...notFoundResponse,
    },
  });
  ctx.openapi.add('get', `${BASE}/:id`, { summary: 'One webhook', tags, auth: true, responses: notFoundResponse });
  ctx.openapi.add('patch', `${BASE}/:id`, {
    summary: 'Change a webhook (given fields only)',
    tags,
    auth: true,
    requestBody: hookBody,
    responses: { '200': { description: 'the webhook' }, '400': { description: 'invalid' }, ...notFoundResponse },
  });
  ctx.openapi.add('delete', `${BASE}/:id`, {
    summary: 'Delete a webhook and its delivery history',
    tags,
    auth: true,
    responses: { '204': { description: 'deleted' }, ...notFoundResponse },
  });
  ctx.openapi.add('get', `${BASE}/:id/deliveries`, {
    summary: "A webhook's deliveries, newest first, each with every attempt (status code, duration, error)",
    tags,
    auth: true,
    responses: { '200': { description: 'a page of deliveries' }, ...notFoundResponse },
  });
  ctx.openapi.add('post', `${BASE}/:id/deliveries/:delivery/redeliver`, {
    summary: "Send a delivery's payload again, as a new delivery",
    tags,
    auth: true,
    responses: { '202': { description: 'queued' }, ...notFoundResponse },
  });
}
