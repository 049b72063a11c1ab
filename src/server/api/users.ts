import { organizationsOf } from '../../hub/orgs.js';
import { findAccount } from '../../metadata/accounts.js';
import { findNamespace } from '../../metadata/namespaces.js';
import { params } from './hub-common.js';
import { type ApiRoutes, notFound, requireAccount, sendJson } from './plumbing.js';

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
};
