// Storage pages (issue 11): a repository's and a namespace's disk usage (unique vs shared bytes)
// and their retention policy, whose dry run is always shown before the button that applies it.
// Repository: its administrators; namespace: the user, the organization's owners, admins.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../../../hub/audit.js';
import { administersNamespace } from '../../../hub/permissions.js';
import { formatBytes, namespaceQuota } from '../../../hub/quotas.js';
import { getRepository, listNamespaceRepositories } from '../../../hub/repositories.js';
import {
  effectivePolicy,
  getPolicy,
  type PolicyOwner,
  type RetentionRun,
  type RunScope,
  runRetention,
  savePolicy,
} from '../../../hub/retention.js';
import { namespaceUsage, repositoryUsage } from '../../../hub/usage.js';
import { findNamespace } from '../../../metadata/namespaces.js';
import { RegistryError } from '../../../registry/errors.js';
import { deleteManifest } from '../../../registry/manifests.js';
import { actionsOf, form, NotFound, page, Refusal, type UiDeps, userError } from '../context.js';
import { repoName, repoPath } from './repository.js';

/** Patterns typed as "v*, release-*" or one per line. */
const patternList = (text: string | null): string[] =>
  (text ?? '')
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter(Boolean);

const countField = (text: string | null, what: string): number | null => {
  const t = (text ?? '').trim();
  if (t === '') return null;
  if (!/^\d+$/.test(t)) throw new Refusal(`${what} must be a whole number (or empty)`);
  return Number(t);
};

export async function lifecyclePages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  const actions = actionsOf(deps);

  const administeredRepo = async (req: FastifyRequest) => {
    const account = req.viewer.account;
    if (!account) throw new NotFound();
    const repo = await getRepository(deps.db, actions, account, repoName(req)).catch(() => undefined);
    if (!repo?.permissions.admin) throw new NotFound();
    return { account, repo };
  };
  const administeredNamespace = async (req: FastifyRequest) => {
    const account = req.viewer.account;
    const name = (req.params as { name: string }).name;
    const ns = await findNamespace(deps.db, name);
    if (!account || !ns || !(await administersNamespace(deps.db, account, name))) throw new NotFound();
    return { account, ns };
  };
  const registry = () => {
    if (!deps.registry) throw new Refusal('retention runs need the registry');
    return deps.registry;
  };
  const dryRun = (scope: RunScope) => runRetention(registry(), scope, { dryRun: true });

  type Target = { kind: 'repository'; name: string; id: number } | { kind: 'namespace'; name: string; id: number };

  const render = async (
    req: FastifyRequest,
    reply: FastifyReply,
    target: Target,
    extra: { error?: string; ran?: RetentionRun } = {},
    status = 200,
  ) => {
    const isRepo = target.kind === 'repository';
    const owner: PolicyOwner = isRepo ? { repositoryId: target.id } : { namespaceId: target.id };
    const policy = await getPolicy(deps.db, owner);
    const inherited = isRepo ? await effectivePolicy(deps.db, { id: target.id, name: target.name }) : undefined;
    const usage = isRepo ? await repositoryUsage(deps.db, target.id) : await namespaceUsage(deps.db, target.name);
    const quota = isRepo ? undefined : await namespaceQuota(deps.db, target.name);
    const repositories = isRepo
      ? []
      : await Promise.all(
          (
            await listNamespaceRepositories(deps.db, actions, req.viewer.account, target.name, {
              limit: 100,
              offset: 0,
            })
          ).results.map(async (r) => ({
            name: r.fullName,
            path: repoPath(r.fullName),
            usage: await repositoryUsage(deps.db, r.id),
          })),
        );
    const scope: RunScope = isRepo ? { repository: target.name } : { namespace: target.name };
    const base = isRepo ? `${repoPath(target.name)}/settings` : `/u/${target.name}/storage`;
    return page(
      req,
      reply,
      'storage',
      {
        title: `Storage · ${target.name}`,
        target,
        back: isRepo ? repoPath(target.name) : `/u/${target.name}`,
        action: isRepo ? `${base}/retention` : `${base}/retention`,
        policy,
        inheritedFrom: inherited?.source === 'namespace' ? inherited.policy : undefined,
        usage,
        quota,
        repositories,
        preview: extra.ran ? undefined : await dryRun(scope),
        ran: extra.ran,
        error: extra.error,
        size: formatBytes,
      },
      status,
    );
  };

  /** Applies a policy now (the button under its dry run) and shows the page with what it removed. */
  const runNow = async (
    req: FastifyRequest,
    reply: FastifyReply,
    account: { id: number; username: string },
    target: Target,
    scope: RunScope,
  ) => {
    let ran: RetentionRun | undefined;
    const failed = await attempt(
      async () => {
        ran = await runRetention(registry(), scope, {
          dryRun: false,
          actor: { accountId: account.id, username: account.username, ip: req.ip },
        });
      },
      (error, status) => render(req, reply, target, { error }, status),
    );
    return failed ?? render(req, reply, target, ran ? { ran } : {});
  };

  const saveFrom = async (req: FastifyRequest, owner: PolicyOwner) => {
    const f = form(req);
    return savePolicy(deps.db, owner, {
      keepLast: countField(f.get('keep_last'), 'Keep the newest'),
      keepPatterns: patternList(f.get('keep_patterns')),
      protectPatterns: patternList(f.get('protect_patterns')),
      removeUnpulledDays: countField(f.get('remove_unpulled_days'), 'Days without a pull'),
    });
  };
  /** Runs `fn`; a refusal shows the page again with its message. */
  const attempt = async (
    fn: () => Promise<void>,
    onError: (message: string, status: number) => Promise<FastifyReply>,
  ) => {
    try {
      await fn();
      return undefined;
    } catch (err) {
      const known = userError(err);
      if (!known) throw err;
      return onError(known.message, known.status);
    }
  };

  app.get('/r/:ns/:name/settings/storage', async (req, reply) => {
    const { repo } = await administeredRepo(req);
    return render(req, reply, { kind: 'repository', name: repo.fullName, id: repo.id });
  });
  app.post('/r/:ns/:name/settings/retention', async (req, reply) => {
    const { account, repo } = await administeredRepo(req);
    const target = { kind: 'repository' as const, name: repo.fullName, id: repo.id };
    const failed = await attempt(
      async () => {
        const p = await saveFrom(req, { repositoryId: repo.id });
        const ns = await findNamespace(deps.db, repo.namespace);
        await audit(deps.db, {
          accountId: account.id,
          action: 'retention.policy',
          namespaceId: ns?.id ?? null,
          target: repo.fullName,
          detail: {
            keep_last: p.keepLast,
            keep_patterns: p.keepPatterns,
            protect_patterns: p.protectPatterns,
            remove_unpulled_days: p.removeUnpulledDays,
            via: 'web',
          },
          ip: req.ip,
        });
      },
      (error, status) => render(req, reply, target, { error }, status),
    );
    return failed ?? reply.redirect(`${repoPath(repo.fullName)}/settings/storage`, 303);
  });
  app.post('/r/:ns/:name/settings/retention/run', async (req, reply) => {
    const { account, repo } = await administeredRepo(req);
    const target = { kind: 'repository' as const, name: repo.fullName, id: repo.id };
    return runNow(req, reply, account, target, { repository: repo.fullName });
  });

  app.post('/r/:ns/:name/settings/tags/delete', async (req, reply) => {
    const { account, repo } = await administeredRepo(req);
    const target = { kind: 'repository' as const, name: repo.fullName, id: repo.id };
    const tag = (form(req).get('tag') ?? '').trim();
    const failed = await attempt(
      async () => {
        try {
          await deleteManifest(
            registry(),
            repo.fullName,
            { kind: 'tag', tag },
            {
              actor: account.username,
              addr: req.ip,
              host: req.headers.host ?? '',
              method: 'DELETE',
              userAgent: req.headers['user-agent'] ?? '',
              id: String(req.id),
            },
          );
        } catch (err) {
          if (err instanceof RegistryError)
            throw new Refusal(err.code === 'MANIFEST_UNKNOWN' ? `no tag ${JSON.stringify(tag)}` : err.message);
          throw err;
        }
        const ns = await findNamespace(deps.db, repo.namespace);
        await audit(deps.db, {
          accountId: account.id,
          action: 'tag.delete',
          namespaceId: ns?.id ?? null,
          target: `${repo.fullName}:${tag}`,
          detail: { via: 'web' },
          ip: req.ip,
        });
      },
      (error, status) => render(req, reply, target, { error }, status),
    );
    return failed ?? reply.redirect(`${repoPath(repo.fullName)}/settings/storage`, 303);
  });

  app.get('/u/:name/storage', async (req, reply) => {
    const { ns } = await administeredNamespace(req);
    return render(req, reply, { kind: 'namespace', name: ns.name, id: ns.id });
  });
  app.post('/u/:name/storage/retention', async (req, reply) => {
    const { account, ns } = await administeredNamespace(req);
    const target = { kind: 'namespace' as const, name: ns.name, id: ns.id };
    const failed = await attempt(
      async () => {
        const p = await saveFrom(req, { namespaceId: ns.id });
        await audit(deps.db, {
          accountId: account.id,
          action: 'retention.policy',
          namespaceId: ns.id,
          target: ns.name,
          detail: {
            keep_last: p.keepLast,
            keep_patterns: p.keepPatterns,
            protect_patterns: p.protectPatterns,
            remove_unpulled_days: p.removeUnpulledDays,
            via: 'web',
          },
          ip: req.ip,
        });
      },
      (error, status) => render(req, reply, target, { error }, status),
    );
    return failed ?? reply.redirect(`/u/${ns.name}/storage`, 303);
  });
  app.post('/u/:name/storage/retention/run', async (req, reply) => {
    const { account, ns } = await administeredNamespace(req);
    const target = { kind: 'namespace' as const, name: ns.name, id: ns.id };
    return runNow(req, reply, account, target, { namespace: ns.name });
  });
}
