import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { resolveReadName } from '../metadata/repositories.js';
import { MediaType } from '../oci/mediatypes.js';
import { isValidRepositoryName } from '../oci/name.js';
import { deleteBlob, parseRange, prepareBlob, statBlob } from '../registry/blobs.js';
import type { EventRequest, RegistryContext } from '../registry/context.js';
import { fail } from '../registry/errors.js';
import { catalog, type Page, parsePageSize, referrers, tags } from '../registry/listing.js';
import {
  deleteManifest,
  getManifest,
  parseReadReference,
  parseReference,
  putManifestChecked,
} from '../registry/manifests.js';
import type { Uploads } from '../registry/uploads.js';
import type { Authorizer, Need, Principal } from './authorizer.js';
import { registryErrorHandler } from './errors.js';
import { setRouteLabel } from './metrics.js';

/**
 * The OCI Distribution API under /v2. One wildcard route and a small dispatcher, because
 * repository names contain slashes; raw request streams (no body parsing) and explicit HEAD
 * handlers that never read a blob.
 */
interface V2Request {
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

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Handler = (r: V2Request) => Promise<unknown>;

interface Route {
  label: string;
  pattern: RegExp;
  named: boolean;
  methods: Partial<Record<Method, Handler>>;
}

export interface V2Deps {
  ctx: RegistryContext;
  uploads: Uploads;
  authorizer: Authorizer;
}

/** The access a request needs: reads need pull, writes push and pull, deletes delete. */
function needOf(label: string, method: Method, name: string): Need {
  if (label === 'base') return { kind: 'base' };
  if (label === 'catalog') return { kind: 'catalog' };
  if (method === 'GET' || method === 'HEAD') return { kind: 'repository', name, actions: ['pull'] };
  if (method === 'DELETE' && label !== 'upload') return { kind: 'repository', name, actions: ['delete'] };
  return { kind: 'repository', name, actions: ['pull', 'push'] };
}

/** Who made a request, for registry events (webhooks, notifications). */
function eventRequest(r: V2Request): EventRequest {
  return {
    actor: r.principal.subject,
    addr: r.req.ip,
    host: r.req.headers.host ?? '',
    method: r.req.method,
    userAgent: r.req.headers['user-agent'] ?? '',
    id: String(r.req.id),
  };
}

export async function v2Routes(app: FastifyInstance, deps: V2Deps): Promise<void> {
  const { ctx, uploads, authorizer } = deps;

  // Bodies stay unread in request.raw: blob handlers stream them, manifest PUT reads with a limit.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  const uploadLocation = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;

  const sendUploadStatus = async (r: V2Request, id: string, status: number, size?: number) => {
    const bytes = size ?? (await uploads.size(id));
    r.reply
      .status(status)
      .header('Location', uploadLocation(r.name, id))
      .header('Range', `0-${Math.max(bytes - 1, 0)}`)
      .header('Docker-Upload-UUID', id)
      .header('Content-Length', '0')
      .send();
  };

  const sendBlobCreated = (r: V2Request, digest: string) => {
    r.reply
      .status(201)
      .header('Location', `/v2/${r.name}/blobs/${digest}`)
      .header('Docker-Content-Digest', digest)
      .header('Content-Length', '0')
      .send();
  };

  const sendPage = (r: V2Request, path: string, n: number | undefined, page: Page, body: object) => {
    if (page.next !== undefined) {
      const size = n ?? page.items.length;
      r.reply.header('Link', `<${path}?n=${size}&last=${encodeURIComponent(page.next)}>; rel="next"`);
    }
    r.reply.header('Content-Type', 'application/json').send(JSON.stringify(body));
  };

  const blobHead: Handler = async (r) => {
    const blob = await statBlob(ctx, r.name, r.param);
    r.reply
      .header('Content-Length', String(blob.size))
      .header('Content-Type', 'application/octet-stream')
      .header('Docker-Content-Digest', blob.digest)
      .header('ETag', `"${blob.digest}"`)
      .header('Accept-Ranges', 'bytes')
      .send();
  };

  const blobGet: Handler = async (r) => {
    const blob = await statBlob(ctx, r.name, r.param);
    r.reply
      .header('Docker-Content-Digest', blob.digest)
      .header('ETag', `"${blob.digest}"`)
      .header('Accept-Ranges', 'bytes')
      .header('Cache-Control', 'max-age=31536000')
      .header('Content-Type', 'application/octet-stream');
    if (r.req.headers['if-none-match'] === `"${blob.digest}"`) return r.reply.status(304).send();
    let range: ReturnType<typeof parseRange>;
    try {
      range = parseRange(r.req.headers.range, blob.size);
    } catch (err) {
      r.reply.header('Content-Range', `bytes */${blob.size}`);
      throw err;
    }
    const send = await prepareBlob(ctx, blob.digest);
    if (range) {
      r.reply
        .status(206)
        .header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`)
        .header('Content-Length', String(range.end - range.start + 1));
    } else {
      r.reply.header('Content-Length', String(blob.size));
    }
    // The bytes go straight to the socket, with reused buffers (see StorageDriver.sendTo).
    r.reply.hijack();
    const res = r.reply.raw;
    for (const [name, value] of Object.entries(r.reply.getHeaders()))
      if (value !== undefined) res.setHeader(name, value);
    res.writeHead(r.reply.statusCode);
    try {
      await send(res, range);
      res.end();
    } catch (err) {
      r.req.log.warn({ err }, 'blob download interrupted');
      res.destroy();
    }
  };

  const blobDelete: Handler = async (r) => {
    await deleteBlob(ctx, r.name, r.param);
    r.reply.status(202).header('Content-Length', '0').send();
  };

  const uploadStart: Handler = async (r) => {
    const mount = r.query.get('mount');
    const from = r.query.get('from');
    if (mount !== null && from !== null) {
      if (!isValidRepositoryName(from)) fail('NAME_INVALID', { detail: { name: from } });
      // A blob the caller may not read elsewhere is uploaded, never mounted: no existence leak.
      if ((await r.principal.canPull(from)) && (await uploads.mount(r.name, mount, from))) {
        return sendBlobCreated(r, mount);
      }
    }
    const digest = r.query.get('digest');
    const id = await uploads.start(r.name);
    if (digest !== null) {
      await uploads.finish(r.name, id, digest, r.req.raw);
      return sendBlobCreated(r, digest);
    }
    return sendUploadStatus(r, id, 202, 0);
  };

  const uploadStatus: Handler = async (r) => {
    await uploads.get(r.name, r.param);
    return sendUploadStatus(r, r.param, 204);
  };

  const uploadPatch: Handler = async (r) => {
    const header = r.req.headers['content-range'];
    let range: { start: number; end: number } | undefined;
    if (header !== undefined) {
      const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
      if (!m) fail('RANGE_INVALID', { detail: { contentRange: header } });
      range = { start: Number(m[1]), end: Number(m[2]) };
    }
    const lengthHeader = r.req.headers['content-length'];
    const size = await uploads.append(r.name, r.param, r.req.raw, {
      ...(range ? { range } : {}),
      ...(lengthHeader !== undefined ? { length: Number(lengthHeader) } : {}),
    });
    return sendUploadStatus(r, r.param, 202, size);
  };

  const uploadPut: Handler = async (r) => {
    const digest = r.query.get('digest') ?? undefined;
    const hasBody =
      r.req.headers['transfer-encoding'] !== undefined || Number(r.req.headers['content-length'] ?? 0) > 0;
    await uploads.finish(r.name, r.param, digest, hasBody ? r.req.raw : undefined);
    return sendBlobCreated(r, digest as string);
  };

  const uploadDelete: Handler = async (r) => {
    await uploads.cancel(r.name, r.param);
    r.reply.status(204).header('Content-Length', '0').send();
  };

  const manifestGet =
    (withBody: boolean): Handler =>
    async (r) => {
      const ref = parseReadReference(r.param);
      // A GET is a pull (events, pull counts); a HEAD only looks.
      const m = await getManifest(ctx, r.name, ref, withBody ? eventRequest(r) : undefined);
      if (ref.kind === 'tag') checkAccept(r.req.headers.accept, m.mediaType);
      r.reply
        .header('Content-Type', m.mediaType)
        .header('Content-Length', String(m.size))
        .header('Docker-Content-Digest', m.digest)
        .header('ETag', `"${m.digest}"`);
      if (r.req.headers['if-none-match'] === `"${m.digest}"`) return r.reply.status(304).send();
      return r.reply.send(withBody ? Buffer.from(m.content) : undefined);
    };

  const manifestPut: Handler = async (r) => {
    const ref = parseReference(r.param);
    const content = await readLimited(r.req, ctx.options.maxManifestSize);
    const result = await putManifestChecked(
      ctx,
      r.name,
      ref,
      content,
      r.req.headers['content-type'] ?? '',
      r.query.getAll('tag'),
      eventRequest(r),
    );
    r.reply
      .status(201)
      .header('Location', `/v2/${r.name}/manifests/${result.digest}`)
      .header('Docker-Content-Digest', result.digest)
      .header('Content-Length', '0');
    if (result.subject) r.reply.header('OCI-Subject', result.subject);
    if (ref.kind === 'digest' && result.tags.length > 0) r.reply.header('OCI-Tag', result.tags);
    return r.reply.send();
  };

  const manifestDelete: Handler = async (r) => {
    await deleteManifest(ctx, r.name, parseReference(r.param), eventRequest(r));
    r.reply.status(202).header('Content-Length', '0').send();
  };

  const routes: Route[] = [
    {
      label: 'base',
      pattern: /^$/,
      named: false,
      methods: {
        GET: async (r) => r.reply.header('Content-Type', 'application/json').send('{}'),
        HEAD: async (r) => r.reply.header('Content-Type', 'application/json').header('Content-Length', '2').send(),
      },
    },
    {
      label: 'catalog',
      pattern: /^_catalog$/,
      named: false,
      methods: {
        GET: async (r) => {
          const n = parsePageSize(r.query.get('n') ?? undefined);
          const page = await catalog(ctx, await r.principal.catalog(), n, r.query.get('last') ?? undefined);
          sendPage(r, '/v2/_catalog', n, page, { repositories: page.items });
        },
      },
    },
    {
      label: 'tags',
      pattern: /^(.+)\/tags\/list$/,
      named: true,
      methods: {
        GET: async (r) => {
          const n = parsePageSize(r.query.get('n') ?? undefined);
          const page = await tags(ctx, r.name, n, r.query.get('last') ?? undefined);
          sendPage(r, `/v2/${r.name}/tags/list`, n, page, { name: r.name, tags: page.items });
        },
      },
    },
    {
      label: 'manifest',
      pattern: /^(.+)\/manifests\/([^/]+)$/,
      named: true,
      methods: { GET: manifestGet(true), HEAD: manifestGet(false), PUT: manifestPut, DELETE: manifestDelete },
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
    {
      label: 'referrers',
      pattern: /^(.+)\/referrers\/([^/]+)$/,
      named: true,
      methods: {
        GET: async (r) => {
          const artifactType = r.query.get('artifactType') ?? undefined;
          const index = await referrers(ctx, r.name, r.param, artifactType);
          if (artifactType !== undefined) r.reply.header('OCI-Filters-Applied', 'artifactType');
          // A Buffer, so that fastify does not append a charset to the media type.
          r.reply.header('Content-Type', MediaType.ociIndex).send(Buffer.from(JSON.stringify(index)));
        },
      },
    },
  ];

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
      const principal = await authorizer.check(req, needOf(route.label, req.method as Method, name));
      // Reads of `x` may be served by an official `library/x` (access was checked on `x`).
      const reading = req.method === 'GET' || req.method === 'HEAD';
      const aliasable = route.named && reading && !name.includes('/');
      const target = aliasable ? ((await resolveReadName(ctx.db, name)) ?? name) : name;
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

/** OCI content is not served by tag to a client whose Accept header cannot take it (as Distribution does). */
function checkAccept(accept: string | undefined, mediaType: string): void {
  if (!accept) return;
  const accepted = accept.split(',').map((a) => a.split(';')[0]?.trim());
  if (accepted.includes(mediaType) || accepted.includes('*/*')) return;
  if (mediaType === MediaType.ociManifest) {
    fail('MANIFEST_UNKNOWN', { message: 'OCI manifest found, but accept header does not support OCI manifests' });
  }
  if (mediaType === MediaType.ociIndex) {
    fail('MANIFEST_UNKNOWN', { message: 'OCI index found, but accept header does not support OCI indexes' });
  }
}

/** Reads a request body of at most `limit` bytes; 413 as soon as it is longer. */
async function readLimited(req: FastifyRequest, limit: number): Promise<Buffer> {
  const tooLarge = () => fail('SIZE_INVALID', { status: 413, message: `manifest is larger than ${limit} bytes` });
  if (Number(req.headers['content-length'] ?? 0) > limit) tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req.raw) {
    total += (chunk as Buffer).length;
    if (total > limit) tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
