import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidRepositoryName } from '../../oci/name.js';
import { fail } from '../../registry/errors.js';
import { resolveReadTarget } from '../../registry/manifests.js';
import type { Need } from '../authorizer.js';
import { registryErrorHandler } from '../errors.js';
import { setRouteLabel } from '../metrics.js';
import { blobHandlers } from './blobs.js';
import { listingHandlers } from './listings.js';
import { manifestHandlers } from './manifests.js';
import type { Handler, Method, V2Deps } from './request.js';
import { uploadHandlers } from './uploads.js';

export type { V2Deps } from './request.js';

/**
 * The OCI Distribution API under /v2. One wildcard route and this small dispatcher, because
 * repository names contain slashes; the handlers live one file per resource beside it. Raw request
 * streams (no body parsing) and explicit HEAD handlers that never read a blob.
 */
interface Route {
  label: string;
  pattern: RegExp;
  named: boolean;
  methods: Partial<Record<Method, Handler>>;
}

/** The access a request needs: reads need pull, writes push and pull, deletes delete. */
function needOf(label: string, method: Method, name: string): Need {
  if (label === 'base') return { kind: 'base' };
  if (label === 'catalog') return { kind: 'catalog' };
  if (method === 'GET' || method === 'HEAD') return { kind: 'repository', name, actions: ['pull'] };
  if (method === 'DELETE' && label !== 'upload') return { kind: 'repository', name, actions: ['delete'] };
  return { kind: 'repository', name, actions: ['pull', 'push'] };
}

/** The route table, in matching order (an upload path also matches the blob pattern: uploads come first). */
function routeTable(deps: V2Deps): Route[] {
  const { baseGet, baseHead, catalogGet, tagsGet, referrersGet } = listingHandlers(deps);
  const { manifestGet, manifestHead, manifestPut, manifestDelete } = manifestHandlers(deps);
  const { uploadStart, uploadStatus, uploadPatch, uploadPut, uploadDelete } = uploadHandlers(deps);
  const { blobGet, blobHead, blobDelete } = blobHandlers(deps);
  return [
    { label: 'base', pattern: /^$/, named: false, methods: { GET: baseGet, HEAD: baseHead } },
    { label: 'catalog', pattern: /^_catalog$/, named: false, methods: { GET: catalogGet } },
    { label: 'tags', pattern: /^(.+)\/tags\/list$/, named: true, methods: { GET: tagsGet } },
    {
      label: 'manifest',
      pattern: /^(.+)\/manifests\/([^/]+)$/,
      named: true,
      methods: { GET: manifestGet, HEAD: manifestHead, PUT: manifestPut, DELETE: manifestDelete },
    },
    { label: 'upload', pattern: /^(.+)\/blobs\/uploads\/?$/, named: true, methods: { POST: uploadStart } },
    {
      label: 'upload',
      pattern: /^(.+)\/blobs\/uploads\/([^/]+)$/,
      named: true,
      methods: { GET: uploadStatus, HEAD: uploadStatus, PATCH: uploadPatch, PUT: uploadPut, DELETE: uploadDelete },
    },
    {
      label: 'blob',
      pattern: /^(.+)\/blobs\/([^/]+)$/,
      named: true,
      methods: { GET: blobGet, HEAD: blobHead, DELETE: blobDelete },
    },
    { label: 'referrers', pattern: /^(.+)\/referrers\/([^/]+)$/, named: true, methods: { GET: referrersGet } },
  ];
}

export async function v2Routes(app: FastifyInstance, deps: V2Deps): Promise<void> {
  const { ctx, authorizer } = deps;

  // Bodies stay unread in request.raw: blob handlers stream them, manifest PUT reads with a limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  const routes = routeTable(deps);

  const dispatch = async (req: FastifyRequest, reply: FastifyReply) => {
    const url = req.raw.url ?? '/v2/';
    const q = url.indexOf('?');
    const rest = (q < 0 ? url : url.slice(0, q)).slice('/v2/'.length);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    for (const route of routes) {
      const m = route.pattern.exec(rest);
      if (!m) continue;
      setRouteLabel(req.raw, route.label);
      const handler = route.methods[req.method as Method];
      if (!handler) {
        reply.header('Allow', Object.keys(route.methods).join(', '));
        fail('UNSUPPORTED', { message: `method ${req.method} not allowed on this endpoint` });
      }
      const name = route.named ? decode(m[1] as string) : '';
      if (route.named && !isValidRepositoryName(name)) fail('NAME_INVALID', { detail: { name } });
      const reading = req.method === 'GET' || req.method === 'HEAD';
      if (!reading && deps.proxy?.isReadOnly(name)) {
        fail('UNSUPPORTED', { message: `${name} is a pull-through cache: it is read-only` });
      }
      const principal = await authorizer.check(req, needOf(route.label, req.method as Method, name));
      // Reads of `x` may be served by an official `library/x` (access was checked on `x`).
      const aliasable = route.named && reading && !name.includes('/');
      const target = aliasable ? await resolveReadTarget(ctx, name) : name;
      return handler({ req, reply, query, name: target, param: m[2] === undefined ? '' : decode(m[2]), principal });
    }
    setRouteLabel(req.raw, 'unknown');
    fail('UNSUPPORTED', { status: 404, message: 'no such endpoint in the registry API' });
  };

  const methods: Method[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
  app.route({ method: methods, url: '/v2', handler: (_req, reply) => reply.redirect('/v2/', 301) });
  app.route({ method: methods, url: '/v2/', handler: dispatch });
  app.route({ method: methods, url: '/v2/*', handler: dispatch });

  app.setErrorHandler(registryErrorHandler);
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
