// The garbage collection page (/admin/gc): settings, the review queues' health (due, overdue,
// retried), failing items and the last runs; "Dry run" and "Run now" buttons. Administrators only.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { humanSize } from '../../../engine/units.js';
import { audit } from '../../../hub/audit.js';
import type { GcReport } from '../../../registry/gc.js';
import { gcReportJson, gcStatus, runGcNow } from '../../gc-status.js';
import { form, NotFound, page, type UiDeps } from '../context.js';

export async function gcPages(app: FastifyInstance, deps: UiDeps): Promise<void> {
  const gc = deps.gc;
  if (!gc) return;
  const admin = (req: FastifyRequest) => {
    const account = req.viewer.account;
    if (!account?.isAdmin) throw new NotFound();
    return account;
  };
  const show = async (req: FastifyRequest, reply: FastifyReply, report?: GcReport) =>
    page(req, reply, 'gc', {
      title: 'Garbage collection',
      status: await gcStatus(gc.registry, gc.config),
      report: report ? gcReportJson(report, 200) : undefined,
      size: humanSize,
    });

  app.get('/admin/gc', async (req, reply) => {
    admin(req);
    return show(req, reply);
  });
  app.post('/admin/gc', async (req, reply) => {
    const account = admin(req);
    const dryRun = form(req).get('dry_run') === 'true';
    const report = await runGcNow(gc.registry, gc.config, { dryRun, trigger: 'web' });
    if (!dryRun) {
      await audit(deps.db, {
        accountId: account.id,
        action: 'gc.run',
        target: `run ${report.runId}`,
        detail: {
          manifests: report.manifestsDeleted,
          blobs: report.blobsDeleted,
          bytes: report.bytesFreed,
          via: 'web',
        },
        ip: req.ip,
      });
    }
    return show(req, reply, report);
  });
}
