// The admin page: plans and their assignment, official marks, accounts (disable, admin), and the
// whole audit log (/admin/audit).
// Only administrators see it; for everyone else it does not exist (404).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../../../hub/audit.js';
import { setOfficial } from '../../../hub/official.js';
import { assignPlan, listPlans, savePlan } from '../../../hub/plans.js';
import { listAccounts, updateAccount } from '../../../metadata/accounts.js';
import { auditPage } from '../audit.js';
import { form, NotFound, page, Refusal, type UiDeps, userError } from '../context.js';

export async function adminPages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  const admin = (req: FastifyRequest) => {
    const account = req.viewer.account;
    if (!account?.isAdmin) throw new NotFound();
    return account;
  };
  const show = async (req: FastifyRequest, reply: FastifyReply, error?: string, status = 200) => {
    admin(req);
    const namespaces = await deps.db
      .selectFrom('namespaces as n')
      .innerJoin('plans as p', 'p.id', 'n.plan_id')
      .select(['n.name', 'n.kind', 'p.name as plan'])
      .orderBy('n.name')
      .execute();
    return page(
      req,
      reply,
      'admin',
      { title: 'Admin', plans: await listPlans(deps.db), namespaces, accounts: await listAccounts(deps.db), error },
      status,
    );
  };
  /** Runs an admin change (audited with its target), then back to the page; refusals show their message. */
  const change = async (
    req: FastifyRequest,
    reply: FastifyReply,
    action: string,
    fn: (f: URLSearchParams) => Promise<{ target: string; detail: Record<string, unknown> }>,
  ) => {
    const account = admin(req);
    try {
      const { target, detail } = await fn(form(req));
      await audit(deps.db, { accountId: account.id, action, target, detail: { ...detail, via: 'web' }, ip: req.ip });
    } catch (err) {
      const known = userError(err);
      if (!known) throw err;
      return show(req, reply, known.message, known.status);
    }
    return reply.redirect('/admin', 303);
  };

  app.get('/admin', async (req, reply) => show(req, reply));
  app.get('/admin/audit', async (req, reply) => {
    admin(req);
    return page(req, reply, 'audit', {
      title: 'Audit log',
      back: { href: '/admin', label: 'Admin' },
      base: '/admin/audit',
      ...(await auditPage(deps.db, req)),
    });
  });
  app.post('/admin/plans', async (req, reply) =>
    change(req, reply, 'plan.save', async (f) => {
      const privateRepos = Number.parseInt(f.get('private_repos') ?? '', 10);
      if (!(privateRepos >= 0)) throw new Refusal('private repositories must be a number ≥ 0');
      const plan = await savePlan(deps.db, (f.get('name') ?? '').trim(), privateRepos);
      return { target: plan.name, detail: { plan: plan.name, privateRepos } };
    }),
  );
  app.post('/admin/assign', async (req, reply) =>
    change(req, reply, 'plan.assign', async (f) => {
      const namespace = (f.get('namespace') ?? '').trim();
      const plan = (f.get('plan') ?? '').trim();
      await assignPlan(deps.db, namespace, plan);
      return { target: namespace, detail: { namespace, plan } };
    }),
  );
  app.post('/admin/official', async (req, reply) =>
    change(req, reply, 'repository.official', async (f) => {
      const repository = (f.get('repository') ?? '').trim();
      const official = f.get('official') === 'on';
      if (!(await setOfficial(deps.db, repository, official)))
        throw new Refusal(`there is no repository ${repository}`);
      return { target: repository, detail: { repository, official } };
    }),
  );
  app.post('/admin/accounts', async (req, reply) =>
    change(req, reply, 'account.update', async (f) => {
      const username = (f.get('username') ?? '').trim();
      const what = f.get('change');
      const changes =
        what === 'disable'
          ? { disabled: true }
          : what === 'enable'
            ? { disabled: false }
            : what === 'admin'
              ? { isAdmin: true }
              : { isAdmin: false };
      if (username === admin(req).username && (changes.disabled === true || changes.isAdmin === false)) {
        throw new Refusal('you cannot disable or demote yourself');
      }
      if (!(await updateAccount(deps.db, username, changes))) throw new Refusal(`there is no account ${username}`);
      return { target: username, detail: { username, ...changes } };
    }),
  );
}
