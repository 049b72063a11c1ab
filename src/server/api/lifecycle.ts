import type { FastifyRequest } from 'fastify';
import { administersNamespace } from '../../hub/permissions.js';
import { namespaceQuota } from '../../hub/quotas.js';
import { getRepository } from '../../hub/repositories.js';
import {
  deletePolicy,
  getPolicy,
  type PolicyOwner,
  type RetentionPolicy,
  type RetentionRun,
  type RunScope,
  runRetention,
  savePolicy,
} from '../../hub/retention.js';
import { namespaceUsage, repositoryUsage, totalsJson, usageJson, usageReport } from '../../hub/usage.js';
import { findNamespace } from '../../metadata/namespaces.js';
import { RegistryError } from '../../registry/errors.js';
import { deleteManifest, parseReference } from '../../registry/manifests.js';
import { auditBy, bodyOf, hub, params } from './hub-common.js';
import { type ApiRoutes, apiFail, type Caller, invalid, notFound, requireAccount, sendJson } from './plumbing.js';
import { actionsOf } from './repositories.js';

// Storage lifecycle routes (issue 11): retention policies of repositories and namespaces with
// their dry runs and runs, and disk usage (unique vs shared bytes) of repositories, namespaces
// and the whole store.

export function policyJson(p: RetentionPolicy | undefined) {
  if (!p) return null;
  return {
    keep_last: p.keepLast,
    keep_patterns: p.keepPatterns,
    protect_patterns: p.protectPatterns,
    remove_unpulled_days: p.removeUnpulledDays,
    updated_at: p.updatedAt,
    last_run_at: p.lastRunAt,
  };
}

export function runJson(run: RetentionRun) {
  return {
    dry_run: run.dryRun,
    started_at: run.startedAt,
    removed: run.removed,
    repositories: run.repositories.map((r) => ({
      repository: r.repository,
      policy: r.policy,
      kept: r.kept,
      removed: r.removed,
      skipped: r.skipped,
    })),
  };
}

/** A policy body: {keep_last, keep_patterns, protect_patterns, remove_unpulled_days}. */
function rulesOf(body: Record<string, unknown>) {
  const known = ['keep_last', 'keep_patterns', 'protect_patterns', 'remove_unpulled_days'];
  for (const key of Object.keys(body)) if (!known.includes(key)) invalid(`unknown field ${key}`);
  const count = (key: string) => {
    const v = body[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number') return invalid(`${key} must be a number or null`);
    return v;
  };
  const list = (key: string) => {
    const v = body[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((p) => typeof p !== 'string')) return invalid(`${key} must be a list of strings`);
    return v as string[];
  };
  return {
    keepLast: count('keep_last'),
    keepPatterns: list('keep_patterns'),
    protectPatterns: list('protect_patterns'),
    removeUnpulledDays: count('remove_unpulled_days'),
  };
}

const isDryRun = (req: FastifyRequest): boolean => {
  const v = (req.query as Record<string, unknown>).dry_run;
  return v === '1' || v === 'true';
};

type RepoParams = { namespace: string; repo: string };

export const lifecycleRoutes: ApiRoutes = (api, ctx) => {
  const actions = actionsOf(ctx);
  const tags = ['lifecycle'];
  const doc = (method: 'get' | 'put' | 'post' | 'delete', path: string, summary: string) =>
    ctx.openapi.add(method, path, { summary, tags, auth: true });

  /** The repository, for a caller who administers it (404 otherwise, as elsewhere). */
  const adminRepository = async (req: FastifyRequest, scope: 'read' | 'admin') => {
    const caller = await requireAccount(ctx, req, scope);
    const p = req.params as RepoParams;
    const view = await hub(getRepository(ctx.db, actions, caller.account, `${p.namespace}/${p.repo}`));
    if (!view.permissions.admin) return notFound('repository');
    return { caller, view };
  };
  const adminNamespace = async (req: FastifyRequest, scope: 'read' | 'admin') => {
    const caller = await requireAccount(ctx, req, scope);
    const name = params(req).namespace ?? '';
    const ns = await findNamespace(ctx.db, name);
    if (!ns || !(await administersNamespace(ctx.db, caller.account, name))) return notFound('namespace');
    return { caller, ns };
  };
  const run = (req: FastifyRequest, caller: Caller, scope: RunScope) =>
    hub(
      runRetention(ctx.registry, scope, {
        dryRun: isDryRun(req),
        actor: { accountId: caller.account.id, username: caller.account.username, ip: req.ip },
      }),
    );
  const save = async (
    req: FastifyRequest,
    caller: Caller,
    owner: PolicyOwner,
    target: string,
    namespaceId: number | null,
  ) => {
    const rules = rulesOf(bodyOf(req));
    const policy = await hub(savePolicy(ctx.db, owner, rules));
    await auditBy(ctx, req, caller, {
      action: 'retention.policy',
      namespaceId,
      target,
      detail: policyJson(policy) ?? {},
    });
    return policy;
  };

  // Repositories.
  api.get<{ Params: RepoParams }>('/repositories/:namespace/:repo/retention', async (req, reply) => {
    const { view } = await adminRepository(req, 'read');
    const ns = await findNamespace(ctx.db, view.namespace);
    sendJson(reply, {
      policy: policyJson(await getPolicy(ctx.db, { repositoryId: view.id })),
      namespace_policy: ns ? policyJson(await getPolicy(ctx.db, { namespaceId: ns.id })) : null,
    });
  });
  doc(
    'get',
    '/repositories/:namespace/:repo/retention',
    "A repository's retention policy, and its namespace's (admin)",
  );
  api.put<{ Params: RepoParams }>('/repositories/:namespace/:repo/retention', async (req, reply) => {
    const { caller, view } = await adminRepository(req, 'admin');
    const ns = await findNamespace(ctx.db, view.namespace);
    const policy = await save(req, caller, { repositoryId: view.id }, view.fullName, ns?.id ?? null);
    sendJson(reply, { policy: policyJson(policy) });
  });
  doc(
    'put',
    '/repositories/:namespace/:repo/retention',
    'Sets the retention policy: {"keep_last":N,"keep_patterns":[…],"protect_patterns":[…],"remove_unpulled_days":D}',
  );
  api.delete<{ Params: RepoParams }>('/repositories/:namespace/:repo/retention', async (req, reply) => {
    const { caller, view } = await adminRepository(req, 'admin');
    if (!(await deletePolicy(ctx.db, { repositoryId: view.id }))) return notFound('retention policy');
    await auditBy(ctx, req, caller, { action: 'retention.policy.delete', target: view.fullName });
    reply.status(204).send();
  });
  doc('delete', '/repositories/:namespace/:repo/retention', 'Removes the repository’s own policy');
  api.post<{ Params: RepoParams }>('/repositories/:namespace/:repo/retention/run', async (req, reply) => {
    const { caller, view } = await adminRepository(req, isDryRun(req) ? 'read' : 'admin');
    sendJson(reply, runJson(await run(req, caller, { repository: view.fullName })));
  });
  doc(
    'post',
    '/repositories/:namespace/:repo/retention/run',
    'Applies the policy now; ?dry_run=1 only lists the tags that would go',
  );

  // Namespaces.
  api.get('/namespaces/:namespace/retention', async (req, reply) => {
    const { ns } = await adminNamespace(req, 'read');
    sendJson(reply, { policy: policyJson(await getPolicy(ctx.db, { namespaceId: ns.id })) });
  });
  doc('get', '/namespaces/:namespace/retention', "A namespace's retention policy (its administrators)");
  api.put('/namespaces/:namespace/retention', async (req, reply) => {
    const { caller, ns } = await adminNamespace(req, 'admin');
    const policy = await save(req, caller, { namespaceId: ns.id }, ns.name, ns.id);
    sendJson(reply, { policy: policyJson(policy) });
  });
  doc(
    'put',
    '/namespaces/:namespace/retention',
    'Sets the policy of every repository of the namespace without one of its own (same body as a repository’s)',
  );
  api.delete('/namespaces/:namespace/retention', async (req, reply) => {
    const { caller, ns } = await adminNamespace(req, 'admin');
    if (!(await deletePolicy(ctx.db, { namespaceId: ns.id }))) return notFound('retention policy');
    await auditBy(ctx, req, caller, { action: 'retention.policy.delete', namespaceId: ns.id, target: ns.name });
    reply.status(204).send();
  });
  doc('delete', '/namespaces/:namespace/retention', 'Removes the namespace’s policy');
  api.post('/namespaces/:namespace/retention/run', async (req, reply) => {
    const { caller, ns } = await adminNamespace(req, isDryRun(req) ? 'read' : 'admin');
    sendJson(reply, runJson(await run(req, caller, { namespace: ns.name })));
  });
  doc(
    'post',
    '/namespaces/:namespace/retention/run',
    'Applies the policies of the namespace’s repositories; ?dry_run=1',
  );

  // Deleting a tag (untags only) or a manifest (and its tags), through the registry's delete: its
  // delete event, webhooks and notifications; the bytes return through garbage collection.
  for (const [kind, path] of [
    ['tag', '/repositories/:namespace/:repo/tags/:reference'],
    ['manifest', '/repositories/:namespace/:repo/manifests/:reference'],
  ] as const) {
    api.delete<{ Params: RepoParams & { reference: string } }>(path, async (req, reply) => {
      const { caller, view } = await adminRepository(req, 'admin');
      const { reference } = req.params;
      if (kind === 'manifest' && !reference.includes(':')) invalid('a manifest is deleted by digest (sha256:…)');
      try {
        await deleteManifest(
          ctx.registry,
          view.fullName,
          kind === 'tag' ? { kind: 'tag', tag: reference } : parseReference(reference),
          {
            actor: caller.account.username,
            addr: req.ip,
            host: req.headers.host ?? '',
            method: 'DELETE',
            userAgent: req.headers['user-agent'] ?? '',
            id: String(req.id),
          },
        );
      } catch (err) {
        if (err instanceof RegistryError) {
          if (err.code === 'MANIFEST_UNKNOWN') return notFound(kind);
          if (err.code === 'UNSUPPORTED') apiFail(405, 'UNSUPPORTED', err.message);
          return invalid(err.message);
        }
        throw err;
      }
      const ns = await findNamespace(ctx.db, view.namespace);
      await auditBy(ctx, req, caller, {
        action: `${kind}.delete`,
        namespaceId: ns?.id ?? null,
        target: `${view.fullName}${kind === 'tag' ? ':' : '@'}${reference}`,
      });
      reply.status(204).send();
    });
    doc(
      'delete',
      path,
      kind === 'tag'
        ? 'Removes a tag (the manifest stays while other tags or digests use it) (admin)'
        : 'Deletes a manifest by digest, with every tag pointing at it (admin)',
    );
  }

  // Usage.
  api.get('/namespaces/:namespace/usage', async (req, reply) => {
    const { ns } = await adminNamespace(req, 'read');
    const u = await namespaceUsage(ctx.db, ns.name);
    const q = await namespaceQuota(ctx.db, ns.name);
    sendJson(reply, {
      namespace: ns.name,
      repositories: u.repositories,
      ...usageJson(u),
      quota_bytes: q?.quotaBytes ?? null,
      plan: q?.plan ?? null,
    });
  });
  doc('get', '/namespaces/:namespace/usage', 'Disk usage of a namespace: unique, shared and total bytes, quota');
  api.get<{ Params: RepoParams }>('/repositories/:namespace/:repo/usage', async (req, reply) => {
    const caller = await requireAccount(ctx, req, 'read');
    const p = req.params;
    const view = await hub(getRepository(ctx.db, actions, caller.account, `${p.namespace}/${p.repo}`));
    sendJson(reply, { repository: view.fullName, ...usageJson(await repositoryUsage(ctx.db, view.id)) });
  });
  doc('get', '/repositories/:namespace/:repo/usage', 'Disk usage of a repository (also in the repository object)');
  api.get('/admin/usage', async (req, reply) => {
    const caller = await requireAccount(ctx, req, 'read');
    if (!caller.account.isAdmin) return notFound('object');
    const report = await usageReport(ctx.db);
    sendJson(reply, {
      ...totalsJson(report.totals),
      namespaces: report.namespaces.map((n) => ({
        namespace: n.namespace,
        repositories: n.repositories,
        ...usageJson(n),
      })),
    });
  });
  doc('get', '/admin/usage', 'The whole store: total bytes and every namespace (administrators)');
};
