import type { FastifyInstance } from 'fastify';
import { collaboratorRoutes } from './collaborators.js';
import { gcRoutes } from './gc.js';
import { lifecycleRoutes } from './lifecycle.js';
import { orgRoutes } from './orgs.js';
import { planRoutes } from './plans.js';
import type { ApiContext, ApiRoutes } from './plumbing.js';
import { mountApi } from './plumbing.js';
import { repositoryRoutes } from './repositories.js';
import { searchApiRoutes } from './search.js';
import { tokenRoutes } from './tokens.js';
import { userRoutes } from './users.js';
import { webhookRoutes } from './webhooks.js';

// The hub API's route modules, one import and one list entry each (paths relative to /api).
// Keep one line per module so that parallel edits do not collide.

export const apiModules: ApiRoutes[] = [
  webhookRoutes,
  repositoryRoutes,
  searchApiRoutes,
  userRoutes,
  orgRoutes,
  collaboratorRoutes,
  tokenRoutes,
  planRoutes,
  lifecycleRoutes,
  gcRoutes,
];

/** Mounts the hub API at /api. */
export async function registerApi(
  app: FastifyInstance,
  ctx: Omit<ApiContext, 'openapi'> & Partial<Pick<ApiContext, 'openapi'>>,
): Promise<void> {
  const { OpenApi } = await import('./plumbing.js');
  const full: ApiContext = { ...ctx, openapi: ctx.openapi ?? new OpenApi() };
  await app.register(async (api) => mountApi(api, full, apiModules), { prefix: '/api' });
}
