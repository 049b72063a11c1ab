import type { FastifyRequest } from 'fastify';
import { MediaType } from '../../oci/mediatypes.js';
import { fail } from '../../registry/errors.js';
import {
  deleteManifest,
  getManifest,
  parseReadReference,
  parseReference,
  putManifestChecked,
} from '../../registry/manifests.js';
import { eventRequest, type Handler, type V2Deps } from './request.js';

/** GET, HEAD, PUT and DELETE of /v2/<name>/manifests/<reference>. */
export function manifestHandlers({ ctx, proxy }: V2Deps) {
  const manifestGet =
    (withBody: boolean): Handler =>
    async (r) => {
      const ref = parseReadReference(r.param);
      // A cache repository is filled (or its tag rechecked) from the remote first.
      if (proxy) await proxy.ensureManifest(r.name, ref);
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

  return { manifestGet: manifestGet(true), manifestHead: manifestGet(false), manifestPut, manifestDelete };
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
