import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Account } from '../../metadata/accounts.js';
import type { MetadataDb } from '../../metadata/db.js';
import type { RegistryContext } from '../../registry/context.js';
import type { PullThroughCache } from '../../registry/proxy/cache.js';
import type { StorageDriver } from '../../storage/driver.js';
import type { TokenAuthDeps } from '../auth.js';
import type { Config } from '../config.js';
import type { UiSession } from './sessions.js';

/** What the UI's pages work with. */
export interface UiDeps {
  db: MetadataDb;
  storage: StorageDriver;
  /** Password checks with the login throttle (the token endpoint's). */
  auth: TokenAuthDeps;
  /** Sessions cookies get `Secure` when the server speaks HTTPS. */
  secure: boolean;
  /** Webhook targets on loopback or private addresses (config webhooks.allow_private_targets). */
  allowPrivateWebhooks: boolean;
  /** The registry, for retention runs (their tag deletes and events). */
  registry?: RegistryContext;
  /** The registry and configuration, for the garbage collection page (/admin/gc). */
  gc?: { registry: RegistryContext; config: Config };
  /** The pull-through cache, when configured: a cache repository's page names its origin. */
  proxy?: PullThroughCache | undefined;
}

/** The registry actions an account has on a repository name (the hub's permission callback). */
export const actionsOf = (deps: UiDeps) => (account: Account | undefined, name: string) =>
  deps.auth.policy.allowedActions(account, name);

/** A form the UI itself refuses (400, shown with its message). */
export class Refusal extends Error {}

/** Refusals of hub operations that a user can act on, shown with their message and status. */
export function userError(err: unknown): { status: number; message: string } | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { status?: unknown; kind?: unknown };
  if (err instanceof Refusal || err.name === 'WebhookError') return { status: 400, message: err.message };
  if (typeof e.status === 'number' && e.constructor.name === 'HubError')
    return { status: e.status, message: err.message };
  if (typeof e.kind === 'string' && e.constructor.name === 'HubError') {
    const status = { invalid: 400, not_found: 404, conflict: 409, denied: 403 }[e.kind] ?? 400;
    return { status, message: err.message };
  }
  return undefined;
}

/** Who is looking, resolved once per request by the UI's onRequest hook. */
export interface Viewer {
  account: Account | undefined;
  session: UiSession | undefined;
  /** The CSRF token forms must carry: the session's, or the anonymous double-submit cookie's. */
  csrf: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    viewer: Viewer;
  }
}

/** A page answered with 404 (unknown and forbidden look the same). */
export class NotFound extends Error {
  constructor() {
    super('not found');
  }
}

/** The signed-in account, or a redirect to the sign-in page. */
export function signedIn(req: FastifyRequest, reply: FastifyReply): Account | undefined {
  const { account } = req.viewer;
  if (!account) {
    reply.redirect(`/signin?next=${encodeURIComponent(req.url)}`, 303);
    return undefined;
  }
  return account;
}

/** Form fields of a POST (parsed by the UI's urlencoded parser). */
export function form(req: FastifyRequest): URLSearchParams {
  return req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
}

/** Renders a page template inside the layout, with who is looking. */
export async function page(
  req: FastifyRequest,
  reply: FastifyReply,
  template: string,
  data: Record<string, unknown>,
  status = 200,
): Promise<FastifyReply> {
  const { account, csrf } = req.viewer;
  const me = account ? { username: account.username, isAdmin: account.isAdmin } : undefined;
  const html = await reply.viewAsync(template, { ...data, me, csrf });
  return reply.code(status).type('text/html; charset=utf-8').send(html);
}
