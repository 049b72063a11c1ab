import type { FastifyRequest } from 'fastify';
import { gcReportJson, gcStatus, runGcNow } from '../gc-status.js';
import { type ApiContext, type ApiRoutes, apiFail, notFound, requireAccount, sendJson } from './plumbing.js';

/** Administrators only; others get 404 so that admin endpoints do not advertise themselves. */
async function requireAdmin(ctx: ApiContext, req: FastifyRequest, scope: 'read' | 'admin') {
  const caller = await requireAccount(ctx, req, scope);
  if (!caller.account.isAdmin) return notFound('object');
  return caller;
}

/** The garbage collector: queue health and history (GET), run now or dry run (POST). */
export const gcRoutes: ApiRoutes = (api, ctx) => {
  api.get('/admin/gc', async (req, reply) => {
    await requireAdmin(ctx, req, 'read');
    sendJson(reply, await gcStatus(ctx.registry, ctx.config));
  });
  ctx.openapi.add('get', '/admin/gc', {
    summary: "The garbage collector's queues (due, overdue, retried), failing items and last runs (administrators)",
    tags: ['admin'],
    auth: true,
  });

  api.post('/admin/gc', async (req, reply) => {
    await requireAdmin(ctx, req, 'admin');
    const q = req.query as Record<string, string | undefined>;
    const flag = q.dry_run;
    if (flag !== undefined && flag !== 'true' && flag !== 'false' && flag !== '1' && flag !== '0')
      apiFail(400, 'INVALID', 'dry_run must be true or false');
    const dryRun = flag === 'true' || flag === '1';
    const report = await runGcNow(ctx.registry, ctx.config, { dryRun, trigger: 'api' });
    sendJson(reply, gcReportJson(report));
  });
  ctx.openapi.add('post', '/admin/gc', {
    summary: 'Run garbage collection now; ?dry_run=true reports what would go (administrators)',
    tags: ['admin'],
    auth: true,
  });
};
