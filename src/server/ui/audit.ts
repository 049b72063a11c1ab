// The audit log as the UI shows it: newest first, a page of entries at a time (?page=).
import type { FastifyRequest } from 'fastify';
import { listAudit } from '../../hub/audit.js';
import type { MetadataDb } from '../../metadata/db.js';

export const AUDIT_PAGE_SIZE = 50;

/** `key: value` pairs; the template escapes them like any other text. */
function details(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

/** One page of the log, all of it (administrators) or one namespace's entries (its owners). */
export async function auditPage(db: MetadataDb, req: FastifyRequest, namespaceId?: number) {
  const raw = (req.query as Record<string, unknown> | undefined)?.page;
  const current = typeof raw === 'string' && /^[1-9]\d{0,5}$/.test(raw) ? Number(raw) : 1;
  const { count, entries } = await listAudit(db, {
    ...(namespaceId === undefined ? {} : { namespaceId }),
    limit: AUDIT_PAGE_SIZE,
    offset: (current - 1) * AUDIT_PAGE_SIZE,
  });
  return {
    count,
    page: current,
    pages: Math.max(1, Math.ceil(count / AUDIT_PAGE_SIZE)),
    entries: entries.map((e) => ({
      at: e.at,
      who: e.username,
      action: e.action,
      target: e.target,
      details: details(e.detail),
      ip: e.ip,
    })),
  };
}
