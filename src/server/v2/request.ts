import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventRequest, RegistryContext } from '../../registry/context.js';
import type { PullThroughCache } from '../../registry/proxy/cache.js';
import type { Uploads } from '../../registry/uploads.js';
import type { Authorizer, Principal } from '../authorizer.js';

/** One /v2 request as the dispatcher hands it to a resource's handler. */
export interface V2Request {
  req: FastifyRequest;
  reply: FastifyReply;
  query: URLSearchParams;
  /** Repository name (validated), or '' for routes without one. */
  name: string;
  /** The second captured path part: reference, digest or upload id. */
  param: string;
  /** Who asks, as the authorizer let them in. */
  principal: Principal;
}

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Handler = (r: V2Request) => Promise<unknown>;

export interface V2Deps {
  ctx: RegistryContext;
  uploads: Uploads;
  authorizer: Authorizer;
  /** The pull-through cache, when proxy.remotes are configured. */
  proxy?: PullThroughCache | undefined;
}

/** Who made a request, for registry events (webhooks, notifications). */
export function eventRequest(r: V2Request): EventRequest {
  return {
    actor: r.principal.subject,
    addr: r.req.ip,
    host: r.req.headers.host ?? '',
    method: r.req.method,
    userAgent: r.req.headers['user-agent'] ?? '',
    id: String(r.req.id),
  };
}

/** The 201 that ends a blob upload (or a cross-repository mount). */
export function sendBlobCreated(r: V2Request, digest: string): void {
  r.reply
    .status(201)
    .header('Location', `/v2/${r.name}/blobs/${digest}`)
    .header('Docker-Content-Digest', digest)
    .header('Content-Length', '0')
    .send();
}
