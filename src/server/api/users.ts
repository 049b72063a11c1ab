import { updateNamespace } from '../../hub/namespaces.js';
import { organizationsOf } from '../../hub/orgs.js';
import { findAccount } from '../../metadata/accounts.js';
import { findNamespace } from '../../metadata/namespaces.js';
import { auditBy, bodyOf, params, stringField } from './hub-common.js';
import { type ApiRoutes, invalid, notFound, requireAccount, sendJson } from './plumbing.js';

/** GET /api/users/{name} (public profile) and GET /api/user (the caller). */
export const userRoutes: ApiRoutes = (api, ctx) => {
  api.get('/users/:name', async (req, reply) => {
    const account = await findAccount(ctx.db, params(req).name ?? '');
    if (!account || account.disabled) return notFound('user');
    const ns = await findNamespace(ctx.db, account.username);
    sendJson(reply, {
      id: account.id,
      username: account.username,
      full_name: ns?.fullName ?? '',
      type: 'User',
      date_joined: account.createdAt,
    });
  });
  ctx.openapi.add('get', '/users/:name', { summary: "A user's public profile", tags: ['users'] });

  api.get('/user', async (req, reply) => {
    const { account, scope, via } = await requireAccount(ctx, req);
    sendJson(reply, {
      id: account.id,
      username: account.username,
      is_admin: account.isAdmin,
      date_joined: account.createdAt,
      orgs: await organizationsOf(ctx.db, account.id),
      credential: { via, scope },
    });
  });
  ctx.openapi.add('get', '/user', {
    summary: 'The signed-in caller, with its organizations',
    tags: ['users'],
    auth: true,
  });

  api.patch('/user', async (req, reply) => {
    const caller = await requireAccount(ctx, req, 'admin');
    const body = bodyOf(req);
    const fullName = stringField(body, 'full_name');
    const dv = stringField(body, 'default_visibility');
    if (dv !== undefined && dv !== 'public' && dv !== 'private')
      invalid('default_visibility must be public or private');
    const ns = await findNamespace(ctx.db, caller.account.username);
    if (!ns) return notFound('namespace');
    await updateNamespace(ctx.db, ns.id, {
      ...(fullName !== undefined ? { fullName } : {}),
      ...(dv !== undefined ? { defaultVisibility: dv as 'public' | 'private' } : {}),
    });
    await auditBy(ctx, req, caller, {
      action: 'namespace.update',
      namespaceId: ns.id,
      target: ns.name,
      detail: { full_name: fullName, default_visibility: dv },
    });
    const now = await findNamespace(ctx.db, ns.name);
    sendJson(reply, {
      username: ns.name,
      full_name: now?.fullName ?? '',
      default_visibility: now?.defaultVisibility ?? 'public',
    });
  });
  ctx.openapi.add('patch', '/user', {
    summary: "Change the caller's full name or the default visibility of repositories created by a push",
    tags: ['users'],
    auth: true,
  });
};
