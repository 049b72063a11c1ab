import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Account } from '../../metadata/accounts.js';
import type { MetadataDb } from '../../metadata/db.js';
import type { StorageDriver } from '../../storage/driver.js';
import type { TokenAuthDeps } from '../auth.js';
import type { UiSession } from './sessions.js';

/** What the UI's pages work with. */
export interface UiDeps {
  db: MetadataDb;
  storage: StorageDriver;
  /** Password checks with the login throttle (the token endpoint's). */
  auth: TokenAuthDeps;
  /** Sessions cookies get `Secure` when the server speaks HTTPS. */
  secure: boolean;
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
