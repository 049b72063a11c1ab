import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PlanLimitError } from '../metadata/namespaces.js';
import { isOutOfSpace, RegistryError, registryErrorOf } from '../registry/errors.js';

/**
 * A service the request needs (the metadata database, the object store) is unreachable: the 503
 * to answer on every surface (/v2, /api, /v1, the UI), else undefined. A retry later may work.
 */
export function unavailableError(err: unknown): RegistryError | undefined {
  const known = registryErrorOf(err);
  return known?.code === 'UNAVAILABLE' && known.status === 503 ? known : undefined;
}

/** Seconds a client is asked to wait before retrying a 503 of an unreachable service. */
export const UNAVAILABLE_RETRY_AFTER = '5';

function toRegistryError(err: unknown): RegistryError {
  const known = registryErrorOf(err);
  if (known) return known;
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new RegistryError('UNKNOWN', { status, message: (err as Error).message });
  }
  return new RegistryError('UNKNOWN');
}

/** The error handler of the registry's surfaces (/v2 and /token): the OCI error envelope. */
export function registryErrorHandler(err: FastifyError | unknown, req: FastifyRequest, reply: FastifyReply): void {
  const error = toRegistryError(err);
  // The request stream is destroyed once a handler has read it to the end (for await does that),
  // so only a closed socket means the client is gone: that is the client's doing, not an error.
  if (req.raw.socket?.destroyed) {
    req.log.debug({ err }, 'client went away');
    return;
  }
  if (error.status >= 500) req.log.error({ err }, 'request failed');
  // Answered as a 4xx so that clients show it, but it is the operator's problem.
  else if (isOutOfSpace(err)) req.log.error({ err }, 'storage is full');
  else if (err instanceof PlanLimitError) req.log.warn({ url: req.url, reason: err.message }, 'push refused');
  if (reply.sent) return;
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  reply.status(error.status).header('Content-Type', 'application/json').send(JSON.stringify(error.toJSON()));
}
