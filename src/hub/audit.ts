import { type MetadataDb, now } from '../metadata/db.js';

/** One security-relevant action, as callers describe it. */
export interface AuditEvent {
  /** Who did it; null or undefined for anonymous callers and the system. */
  accountId?: number | null;
  /** Dotted verb, e.g. `login`, `login.failed`, `token.create`, `repository.visibility`, `team.permission`. */
  action: string;
  /** The namespace concerned, so that organization owners see their organization's entries. */
  namespaceId?: number | null;
  /** What was acted on: `alice/app`, `org/team`, a token name… */
  target?: string;
  detail?: Record<string, unknown>;
  ip?: string;
}

export interface AuditEntry {
  id: number;
  at: string;
  accountId: number | null;
  username: string | null;
  action: string;
  namespaceId: number | null;
  target: string;
  detail: Record<string, unknown>;
  ip: string;
}

/**
 * Appends to the audit log. Never throws: a failure to record must not turn a successful
 * action into an error for the caller (the failure goes to stderr instead).
 */
export async function audit(db: MetadataDb, event: AuditEvent): Promise<void> {
  try {
    await db
      .insertInto('audit_log')
      .values({
        at: now(),
        account_id: event.accountId ?? null,
        action: event.action,
        namespace_id: event.namespaceId ?? null,
        target: event.target ?? '',
        detail: JSON.stringify(event.detail ?? {}),
        ip: event.ip ?? '',
      })
      .execute();
  } catch (err) {
    process.stderr.write(`audit: could not record ${event.action}: ${(err as Error).message}\n`);
  }
}

/** Newest first. `namespaceId` limits to one namespace (an organization's owners' view). */
export async function listAudit(
  db: MetadataDb,
  options: { namespaceId?: number; action?: string; limit: number; offset: number },
): Promise<{ count: number; entries: AuditEntry[] }> {
  let q = db.selectFrom('audit_log').leftJoin('accounts', 'accounts.id', 'audit_log.account_id');
  if (options.namespaceId !== undefined) q = q.where('audit_log.namespace_id', '=', options.namespaceId);
  if (options.action !== undefined) q = q.where('audit_log.action', 'like', `${options.action}%`);
  const total = await q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  const rows = await q
    .select([
      'audit_log.id',
      'audit_log.at',
      'audit_log.account_id',
      'accounts.username',
      'audit_log.action',
      'audit_log.namespace_id',
      'audit_log.target',
      'audit_log.detail',
      'audit_log.ip',
    ])
    .orderBy('audit_log.id', 'desc')
    .limit(options.limit)
    .offset(options.offset)
    .execute();
  return {
    count: Number(total.n),
    entries: rows.map((r) => ({
      id: r.id,
      at: r.at,
      accountId: r.account_id,
      username: r.username,
      action: r.action,
      namespaceId: r.namespace_id,
      target: r.target,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
      ip: r.ip,
    })),
  };
}
