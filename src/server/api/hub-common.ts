import type { FastifyRequest } from 'fastify';
import { type AuditEvent, audit } from '../../hub/audit.js';
import { HubError } from '../../hub/errors.js';
import { type ApiContext, apiFail, type Caller } from './plumbing.js';

// Helpers shared by H1's route modules (users, orgs, collaborators, tokens, plans, audit).

/** Turns a HubError into the API's error shape; anything else goes on to the error handler. */
export async function hub<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!(err instanceof HubError)) throw err;
    if (err.kind === 'not_found') apiFail(404, 'NOT_FOUND', err.message);
    if (err.kind === 'conflict') apiFail(409, 'CONFLICT', err.message);
    if (err.kind === 'denied') apiFail(403, 'DENIED', err.message);
    return apiFail(400, 'INVALID', err.message);
  }
}

/** The JSON body as an object ({} when absent). */
export function bodyOf(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  return b !== null && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

export function stringField(body: Record<string, unknown>, key: string, required: true): string;
export function stringField(body: Record<string, unknown>, key: string, required?: false): string | undefined;
export function stringField(body: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (required) apiFail(400, 'INVALID', `${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string') apiFail(400, 'INVALID', `${key} must be a string`);
  return v;
}

export const params = (req: FastifyRequest): Record<string, string> => req.params as Record<string, string>;

/** Records a caller's action in the audit log with the request's address. */
export function auditBy(
  ctx: ApiContext,
  req: FastifyRequest,
  caller: Caller,
  event: Omit<AuditEvent, 'accountId' | 'ip'>,
): Promise<void> {
  return audit(ctx.db, {
    ...event,
    accountId: caller.account.id,
    ip: req.ip,
    detail: { ...(event.detail ?? {}), via: caller.via },
  });
}
