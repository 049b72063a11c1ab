import type { FastifyRequest } from 'fastify';
import { listAudit } from '../../hub/audit.js';
import { setOfficial } from '../../hub/official.js';
import { assignPlan, listPlans, type Plan, planUsage, savePlan } from '../../hub/plans.js';
import { namespaceQuota, parseByteSize } from '../../hub/quotas.js';
import { findNamespace } from '../../metadata/namespaces.js';
import { auditBy, bodyOf, hub, params, stringField } from './hub-common.js';
import { auditJson } from './orgs.js';
import {
  type ApiContext,
  type ApiRoutes,
  invalid,
  notFound,
  offsetOf,
  pageOf,
  paginate,
  requireAccount,
  sendJson,
} from './plumbing.js';

/** Administrators only; others get 404 so that admin endpoints do not advertise themselves. */
async function requireAdmin(ctx: ApiContext, req: FastifyRequest, scope: 'read' | 'admin') {
  const caller = await requireAccount(ctx, req, scope);
  if (!caller.account.isAdmin) return notFound('object');
  return caller;
}

const planJson = (p: Plan) => ({
  name: p.name,
  private_repos: p.privateRepos,
  quota_bytes: p.quotaBytes,
  created_at: p.createdAt,
});

/** `quota_bytes` of a plan body: bytes, a size text ("10MiB"), null (none) or absent (unchanged). */
function quotaOf(value: unknown): number | null | undefined {
  if (value === undefined || value === null) return value;
  const bytes = typeof value === 'number' ? value : typeof value === 'string' ? parseByteSize(value) : undefined;
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 0)
    return invalid('quota_bytes must be a number of bytes, a size such as "10MiB", or null');
  return bytes;
}

/** Plans and their assignment, official marks and the whole audit log: administrators' routes. */
export const planRoutes: ApiRoutes = (api, ctx) => {
  const doc = (method: 'get' | 'put', path: string, summary: string) =>
    ctx.openapi.add(method, path, { summary, tags: ['admin'], auth: true });

  api.get('/plans', async (req, reply) => {
    await requireAdmin(ctx, req, 'read');
    const plans = await listPlans(ctx.db);
    sendJson(reply, {
      count: plans.length,
      results: plans.map(planJson),
    });
  });
  doc('get', '/plans', 'The plans (administrators)');

  api.put('/plans/:name', async (req, reply) => {
    const caller = await requireAdmin(ctx, req, 'admin');
    const body = bodyOf(req);
    const n = body.private_repos;
    if (typeof n !== 'number') invalid('private_repos must be a number');
    const quota = quotaOf(body.quota_bytes);
    const plan = await hub(savePlan(ctx.db, params(req).name ?? '', n as number, quota));
    await auditBy(ctx, req, caller, {
      action: 'plan.save',
      target: plan.name,
      detail: { private_repos: plan.privateRepos, quota_bytes: plan.quotaBytes },
    });
    sendJson(reply, planJson(plan));
  });
  doc(
    'put',
    '/plans/:name',
    'Create a plan or change it: {"private_repos":N, "quota_bytes":BYTES|"10MiB"|null} (administrators)',
  );

  api.get('/namespaces/:namespace/plan', async (req, reply) => {
    await requireAdmin(ctx, req, 'read');
    const ns = await findNamespace(ctx.db, params(req).namespace ?? '');
    if (!ns) return notFound('namespace');
    const u = await hub(planUsage(ctx.db, ns.id));
    const q = await namespaceQuota(ctx.db, ns.name);
    sendJson(reply, {
      plan: u.plan,
      private_repos: u.privateRepos,
      private_repos_used: u.privateReposUsed,
      quota_bytes: q?.quotaBytes ?? null,
      storage_used_bytes: q?.usedBytes ?? 0,
    });
  });
  doc('get', '/namespaces/:namespace/plan', "A namespace's plan and its use (administrators)");

  api.put('/namespaces/:namespace/plan', async (req, reply) => {
    const caller = await requireAdmin(ctx, req, 'admin');
    const name = params(req).namespace ?? '';
    const plan = stringField(bodyOf(req), 'plan', true);
    await hub(assignPlan(ctx.db, name, plan));
    const ns = await findNamespace(ctx.db, name);
    await auditBy(ctx, req, caller, {
      action: 'plan.assign',
      namespaceId: ns?.id ?? null,
      target: name,
      detail: { plan },
    });
    const u = await hub(planUsage(ctx.db, ns?.id ?? 0));
    sendJson(reply, { plan: u.plan, private_repos: u.privateRepos, private_repos_used: u.privateReposUsed });
  });
  doc('put', '/namespaces/:namespace/plan', 'Put a namespace on a plan: {"plan":"NAME"} (administrators)');

  api.put('/official/:namespace/:repo', async (req, reply) => {
    const caller = await requireAdmin(ctx, req, 'admin');
    const name = `${params(req).namespace}/${params(req).repo}`;
    const on = bodyOf(req).is_official;
    if (typeof on !== 'boolean') invalid('is_official must be true or false');
    if (!(await setOfficial(ctx.db, name, on as boolean))) return notFound('repository');
    await auditBy(ctx, req, caller, { action: 'repository.official', target: name, detail: { is_official: on } });
    sendJson(reply, { name, is_official: on });
  });
  doc(
    'put',
    '/official/:namespace/:repo',
    'Mark a repository official or not: {"is_official":true|false} (administrators)',
  );

  api.get('/audit', async (req, reply) => {
    await requireAdmin(ctx, req, 'read');
    const p = paginate(req.query);
    const action = (req.query as Record<string, unknown>).action;
    const { count, entries } = await listAudit(ctx.db, {
      ...(typeof action === 'string' && action ? { action } : {}),
      limit: p.page_size,
      offset: offsetOf(p),
    });
    sendJson(reply, pageOf(req, p, count, entries.map(auditJson)));
  });
  doc('get', '/audit', 'The audit log, newest first; ?action= filters by prefix (administrators)');
};
